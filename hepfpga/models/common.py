"""Layer factory shared by the builders: the same layer names in float and QKeras form.

`Layers(quantized=...)` hands out Dense/Conv/activation layers either as plain Keras or as QKeras with
`alpha=1` quantizers (which hls4ml maps exactly). Because names match, `hepfpga.compress.quantize`
can start a QKeras model from the float model's weights.
"""

from __future__ import annotations

from hepfpga.errors import ConfigError


def check_bits(option: str, bits: int, integer: int, signed: bool = True) -> None:
    """Raise ConfigError unless a fixed-point width `bits` with `integer` integer bits is usable."""
    if not isinstance(bits, int) or not 2 <= bits <= 32:
        raise ConfigError(f"{option}: bits must be an integer in [2, 32], got {bits!r}")
    limit = bits - 1 if signed else bits
    if not isinstance(integer, int) or not 0 <= integer <= limit:
        raise ConfigError(f"{option}: integer bits must be an integer in [0, {limit}] for {bits} bits, got {integer!r}")


def check_positive(option: str, value) -> None:
    """Raise ConfigError unless `value` is a positive integer."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{option} must be a positive integer, got {value!r}")


def check_widths(option: str, widths) -> tuple[int, ...]:
    """Return `widths` as a tuple after checking it is a non-empty list of positive integers."""
    widths = tuple(widths)
    if not widths or any(not isinstance(w, int) or w < 1 for w in widths):
        raise ConfigError(f"{option} must be a non-empty list of positive layer widths, got {list(widths)!r}")
    return widths


def quantized_bits(bits: int, integer: int):
    """QKeras signed fixed-point quantizer with `alpha=1` (no learned scale), as hls4ml maps it exactly."""
    from qkeras import quantized_bits as qb

    return qb(bits, integer, alpha=1)


def fixed_weighted_sum(x, weight: float, name: str):
    """weight * sum of `x` over its last axis, shape (N, 1), as a Dense(1) with fixed weights (no bias,
    not trained): a reduction hls4ml converts. `weight` is exact in fixed point when it is a power of two."""
    import numpy as np
    from tensorflow.keras import layers

    dense = layers.Dense(1, use_bias=False, trainable=False, name=name)
    out = dense(x)
    dense.set_weights([np.full((int(x.shape[-1]), 1), weight, np.float32)])
    return out


class Layers:
    """Float or QKeras layers with given bit widths; checks the widths once."""

    def __init__(self, quantized: bool = False, weight_bits: int = 6, weight_integer: int = 0,
                 activation_bits: int = 6, activation_integer: int = 0, input_bits: int = 16,
                 input_integer: int = 5):
        self.quantized = quantized
        if quantized:
            check_bits("weight_bits/weight_integer", weight_bits, weight_integer)
            check_bits("activation_bits/activation_integer", activation_bits, activation_integer, signed=False)
            check_bits("input_bits/input_integer", input_bits, input_integer)
        self.w = (weight_bits, weight_integer)
        self.a = (activation_bits, activation_integer)
        self.i = (input_bits, input_integer)

    def _wq(self, bits: int | None = None) -> dict:
        w = (bits, self.w[1]) if bits else self.w
        return dict(kernel_quantizer=quantized_bits(*w), bias_quantizer=quantized_bits(*w))

    def input(self, x, name: str = "input_quant"):
        """The firmware input type: a QKeras quantizer in quantized form, nothing in float form."""
        if not self.quantized:
            return x
        from qkeras import QActivation

        return QActivation(quantized_bits(*self.i), name=name)(x)

    def dense(self, units: int, name: str, use_bias: bool = True, bits: int | None = None):
        """A Dense layer; `bits` overrides the weight bits of this layer (QKeras form)."""
        from tensorflow.keras import layers

        if self.quantized:
            from qkeras import QDense

            wq = self._wq(bits) if use_bias else {"kernel_quantizer": self._wq(bits)["kernel_quantizer"]}
            return QDense(units, name=name, use_bias=use_bias, kernel_initializer="lecun_uniform", **wq)
        return layers.Dense(units, name=name, use_bias=use_bias, kernel_initializer="lecun_uniform")

    def conv(self, dims: int, filters: int, kernel_size, name: str, padding: str = "valid"):
        from tensorflow.keras import layers

        if self.quantized:
            from qkeras import QConv1D, QConv2D

            cls = QConv1D if dims == 1 else QConv2D
            return cls(filters, kernel_size, padding=padding, name=name, kernel_initializer="lecun_uniform",
                       **self._wq())
        cls = layers.Conv1D if dims == 1 else layers.Conv2D
        return cls(filters, kernel_size, padding=padding, name=name, kernel_initializer="lecun_uniform")

    def activation(self, kind: str, name: str, bits: int | None = None):
        """A hidden-layer activation: any Keras name in float form, quantized_relu in QKeras form (`bits`
        overrides the activation bits of this layer)."""
        from tensorflow.keras import layers

        if self.quantized:
            if kind != "relu":
                raise ConfigError(f"activation: the QKeras form supports 'relu' (quantized_relu), got {kind!r}")
            from qkeras import QActivation, quantized_relu

            return QActivation(quantized_relu(bits or self.a[0], self.a[1]), name=name)
        return layers.Activation(kind, name=name)
