"""Graph networks: hls4ml's GarNet, and an interaction network built from convertible layers.

GarNet (hls4ml.contrib.garnet, simplified form) has its own hls4ml converter and HLS kernel: hits pass
information through a few learned aggregators, weighted by exp(-distance^2).

Interaction network (message passing on a fully connected particle graph):

hls4ml 1.3.0 has no message-passing layer, but on a fixed, fully connected graph of N nodes every step
is a fixed linear map or a shared MLP, which it does convert:

- gather: node features (N, F) -> sender and receiver features of the E = N(N-1) directed edges, each a
  kernel-size-1 convolution over the transposed features with a fixed one-hot (N, E) kernel;
- edge MLP: shared over edges, kernel-size-1 convolutions on (E, 2F);
- aggregate: sum of the messages arriving at each node, a fixed one-hot (E, N) kernel;
- node MLP on (N, F + H), mean over nodes, classifier head.

The fixed kernels are not trained (0/1 values, exact in any fixed-point type). This computes exactly an
interaction network with sum aggregation on the complete graph.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hepfpga.errors import ConfigError
from hepfpga.models import register
from hepfpga.models.common import Layers, check_bits, check_positive, check_widths
from hepfpga.models.mlp import INPUT_QUANTIZER, classifier_head

#: Largest graph: E = N(N-1) edges grow quadratically, and every edge is a parallel MLP in firmware.
MAX_NODES = 16


def edge_matrices(n: int) -> tuple[np.ndarray, np.ndarray]:
    """One-hot (N, E) sender and receiver matrices of the complete directed graph without self-loops."""
    pairs = [(s, r) for r in range(n) for s in range(n) if s != r]
    send, receive = np.zeros((n, len(pairs)), np.float32), np.zeros((n, len(pairs)), np.float32)
    for e, (s, r) in enumerate(pairs):
        send[s, e] = receive[r, e] = 1.0
    return send, receive


def _fixed_map(x, matrix: np.ndarray, name: str, quantized: bool):
    """x (A, B) -> (A, C): x @ matrix (B, C) with a fixed 0/1 matrix, as a transposed 1x1 convolution."""
    from tensorflow.keras import layers

    if quantized:
        from qkeras import QConv1D

        from hepfpga.models.common import quantized_bits

        conv = QConv1D(matrix.shape[1], 1, use_bias=False, trainable=False, name=name, kernel_initializer="zeros",
                       kernel_quantizer=quantized_bits(2, 1))  # holds 0 and 1 exactly
    else:
        conv = layers.Conv1D(matrix.shape[1], 1, use_bias=False, trainable=False, name=name, kernel_initializer="zeros")
    out = layers.Permute((2, 1), name=f"{name}_out")(conv(layers.Permute((2, 1), name=f"{name}_in")(x)))
    conv.set_weights([matrix[None]])
    return out


@register("interaction_network")
def interaction_network(
    n_particles: int = 8,
    n_features: int = 3,
    n_classes: int = 5,
    edge: Sequence[int] = (16, 16),
    node: Sequence[int] = (16,),
    head: Sequence[int] = (16,),
    softmax: bool = True,
    quantized: bool = False,
    weight_bits: int = 8,
    weight_integer: int = 0,
    activation_bits: int = 8,
    activation_integer: int = 2,
    input_bits: int = 16,
    input_integer: int = 5,
    name: str = "interaction_network",
):
    """Interaction network on the complete graph of `n_particles` nodes with `n_features` each: edge
    MLP on (sender, receiver) pairs, sum of incoming messages, node MLP, mean over nodes, MLP -> logits.

    The output does not depend on the order of the particles.
    """
    import tensorflow as tf
    from tensorflow.keras import layers

    for option, value in (("n_features", n_features), ("n_classes", n_classes)):
        check_positive(option, value)
    if not isinstance(n_particles, int) or not 2 <= n_particles <= MAX_NODES:
        raise ConfigError(f"n_particles must be an integer in [2, {MAX_NODES}] (edges grow as N(N-1)), "
                          f"got {n_particles!r}")
    edge, node = check_widths("edge", edge), check_widths("node", node)
    head = check_widths("head", head) if head else ()
    q = Layers(quantized, weight_bits, weight_integer, activation_bits, activation_integer, input_bits, input_integer)

    x_in = layers.Input(shape=(n_particles, n_features), name="inputs")
    x = q.input(x_in, INPUT_QUANTIZER)
    send, receive = edge_matrices(n_particles)
    pairs = layers.Concatenate(name="edge_inputs")([_fixed_map(x, send, "senders", quantized),
                                                   _fixed_map(x, receive, "receivers", quantized)])
    for i, width in enumerate(edge):
        pairs = q.conv(1, width, 1, f"edge_{i}")(pairs)
        pairs = q.activation("relu", f"edge_relu_{i}")(pairs)
    incoming = _fixed_map(pairs, receive.T.copy(), "aggregate", quantized)  # (N, H): sum over edges into each node
    nodes = layers.Concatenate(name="node_inputs")([x, incoming])
    for i, width in enumerate(node):
        nodes = q.conv(1, width, 1, f"node_{i}")(nodes)
        nodes = q.activation("relu", f"node_relu_{i}")(nodes)
    out = layers.GlobalAveragePooling1D(name="pool")(nodes)
    for i, width in enumerate(head):
        out = q.dense(width, f"head_{i}")(out)
        out = q.activation("relu", f"head_relu_{i}")(out)
    return tf.keras.Model(x_in, classifier_head(out, q, n_classes, softmax), name=name)


#: Name of the GarNet layer and of the model's two inputs.
GARNET_LAYER, HITS_INPUT, COUNT_INPUT = "garnet", "hits", "n_hits"


@register("garnet")
def garnet(
    n_hits: int = 16,
    n_features: int = 3,
    n_classes: int = 5,
    aggregators: int = 4,
    filters: int = 16,
    propagate: int = 8,
    dense: Sequence[int] = (16,),
    softmax: bool = True,
    quantized: bool = False,
    weight_bits: int = 8,
    weight_integer: int = 0,
    activation_bits: int = 8,
    activation_integer: int = 2,
    input_bits: int = 16,
    input_integer: int = 5,
    name: str = "garnet",
):
    """hls4ml's GarNet (simplified, mean over hits) on inputs hits (n_hits, n_features) and the number of
    valid hits (1,) (uint16; hits beyond it are ignored) -> MLP -> logits.

    The QKeras form quantizes the MLP and head; the GarNet layer keeps float weights, which conversion
    gives calibrated fixed-point types (hls4ml's quantized GarNet option expects ternary weights).
    """
    import tensorflow as tf
    from hls4ml.contrib.garnet import GarNet
    from tensorflow.keras import layers

    for option, value in (("n_hits", n_hits), ("n_features", n_features), ("n_classes", n_classes),
                          ("aggregators", aggregators), ("filters", filters), ("propagate", propagate)):
        check_positive(option, value)
    dense = check_widths("dense", dense) if dense else ()
    q = Layers(quantized, weight_bits, weight_integer, activation_bits, activation_integer, input_bits, input_integer)

    hits = layers.Input(shape=(n_hits, n_features), name=HITS_INPUT)
    count = layers.Input(shape=(1,), dtype="uint16", name=COUNT_INPUT)
    x = GarNet(aggregators, filters, propagate, simplified=True, collapse="mean", input_format="xn",
               output_activation=None, name=GARNET_LAYER, quantize_transforms=False)([hits, count])
    for i, width in enumerate(dense):
        x = q.dense(width, f"dense_{i}")(x)
        x = q.activation("relu", f"relu_{i}")(x)
    return tf.keras.Model([hits, count], classifier_head(x, q, n_classes, softmax), name=name)


@register("gnn")
def gnn(
    n_particles: int = 16,
    n_features: int = 3,
    n_classes: int = 5,
    blocks: Sequence[int] = (16,),
    edge_units: int = 16,
    k: int | None = 4,
    coordinates: Sequence[int] = (1, 2),
    aggregation: str = "mean",
    head: Sequence[int] = (16,),
    softmax: bool = True,
    quantized: bool = False,
    weight_bits: int = 8,
    weight_integer: int = 0,
    activation_bits: int = 8,
    activation_integer: int = 2,
    input_bits: int = 16,
    input_integer: int = 5,
    internal_bits: int = 16,
    internal_integer: int = 6,
    name: str = "gnn",
):
    """Graph network of hepfpga's `MessagePassing` layers (one per entry of `blocks`, its node width):
    edges to the `k` nearest particles in the features `coordinates` (first index, count; default
    (delta-eta, delta-phi)), or all pairs with k=None; `aggregation` sum/mean/max; mean over particles
    -> MLP -> logits. The QKeras form quantizes every weight, and its message passing computes in fixed
    point as the firmware does (input, aggregates and node outputs rounded to fixed<internal_bits,
    internal_integer>, hls4ml's notation), so firmware and Keras agree bit for bit.
    """
    import tensorflow as tf
    from tensorflow.keras import layers

    from hepfpga.extensions import MAX_NODES
    from hepfpga.extensions.message_passing import AGGREGATIONS, MessagePassing

    for option, value in (("n_features", n_features), ("n_classes", n_classes), ("edge_units", edge_units)):
        check_positive(option, value)
    if not isinstance(n_particles, int) or not 2 <= n_particles <= MAX_NODES:
        raise ConfigError(f"n_particles must be an integer in [2, {MAX_NODES}], got {n_particles!r}")
    if k is not None and (not isinstance(k, int) or not 1 <= k < n_particles):
        raise ConfigError(f"k must be None (all pairs) or an integer in [1, {n_particles - 1}], got {k!r}")
    if aggregation not in AGGREGATIONS:
        raise ConfigError(f"aggregation must be one of {', '.join(AGGREGATIONS)}, got {aggregation!r}")
    first, count = coordinates
    if first < 0 or count < 1 or first + count > n_features:
        raise ConfigError(f"coordinates (first, count) = {tuple(coordinates)} must select among {n_features} features")
    blocks, head = check_widths("blocks", blocks), (check_widths("head", head) if head else ())
    q = Layers(quantized, weight_bits, weight_integer, activation_bits, activation_integer, input_bits, input_integer)
    quantizer = f"quantized_bits({weight_bits},{weight_integer},alpha=1)" if quantized else None
    types = None
    if quantized:
        check_bits("internal_bits/internal_integer", internal_bits, internal_integer - 1)
        types = dict.fromkeys(("input", "agg", "result"), f"fixed<{internal_bits},{internal_integer}>")

    x_in = layers.Input(shape=(n_particles, n_features), name="inputs")
    x = q.input(x_in, INPUT_QUANTIZER)
    for b, width in enumerate(blocks):
        # Neighbours from the input coordinates in the first block; later blocks use all pairs of their
        # learned features only if k is None, else the same k nearest in their first `count` features.
        x = MessagePassing(edge_units, width, aggregation, k, (first, count) if b == 0 else (0, count),
                           kernel_quantizer=quantizer, fixed_point=types, name=f"message_passing_{b}")(x)
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    for i, width in enumerate(head):
        x = q.dense(width, f"head_{i}")(x)
        x = q.activation("relu", f"head_relu_{i}")(x)
    return tf.keras.Model(x_in, classifier_head(x, q, n_classes, softmax), name=name)
