"""Multi-layer perceptron, float or QKeras, for classification on high-level features."""

from __future__ import annotations

from collections.abc import Sequence

from hepfpga.errors import ConfigError
from hepfpga.models import register

#: Name of the Dense layer that produces the pre-softmax outputs (logits).
LOGITS_LAYER = "logits"
#: Name of the input quantizer of QKeras models.
INPUT_QUANTIZER = "input_quant"


def check_bits(option: str, bits: int, integer: int, signed: bool = True) -> None:
    """Raise ConfigError unless a fixed-point width `bits` with `integer` integer bits is usable."""
    if not isinstance(bits, int) or not 2 <= bits <= 32:
        raise ConfigError(f"{option}: bits must be an integer in [2, 32], got {bits!r}")
    limit = bits - 1 if signed else bits
    if not isinstance(integer, int) or not 0 <= integer <= limit:
        raise ConfigError(f"{option}: integer bits must be an integer in [0, {limit}] for {bits} bits, got {integer!r}")


def quantized_bits(bits: int, integer: int):
    """QKeras signed fixed-point quantizer with `alpha=1` (no learned scale), as hls4ml maps it exactly."""
    from qkeras import quantized_bits as qb

    return qb(bits, integer, alpha=1)


@register("mlp")
def mlp(
    n_inputs: int = 16,
    n_classes: int = 5,
    hidden: Sequence[int] = (64, 32, 32),
    activation: str = "relu",
    batch_norm: bool = False,
    softmax: bool = True,
    quantized: bool = False,
    weight_bits: int = 6,
    weight_integer: int = 0,
    activation_bits: int = 6,
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
    layer is named "logits"; softmax, if requested, is a separate "softmax" Activation layer.
    """
    import tensorflow as tf
    from tensorflow.keras import layers

    if not isinstance(n_inputs, int) or n_inputs < 1:
        raise ConfigError(f"n_inputs must be a positive integer, got {n_inputs!r}")
    if not isinstance(n_classes, int) or n_classes < 1:
        raise ConfigError(f"n_classes must be a positive integer, got {n_classes!r}")
    hidden = tuple(hidden)
    if not hidden or any(not isinstance(h, int) or h < 1 for h in hidden):
        raise ConfigError(f"hidden must be a non-empty list of positive layer widths, got {list(hidden)!r}")
    if quantized:
        if activation != "relu":
            raise ConfigError(f"activation: the QKeras MLP supports 'relu' (quantized_relu), got {activation!r}")
        check_bits("weight_bits/weight_integer", weight_bits, weight_integer)
        check_bits("activation_bits/activation_integer", activation_bits, activation_integer, signed=False)
        check_bits("input_bits/input_integer", input_bits, input_integer)

    x_in = layers.Input(shape=(n_inputs,), name="inputs")
    x = x_in
    if quantized:
        from qkeras import QActivation, QDense, quantized_relu

        x = QActivation(quantized_bits(input_bits, input_integer), name=INPUT_QUANTIZER)(x)
        wq = dict(
            kernel_quantizer=quantized_bits(weight_bits, weight_integer),
            bias_quantizer=quantized_bits(weight_bits, weight_integer),
            kernel_initializer="lecun_uniform",
        )
        for i, width in enumerate(hidden):
            x = QDense(width, name=f"dense_{i}", **wq)(x)
            if batch_norm:
                x = layers.BatchNormalization(name=f"bn_{i}")(x)
            x = QActivation(quantized_relu(activation_bits, activation_integer), name=f"relu_{i}")(x)
        x = QDense(n_classes, name=LOGITS_LAYER, **wq)(x)
    else:
        for i, width in enumerate(hidden):
            x = layers.Dense(width, name=f"dense_{i}", kernel_initializer="lecun_uniform")(x)
            if batch_norm:
                x = layers.BatchNormalization(name=f"bn_{i}")(x)
            x = layers.Activation(activation, name=f"{activation}_{i}")(x)
        x = layers.Dense(n_classes, name=LOGITS_LAYER, kernel_initializer="lecun_uniform")(x)
    if softmax:
        x = layers.Activation("softmax", name="softmax")(x)
    return tf.keras.Model(x_in, x, name=name)
