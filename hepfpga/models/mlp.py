"""Multi-layer perceptron, float or QKeras, for classification on high-level features."""

from __future__ import annotations

from collections.abc import Sequence

from hepfpga.errors import ConfigError
from hepfpga.models import register
from hepfpga.models.common import Layers, check_bits, check_positive, check_widths

#: Name of the Dense layer that produces the pre-softmax outputs (logits), in every classifier builder.
LOGITS_LAYER = "logits"
#: Name of the input quantizer of QKeras models.
INPUT_QUANTIZER = "input_quant"


def classifier_head(x, q: Layers, n_classes: int, softmax: bool, bits: int | None = None):
    """Logits Dense layer named "logits" (`bits`: its weight bits), then (optionally) a separate "softmax"
    Activation layer."""
    from tensorflow.keras import layers

    x = q.dense(n_classes, LOGITS_LAYER, bits=bits)(x)
    return layers.Activation("softmax", name="softmax")(x) if softmax else x


@register("mlp")
def mlp(
    n_inputs: int = 16,
    n_classes: int = 5,
    hidden: Sequence[int] = (64, 32, 32),
    activation: str = "relu",
    batch_norm: bool = False,
    softmax: bool = True,
    quantized: bool = False,
    weight_bits: int | Sequence[int] = 6,
    weight_integer: int = 0,
    activation_bits: int | Sequence[int] = 6,
    activation_integer: int = 0,
    input_bits: int = 16,
    input_integer: int = 5,
    name: str = "mlp",
):
    """Fully connected classifier: inputs (n_inputs,) -> logits (n_classes,) [-> softmax].

    Float form: Dense + activation per hidden layer. QKeras form (`quantized=True`): an input quantizer
    `quantized_bits(input_bits, input_integer)` (the firmware input type, ap_fixed<input_bits,
    input_integer+1>), QDense layers with `weight_bits`-bit weights and biases (`weight_integer`
    integer bits), and `quantized_relu(activation_bits, activation_integer)` activations. The last Dense
    layer is named "logits"; softmax, if requested, is a separate "softmax" Activation layer. Bits may be
    given per layer: `weight_bits` one per Dense layer (hidden layers, then the logits), `activation_bits`
    one per hidden layer.
    """
    import tensorflow as tf
    from tensorflow.keras import layers

    check_positive("n_inputs", n_inputs)
    check_positive("n_classes", n_classes)
    hidden = check_widths("hidden", hidden)
    w_bits = per_layer("weight_bits", weight_bits, len(hidden) + 1)
    a_bits = per_layer("activation_bits", activation_bits, len(hidden))
    q = Layers(quantized, max(w_bits), weight_integer, max(a_bits, default=6), activation_integer, input_bits,
               input_integer)
    if quantized:  # every layer's own width, checked as the QKeras form uses it
        for bits in w_bits:
            check_bits("weight_bits/weight_integer", bits, weight_integer)
        for bits in a_bits:
            check_bits("activation_bits/activation_integer", bits, activation_integer, signed=False)

    x_in = layers.Input(shape=(n_inputs,), name="inputs")
    x = q.input(x_in, INPUT_QUANTIZER)
    for i, width in enumerate(hidden):
        x = q.dense(width, f"dense_{i}", bits=w_bits[i])(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"bn_{i}")(x)
        x = q.activation(activation, f"{activation}_{i}", bits=a_bits[i])(x)
    return tf.keras.Model(x_in, classifier_head(x, q, n_classes, softmax, bits=w_bits[-1]), name=name)


def per_layer(option: str, bits, n_layers: int) -> tuple[int, ...]:
    """`bits` (one int, or one per layer) as a tuple of `n_layers` ints; ConfigError for a wrong count."""
    if isinstance(bits, int) and not isinstance(bits, bool):
        return (bits,) * n_layers
    bits = tuple(bits)
    if len(bits) != n_layers or any(not isinstance(b, int) or isinstance(b, bool) for b in bits):
        raise ConfigError(f"{option} must be one integer or a list of {n_layers} integers (one per layer), "
                          f"got {list(bits)!r}")
    return bits
