"""Graph message passing: a Keras layer and its hls4ml extension (parser, layer, templates, C++).

hls4ml 1.3.0 has no message-passing layer. `MessagePassing` is one interaction-network step on a fixed
number of nodes: an edge MLP on (receiver, sender) pairs, sum/mean/max of the incoming messages, and a
node update; edges join every pair, or each node to its k nearest neighbours in chosen coordinate
features. The HLS kernel is `nnet_message_passing.h` (io_parallel).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import tensorflow as tf

from hepfpga.errors import ConfigError
from hepfpga.extensions import hls
from hepfpga.extensions.exact import check_exact, parse_types
from hepfpga.fixed import exact_type, fixed_type, value_stats
from hepfpga.options import HEADROOM_BITS, TARGET_ERROR

HEADER = Path(__file__).with_name("nnet_message_passing.h")
#: Weights in the order the C++ function takes them: the edge layer's kernel split into the receiver's
#: and the sender's rows (n_feat, n_edge each) and its bias; the node layer's kernel split into the node's
#: and the aggregate's rows, and its bias.
WEIGHTS = ("we_self", "we_other", "be", "wn_x", "wn_a", "bn")
INTERNAL_TYPES = ("in", "accum", "half", "msg", "agg", "dist")
#: The types a bit-exact layer declares (`fixed_point`): input, aggregated messages, output (rounded to
#: nearest, ties to even, saturated); everything between is exact.
EXACT_KEYS = ("input", "agg", "result")
AGGREGATIONS = ("sum", "mean", "max")


@tf.keras.utils.register_keras_serializable(package="hepfpga")
class MessagePassing(tf.keras.layers.Layer):
    """Message passing over nodes (n_nodes, n_feat) -> (n_nodes, node_units).

    m_ij = relu([x_i, x_j] We + be) for each edge j -> i; a_i = sum/mean/max of m_ij over the incoming
    edges; h_i = relu([x_i, a_i] Wn + bn). Edges: all j != i, or with `k` the k nearest j by Euclidean
    distance over the features `coordinates` (first index, count) (ties: the lower index).
    `kernel_quantizer` (a QKeras quantizer string) quantizes all weights in the forward pass.
    With `fixed_point` (types for EXACT_KEYS) the forward pass is the firmware's arithmetic (input,
    aggregates and output rounded to those types, a mean as the sum times 1/degree truncated to 17
    fractional bits); hepfpga converts such a layer to exactly these types: firmware and Keras agree bit
    for bit.
    """

    def __init__(self, edge_units: int = 16, node_units: int = 16, aggregation: str = "sum", k: int | None = None,
                 coordinates: tuple[int, int] = (1, 2), kernel_quantizer: str | None = None,
                 fixed_point: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.fixed_point = dict(fixed_point) if fixed_point else None
        self.fixed_types = parse_types(self.fixed_point, EXACT_KEYS, f"MessagePassing {self.name}")
        if self.fixed_types and not kernel_quantizer:
            raise ConfigError(f"MessagePassing {self.name}: fixed_point needs a kernel_quantizer (quantized weights)")
        self.edge_units, self.node_units, self.aggregation = int(edge_units), int(node_units), aggregation
        self.k, self.coordinates, self.kernel_quantizer = (int(k) if k else None), tuple(coordinates), kernel_quantizer
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, got {aggregation!r}")
        self._quantizer = None
        if kernel_quantizer:
            from qkeras.quantizers import get_quantizer

            self._quantizer = get_quantizer(kernel_quantizer)

    def build(self, input_shape):
        f, h, o = int(input_shape[-1]), self.edge_units, self.node_units
        shapes = {"we_self": (f, h), "we_other": (f, h), "be": (h,), "wn_x": (f, o), "wn_a": (h, o), "bn": (o,)}
        for name, shape in shapes.items():
            init = "zeros" if name.startswith("b") else "glorot_uniform"
            setattr(self, name, self.add_weight(name=name, shape=shape, initializer=init))
        super().build(input_shape)

    def quantized_weights(self) -> dict[str, tf.Tensor]:
        q = self._quantizer
        return {name: (q(getattr(self, name)) if q is not None else getattr(self, name)) for name in WEIGHTS}

    def edge_mask(self, x):
        """(batch, receivers, senders) 1.0 where an edge j -> i exists."""
        n = x.shape[1]
        eye = tf.eye(n, dtype=x.dtype)
        if not self.k:
            return tf.ones_like(x[:, :, :1] * x[:, None, :, 0]) * (1.0 - eye)
        first, count = self.coordinates
        c = x[..., first:first + count]
        dist = tf.reduce_sum(tf.square(c[:, None, :, :] - c[:, :, None, :]), axis=-1)  # [b, i, j] = |c_j - c_i|^2
        nearest = tf.math.top_k(-(dist + eye * 1e30), k=self.k).indices  # ties: lower index first
        return tf.reduce_sum(tf.one_hot(nearest, n, dtype=x.dtype), axis=2)

    def parts(self, x):
        """Intermediate values (for precision choices): the two halves of the edge layer, messages,
        aggregates, squared distances and the output."""
        w = self.quantized_weights()
        own = tf.matmul(x, w["we_self"]) + w["be"]  # (batch, nodes, edge_units)
        other = tf.matmul(x, w["we_other"])
        messages = tf.nn.relu(own[:, :, None, :] + other[:, None, :, :])  # [b, i, j, h]: edge j -> i
        mask = self.edge_mask(x)[..., None]
        if self.aggregation == "max":
            agg = tf.reduce_max(messages * mask, axis=2)  # messages >= 0
        else:
            agg = tf.reduce_sum(messages * mask, axis=2)
            if self.aggregation == "mean":
                agg = agg / tf.reduce_sum(mask, axis=2)
        out = tf.nn.relu(tf.matmul(x, w["wn_x"]) + tf.matmul(agg, w["wn_a"]) + w["bn"])
        first, count = self.coordinates
        c = x[..., first:first + count]
        dist = tf.reduce_sum(tf.square(c[:, None, :, :] - c[:, :, None, :]), axis=-1)
        return {"half": tf.concat([own, other], -1), "msg": messages, "agg": agg, "dist": dist, "output": out}

    def degree(self, n_nodes: int) -> int:
        """Incoming edges per node."""
        return self.k or n_nodes - 1

    def exact_internal_types(self, n_nodes: int, n_feat: int) -> dict[str, str]:
        """The kernel's types for a `fixed_point` layer: the declared ones, an accumulator holding the edge
        and node layers' sums exactly (also the halves and messages), exact squared distances."""
        t, weight = self.fixed_types, hls.weight_type(self._quantizer)
        log2 = lambda n: math.ceil(math.log2(n + 1))  # noqa: E731
        fraction = max(t["input"].fraction + weight.fraction, t["agg"].fraction + weight.fraction,
                       2 * t["input"].fraction)
        message = t["input"].integer + weight.integer + log2(n_feat) + 1  # x_i We_i + be + x_j We_j
        integer = max(message + log2(n_nodes), t["agg"].integer + weight.integer + log2(self.edge_units + n_feat),
                      2 * t["input"].integer + log2(self.coordinates[1])) + 1
        check_exact(f"MessagePassing {self.name} accumulator", integer, fraction)
        check_exact(f"MessagePassing {self.name} mean", t["agg"].integer, fraction + 17)  # sum x 1/degree
        accum = exact_type(integer, fraction)
        dist = exact_type(2 * t["input"].integer + log2(self.coordinates[1]), 2 * t["input"].fraction, signed=False)
        return {"in": str(t["input"]), "accum": accum, "half": accum, "msg": accum, "agg": str(t["agg"]),
                "dist": dist, "result": str(t["result"])}

    def exact_output(self, x):
        """The output as the firmware computes it (layers with `fixed_point`), float64."""
        t = self.fixed_types
        w = {k: tf.cast(v, tf.float64) for k, v in self.quantized_weights().items()}
        x = t["input"].quantize(tf.cast(x, tf.float64))
        own = tf.matmul(x, w["we_self"]) + w["be"]
        messages = tf.nn.relu(own[:, :, None, :] + tf.matmul(x, w["we_other"])[:, None, :, :])
        mask = self.edge_mask(x)[..., None]
        if self.aggregation == "max":
            agg = tf.reduce_max(messages * mask, axis=2)
        else:
            agg = tf.reduce_sum(messages * mask, axis=2)
            if self.aggregation == "mean":  # times 1/degree as the kernel's ufixed<18,1> (truncated)
                agg = agg * (math.floor(2.0**17 / self.degree(int(x.shape[1]))) / 2.0**17)
        agg = t["agg"].quantize(agg)
        return t["result"].quantize(tf.nn.relu(tf.matmul(x, w["wn_x"]) + tf.matmul(agg, w["wn_a"]) + w["bn"]))

    def call(self, x):
        if self.fixed_types is not None:
            return tf.cast(self.exact_output(x), x.dtype)
        return self.parts(x)["output"]

    def get_config(self):
        return {**super().get_config(), "edge_units": self.edge_units, "node_units": self.node_units,
                "aggregation": self.aggregation, "k": self.k, "coordinates": list(self.coordinates),
                "kernel_quantizer": self.kernel_quantizer, "fixed_point": self.fixed_point}


