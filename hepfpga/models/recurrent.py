"""LSTM / GRU classifier for sequences of particles or tracks."""

from __future__ import annotations

from collections.abc import Sequence

from hepfpga.errors import ConfigError
from hepfpga.models import register
from hepfpga.models.common import Layers, check_positive, check_widths, quantized_bits
from hepfpga.models.mlp import classifier_head

#: Name of the recurrent layer (the same in float and QKeras form, so QAT starts from float weights).
RNN_LAYER = "rnn"


@register("rnn")
def rnn(
    n_steps: int = 16,
    n_features: int = 3,
    n_classes: int = 5,
    cell: str = "lstm",
    units: int = 16,
    dense: Sequence[int] = (16,),
    softmax: bool = True,
    quantized: bool = False,
    weight_bits: int = 8,
    weight_integer: int = 0,
    activation_bits: int = 8,
    activation_integer: int = 2,
    input_bits: int = 16,
    input_integer: int = 5,
    name: str = "rnn",
):
    """LSTM or GRU (`cell`) over inputs (n_steps, n_features), last state (units,) -> MLP -> logits.

    The QKeras form quantizes the kernel, recurrent kernel and bias (QLSTM/QGRU) and keeps the float
    tanh/sigmoid, which hls4ml evaluates from lookup tables.
    """
    import tensorflow as tf
    from tensorflow.keras import layers

    for option, value in (("n_steps", n_steps), ("n_features", n_features), ("n_classes", n_classes), ("units", units)):
        check_positive(option, value)
    if cell not in ("lstm", "gru"):
        raise ConfigError(f"cell must be 'lstm' or 'gru', got {cell!r}")
    dense = check_widths("dense", dense) if dense else ()
    q = Layers(quantized, weight_bits, weight_integer, activation_bits, activation_integer, input_bits, input_integer)

    x_in = layers.Input(shape=(n_steps, n_features), name="inputs")
    # No input quantizer: hls4ml's LSTM needs its input, state and accumulator types to be one type
    # (see hepfpga.convert.rules.align_lstm_types), which conversion sets from calibration data.
    x = x_in
    common = dict(name=RNN_LAYER, kernel_initializer="lecun_uniform", activation="tanh", recurrent_activation="sigmoid")
    if cell == "gru":
        common["reset_after"] = True  # Keras' default, and the order hls4ml's nnet::gru computes
    if quantized:
        _qkeras_recurrent_compat()
        from qkeras import QGRU, QLSTM

        wq = quantized_bits(weight_bits, weight_integer)
        x = (QLSTM if cell == "lstm" else QGRU)(units, kernel_quantizer=wq, recurrent_quantizer=wq,
                                               bias_quantizer=wq, **common)(x)
    else:
        x = (layers.LSTM if cell == "lstm" else layers.GRU)(units, **common)(x)
    for i, width in enumerate(dense):
        x = q.dense(width, f"dense_{i}")(x)
        x = q.activation("relu", f"relu_{i}")(x)
    return tf.keras.Model(x_in, classifier_head(x, q, n_classes, softmax), name=name)


def _qkeras_recurrent_compat() -> None:
    """QKeras 0.9.0's QLSTM/QGRU cells call `nest.is_sequence` and `array_ops.unstack`, which TensorFlow
    2.14 has as `nest.is_nested` and `array_ops_stack.unstack` (same functions, moved). Without these
    aliases a QLSTM/QGRU fails on its first call."""
    from tensorflow.python.ops import array_ops, array_ops_stack
    from tensorflow.python.util import nest

    if not hasattr(nest, "is_sequence"):
        nest.is_sequence = nest.is_nested
    if not hasattr(array_ops, "unstack"):  # moved to array_ops_stack; QGRU (reset_after) calls it
        array_ops.unstack = array_ops_stack.unstack
