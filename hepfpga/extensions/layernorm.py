"""Layer normalisation for any variance: hls4ml's Keras LayerNormalization handler, with a wider kernel.

hls4ml 1.3.0 converts LayerNormalization (nnet_layernorm.h), but its 1/sqrt(var) table covers variances
up to 1 only (`table_range_power2` is unsigned), so a Transformer's residual sums (variances of 10-100)
saturate. hepfpga keeps hls4ml's parser and replaces the kernel with `nnet_layernorm_wide.h`, which
normalises the variance by powers of 4 before its table look-up. `QLayerNormalization` is the bit-exact
(QKeras-style) form: its Keras forward pass is the kernel's fixed-point arithmetic.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import tensorflow as tf

from hepfpga.extensions import hls
from hepfpga.extensions.exact import check_exact, parse_types
from hepfpga.fixed import Fixed, exact_type, fixed_type, value_stats
from hepfpga.options import HEADROOM_BITS, TABLE_BITS, TABLE_SIZE, TARGET_ERROR

HEADER = Path(__file__).with_name("nnet_layernorm_wide.h")
INTERNAL_TYPES = ("in", "accum", "var", "table", "inv")
#: The types a bit-exact layer declares (`fixed_point`): input, gamma (scale), beta (bias), output.
EXACT_KEYS = ("input", "scale", "bias", "result")
#: 1/sqrt table of the bit-exact form: 3 * 2^EXACT_TABLE_BITS entries, truncated to EXACT_TABLE_TYPE.
EXACT_TABLE_BITS, EXACT_TABLE_TYPE = 10, "ufixed<14,1,TRN,WRAP>"
#: Fractional bits of 1/sqrt(var + epsilon) in the bit-exact form (truncated when shifted right).
EXACT_INV_FRACTION = 15
#: Shifts by 2 bits the kernel makes at most to bring var + epsilon into [1, 4) (its `max_shift`).
MAX_SHIFT = 16


def inv_sqrt_table(table_bits: int, table_type: str) -> np.ndarray:
    """1/sqrt(m) at the centres of the 3 * 2^table_bits bins of m in [1, 4), as the C++ table holds it."""
    centres = 1.0 + (np.arange(3 << table_bits, dtype=np.float64) + 0.5) / 2.0**table_bits
    return Fixed.parse(table_type).quantize_numpy(1.0 / np.sqrt(centres))


@tf.keras.utils.register_keras_serializable(package="hepfpga")
class QLayerNormalization(tf.keras.layers.LayerNormalization):
    """Layer normalisation over the last axis whose forward pass is the firmware's arithmetic.

    `fixed_point` gives the types of EXACT_KEYS (e.g. {"input": "fixed<16,6>", "scale": "fixed<10,3>",
    "bias": "fixed<10,3>", "result": "fixed<16,6>"}): the input, gamma and beta are rounded to theirs,
    mean, variance and 1/sqrt(var + epsilon) are computed as `nnet_layernorm_wide.h` computes them, the
    output is rounded to `result`; gradients are those of the float layer norm (straight through).
    hepfpga converts it with exactly these types: firmware and Keras agree bit for bit.
    """

    def __init__(self, fixed_point: dict, **kwargs):
        super().__init__(**kwargs)
        self.fixed_point = dict(fixed_point)
        self.fixed_types = parse_types(self.fixed_point, EXACT_KEYS, f"QLayerNormalization {self.name}")

    def exact_internal_types(self, n_feat: int) -> dict[str, str]:
        """The kernel's types: sums and deviations exact (`accum`), the sum of squared deviations exact
        (`var`), the table and 1/sqrt types of the bit-exact form."""
        t = self.fixed_types
        log2 = math.ceil(math.log2(n_feat))
        fraction = t["input"].fraction + log2  # the mean of n_feat inputs (exact for powers of 2)
        integer = t["input"].integer + log2 + 1
        # |x - mean| < 2^input_integer: the sum of squares stays below n_feat 4^input_integer.
        var_integer, var_fraction = 2 * t["input"].integer + log2, 2 * fraction
        check_exact(f"QLayerNormalization {self.name} variance", var_integer, var_fraction)
        inv_integer = max(1, math.ceil(math.log2(1 / math.sqrt(float(self.epsilon)))) + 1)
        table = Fixed.parse(EXACT_TABLE_TYPE)
        diff_bits = t["input"].integer + 1 + fraction
        check_exact(f"QLayerNormalization {self.name} output", diff_bits + inv_integer + EXACT_INV_FRACTION,
                    t["scale"].width)
        return {"in": str(t["input"]), "accum": exact_type(integer, fraction),
                "var": exact_type(var_integer, var_fraction, signed=False), "table": str(table),
                "inv": exact_type(inv_integer, EXACT_INV_FRACTION, signed=False), "result": str(t["result"])}

    def call(self, x):
        t = self.fixed_types
        gamma, beta = (t[k].quantize(tf.cast(w, tf.float64)) for k, w in (("scale", self.gamma), ("bias", self.beta)))
        x = t["input"].quantize(tf.cast(x, tf.float64))
        n = int(x.shape[-1])
        types = {k: Fixed.parse(v) for k, v in self.exact_internal_types(n).items()}
        fa, fv = types["accum"].fraction, types["var"].fraction

        def floor(v, fraction):  # truncation to `fraction` bits (TRN)
            return tf.floor(v * 2.0**fraction) / 2.0**fraction

        k_inv = math.floor(2.0**fa / n) / 2.0**fa
        mean = floor(tf.reduce_sum(x, axis=-1, keepdims=True) * k_inv, fa)
        diff = x - mean
        epsilon = math.floor(float(self.epsilon) * 2.0**fv) / 2.0**fv
        var = floor(tf.reduce_sum(diff * diff, axis=-1, keepdims=True) * k_inv + epsilon, fv)
        m, e = var, tf.zeros_like(var)
        for _ in range(MAX_SHIFT):  # var = m 4^e, m in [1, 4), as the kernel's shift loops
            big = m >= 4
            m, e = tf.where(big, floor(m / 4, 32), m), e + tf.cast(big, tf.float64)
        for _ in range(MAX_SHIFT):
            small = m < 1
            m, e = tf.where(small, m * 4, m), e - tf.cast(small, tf.float64)
        size = 3 << EXACT_TABLE_BITS
        index = tf.cast(tf.clip_by_value(tf.floor((m - 1) * 2.0**EXACT_TABLE_BITS), 0, size - 1), tf.int32)
        value = tf.gather(tf.constant(inv_sqrt_table(EXACT_TABLE_BITS, EXACT_TABLE_TYPE)), index)
        fi = types["inv"].fraction
        inv = tf.where(e > 0, tf.floor(value * 2.0 ** (fi - e)) / 2.0**fi, value * 2.0 ** (-e))
        exact = diff * tf.stop_gradient(inv) * gamma + beta
        variance = tf.math.reduce_variance(x, axis=-1, keepdims=True)  # the gradient's path
        smooth = (x - tf.reduce_mean(x, axis=-1, keepdims=True)) * tf.math.rsqrt(variance + self.epsilon) * gamma + beta
        return tf.cast(t["result"].quantize(smooth + tf.stop_gradient(exact - smooth)), self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "fixed_point": self.fixed_point}


def parse_layernorm(keras_layer, input_names, input_shapes, data_reader):
    """hls4ml's own LayerNormalization parser (shape and axis checks), as hepfpga's wide layer."""
    from hls4ml.converters.keras.core import parse_layernorm_layer

    layer, shape = parse_layernorm_layer(keras_layer, input_names, input_shapes, data_reader)
    fixed_point = keras_layer["config"].get("fixed_point")
    if fixed_point:  # QLayerNormalization: gamma and beta as its forward pass rounds them
        types = parse_types(fixed_point, EXACT_KEYS, layer["name"])
        layer["gamma_data"] = types["scale"].quantize_numpy(layer["gamma_data"])
        layer["beta_data"] = types["bias"].quantize_numpy(layer["beta_data"])
    layer["class_name"] = "LayerNormWide"
    layer["n_feat"] = int(input_shapes[0][-1])
    layer["epsilon"] = float(keras_layer["config"]["epsilon"])
    return layer, shape


def _layer_class():
    from hls4ml.model.layers import Layer

    class LayerNormWide(Layer):
        """hls4ml graph node of a Keras LayerNormalization over the last axis (tokens, features)."""

        def initialize(self):
            self.add_output_variable(self.get_input_variable().shape)
            self.add_weights_variable(name="scale", var_name="s{index}", data=self.get_attr("gamma_data"))
            self.add_weights_variable(name="bias", var_name="b{index}", data=self.get_attr("beta_data"))
            hls.set_internal_types(self, INTERNAL_TYPES)

    return LayerNormWide


CONFIG_TEMPLATE = """struct config{index} : nnet::layernorm_wide_config {{
    static const unsigned seq_len = {seq_len};
    static const unsigned n_feat = {n_feat};
    static const unsigned table_bits = {table_bits};
    static constexpr double epsilon = {epsilon!r};
    static const unsigned reuse_factor = {reuse};
    typedef {in_t.name} in_t;
    typedef {accum_t.name} accum_t;
    typedef {var_t.name} var_t;
    typedef {table_t.name} table_t;
    typedef {inv_t.name} inv_t;
    typedef {scale_t} scale_t;
    typedef {bias_t} bias_t;
}};\n"""

FUNCTION_TEMPLATE = "nnet::layernorm_wide<{input_t}, {output_t}, {config}>({input}, {output}, {scale}, {bias});"


def _templates(layer_class):
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate

    class LayerNormWideConfigTemplate(LayerConfigTemplate):
        def __init__(self):
            super().__init__(layer_class)
            self.template = CONFIG_TEMPLATE

        def format(self, node):
            params = self._default_config_params(node)
            params["table_bits"] = node.get_attr("table_bits", EXACT_TABLE_BITS)
            params["scale_t"] = node.get_weights("scale").type.name
            params["bias_t"] = node.get_weights("bias").type.name
            return self.template.format(**params)

    class LayerNormWideFunctionTemplate(FunctionCallTemplate):
        def __init__(self):
            super().__init__(layer_class, include_header=[f"nnet_utils/{HEADER.name}"])
            self.template = FUNCTION_TEMPLATE

        def format(self, node):
            params = self._default_function_params(node)
            params["scale"] = node.get_weights("scale").name
            params["bias"] = node.get_weights("bias").name
            return self.template.format(**params)

    return LayerNormWideConfigTemplate, LayerNormWideFunctionTemplate


def layernorm_precisions(layer, entry: dict, x: np.ndarray, y: np.ndarray, target_error: float = TARGET_ERROR,
                         headroom_bits: int = HEADROOM_BITS, table_size: int = TABLE_SIZE) -> dict:
    """Types of a LayerNormalization from its inputs `x` and outputs `y` (tokens, features): result from
    `y`; sums and deviations (`accum`), variance + epsilon (`var`), 1/sqrt table in (1/2, 1] (`table`,
    about `table_size` entries) and 1/sqrt(var + epsilon) (`inv`) from the observed statistics; gamma, beta.
    A QLayerNormalization gets its own (bit-exact) types."""
    prec = entry.setdefault("Precision", {})
    if getattr(layer, "fixed_types", None):  # QLayerNormalization: its own types
        prec.update(layer.exact_internal_types(int(np.shape(x)[-1])))
        for key in ("scale", "bias"):  # gamma and beta arrive rounded to these (the parser rounds them)
            prec[key] = f"fixed<{layer.fixed_types[key].width},{layer.fixed_types[key].integer}>"
        return prec
    x = np.asarray(x, np.float64)
    result, _, f = fixed_type(*value_stats(y), target_error, headroom_bits)
    prec["result"] = result
    n = x.shape[-1]
    var = x.var(axis=-1) + float(layer.epsilon)
    integer = math.ceil(math.log2(max(n * float(np.abs(x).max()), 1.0))) + 2
    fraction = f + math.ceil(math.log2(n)) + 4
    prec["accum"] = f"fixed<{integer + fraction},{integer}>"
    # The kernel sums n squared deviations before dividing by n: room for n * var.
    var_integer = max(1, math.ceil(math.log2(n * float(var.max()) + 1)) + 1 + headroom_bits)
    prec["var"] = f"ufixed<{var_integer + TABLE_BITS},{var_integer},RND,SAT>"
    prec["table"] = f"ufixed<{TABLE_BITS},1>"
    # 1/sqrt(var + epsilon) reaches 1/sqrt(epsilon) on a constant token, whatever calibration showed.
    inv_integer = max(1, math.ceil(math.log2(1 / math.sqrt(float(layer.epsilon)))) + 1)
    prec["inv"] = f"ufixed<{inv_integer + TABLE_BITS + 2},{inv_integer},RND,SAT>"
    entry["TableBits"] = max(1, round(math.log2(table_size / 3)))  # 3 * 2^bits entries: 3072 for 4096
    for key, w in (("scale", layer.gamma.numpy()), ("bias", layer.beta.numpy())):
        prec[key] = fixed_type(*value_stats(w), target_error, 0)[0]
    return prec