def parse_message_passing(keras_layer, input_names, input_shapes, data_reader):
    """hls4ml Keras-2 handler: the layer dict and output shape of a `MessagePassing` layer."""
    from hls4ml.converters.keras_v2_to_hls import parse_default_keras_layer

    layer = parse_default_keras_layer(keras_layer, input_names)
    config = keras_layer["config"]
    layer["n_nodes"], layer["n_feat"] = int(input_shapes[0][1]), int(input_shapes[0][2])
    layer["n_edge"], layer["n_out"] = int(config["edge_units"]), int(config["node_units"])
    layer["k"] = int(config["k"] or 0)
    layer["coord_first"], layer["n_coord"] = (int(v) for v in config["coordinates"])
    layer["aggr"] = AGGREGATIONS.index(config["aggregation"])
    hls.quantized_weight_data(keras_layer, data_reader, layer, WEIGHTS)
    return layer, [input_shapes[0][0], layer["n_nodes"], layer["n_out"]]


def _layer_class():
    return hls.layer_class("HMessagePassing", WEIGHTS, INTERNAL_TYPES,
                           lambda node: [node.get_attr("n_nodes"), node.get_attr("n_out")])


CONFIG_TEMPLATE = """struct config{index} : nnet::message_passing_config {{
    static const unsigned n_nodes = {n_nodes};
    static const unsigned n_feat = {n_feat};
    static const unsigned n_edge = {n_edge};
    static const unsigned n_out = {n_out};
    static const unsigned k = {k};
    static const unsigned coord_first = {coord_first};
    static const unsigned n_coord = {n_coord};
    static const unsigned aggr = {aggr};
    static const unsigned reuse_factor = {reuse};
{types}
}};\n"""

FUNCTION_TEMPLATE = "nnet::message_passing<{input_t}, {output_t}, {config}>({input}, {output}, {weights});"


def _templates(layer_class):
    return hls.templates(layer_class, CONFIG_TEMPLATE, FUNCTION_TEMPLATE, HEADER, WEIGHTS, INTERNAL_TYPES)


def message_passing_precisions(layer, entry: dict, x: np.ndarray, target_error: float = TARGET_ERROR,
                               headroom_bits: int = HEADROOM_BITS) -> dict:
    """Types of a `MessagePassing` layer from its intermediate values on calibration inputs `x` (nodes,
    features): edge-layer halves, messages, aggregates, result; squared distances kept exact for the
    neighbour choice (twice the input's fractional bits); the accumulator holds the widest plus log2 of
    the longest sum; weights from their quantizer or values."""
    prec = entry.setdefault("Precision", {})
    if getattr(layer, "fixed_types", None):  # bit-exact form: the layer's own types
        prec.update(hls.custom_weight_types(layer, WEIGHTS, target_error))
        prec.update(layer.exact_internal_types(int(x.shape[-2]), int(x.shape[-1])))
        return prec
    parts = {k: np.asarray(v) for k, v in layer.parts(np.asarray(x, np.float32)).items()}
    types = {key: fixed_type(*value_stats(parts[key if key != "result" else "output"]), target_error / 4, headroom_bits)
             for key in ("half", "msg", "agg", "result")}
    for key, (t, _, _) in types.items():
        prec[key] = t
    prec["result"] = fixed_type(*value_stats(parts["output"]), target_error, headroom_bits)[0]
    nodes, features = int(x.shape[-2]), int(x.shape[-1])
    extra = math.ceil(math.log2(max(nodes, features + layer.edge_units)))
    integer = max(i for _, i, _ in types.values()) + extra
    fraction = max(f for _, _, f in types.values()) + extra
    prec["accum"] = f"fixed<{integer + fraction},{integer}>"
    _, _, input_fraction = fixed_type(*value_stats(x), target_error, headroom_bits)
    dist_integer = max(1, math.ceil(math.log2(float(parts["dist"].max()) + 1)) + 1 + headroom_bits)
    prec["dist"] = f"ufixed<{dist_integer + 2 * input_fraction + 2},{dist_integer},RND,SAT>"
    prec.update(hls.custom_weight_types(layer, WEIGHTS, target_error))
    return prec
