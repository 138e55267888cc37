"""Multi-head self-attention: a Keras layer and its hls4ml extension (parser, layer, templates, C++).

hls4ml 1.3.0 converts attention only for HGQ2 models on Keras 3; `SelfAttention` brings it to Keras 2 /
QKeras models through hls4ml's extension API. The HLS kernel is `nnet_self_attention.h` (io_parallel).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import tensorflow as tf

from hepfpga.errors import ConfigError
from hepfpga.extensions import hls
from hepfpga.extensions.exact import check_exact, parse_types
from hepfpga.fixed import Fixed, exact_type, fixed_type, value_stats
from hepfpga.options import HEADROOM_BITS, TABLE_BITS, TABLE_SIZE, TARGET_ERROR

HEADER = Path(__file__).with_name("nnet_self_attention.h")
#: Weight names, in the order the C++ function takes them: projections (d_model, heads*head_dim) and
#: biases, output projection (heads*head_dim, d_model) and bias.
WEIGHTS = ("wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo")
#: Internal types of the kernel (hepfpga.convert.rules sets them from calibration data, or from the
#: layer's `fixed_point` types in its bit-exact form).
INTERNAL_TYPES = ("in", "accum", "proj", "score", "scale", "exp_table", "sum", "inv", "att")
#: The types a bit-exact layer declares (`fixed_point`): input, q/k/v projections, scaled scores,
#: attention-weighted values, output; each rounded to nearest (ties to even) and saturated.
EXACT_KEYS = ("input", "proj", "score", "att", "result")
#: Softmax of the bit-exact form: exp(-d) for d in [0, 2^EXACT_RANGE_POWER2), EXACT_TABLE_SIZE entries
#: truncated to EXACT_EXP_TYPE; 1/sum truncated to EXACT_INV_TYPE; 1/sqrt(head_dim) truncated to SCALE_TYPE.
EXACT_TABLE_SIZE, EXACT_RANGE_POWER2 = 1024, 3
EXACT_EXP_TYPE, EXACT_INV_TYPE = "ufixed<16,1,TRN,WRAP>", "ufixed<18,1,TRN,WRAP>"
SCALE_TYPE = "ufixed<19,1,TRN,WRAP>"


def exp_table(size: int, range_power2: int, table_type: str) -> np.ndarray:
    """exp(-d) at d = i 2^range_power2 / size, i < size, as the C++ table holds it."""
    step = float(2**range_power2) / size
    return Fixed.parse(table_type).quantize_numpy(np.exp(-step * np.arange(size, dtype=np.float64)))


@tf.keras.utils.register_keras_serializable(package="hepfpga")
class SelfAttention(tf.keras.layers.Layer):
    """Multi-head self-attention over inputs (tokens, features) -> (tokens, features).

    `heads` heads of `head_dim` features: q, k, v projections with bias, softmax(q k^T / sqrt(head_dim)) v,
    heads concatenated and projected back to the input width. With `kernel_quantizer` (a QKeras quantizer
    string such as "quantized_bits(8,0,alpha=1)") all weights are quantized in the forward pass
    (straight-through gradients, as QKeras layers train).

    With `fixed_point` (types for EXACT_KEYS, e.g. {"input": "fixed<16,6>", ...}) the forward pass is the
    firmware's arithmetic: inputs, projections, scores, weighted values and output rounded to those
    types, the softmax from the kernel's exp table and truncated 1/sum (float gradients through them).
    hepfpga converts such a layer to exactly these types: firmware and Keras outputs agree bit for bit.
    """

    def __init__(self, heads: int, head_dim: int, kernel_quantizer: str | None = None,
                 fixed_point: dict | None = None, **kwargs):
        super().__init__(**kwargs)
        self.heads, self.head_dim, self.kernel_quantizer = int(heads), int(head_dim), kernel_quantizer
        self.fixed_point = dict(fixed_point) if fixed_point else None
        self.fixed_types = parse_types(self.fixed_point, EXACT_KEYS, f"SelfAttention {self.name}")
        if self.fixed_types and not kernel_quantizer:
            raise ConfigError(f"SelfAttention {self.name}: fixed_point needs a kernel_quantizer (quantized weights)")
        self._quantizer = None
        if kernel_quantizer:
            from qkeras.quantizers import get_quantizer

            self._quantizer = get_quantizer(kernel_quantizer)

    def build(self, input_shape):
        d_model, width = int(input_shape[-1]), self.heads * self.head_dim
        shapes = {"wq": (d_model, width), "bq": (width,), "wk": (d_model, width), "bk": (width,),
                  "wv": (d_model, width), "bv": (width,), "wo": (width, d_model), "bo": (d_model,)}
        for name, shape in shapes.items():
            init = "glorot_uniform" if name.startswith("w") else "zeros"
            setattr(self, name, self.add_weight(name=name, shape=shape, initializer=init))
        super().build(input_shape)

    def quantized_weights(self) -> dict[str, tf.Tensor]:
        """The weights as the forward pass uses them (quantized when a quantizer is set)."""
        q = self._quantizer
        return {name: (q(getattr(self, name)) if q is not None else getattr(self, name)) for name in WEIGHTS}

    def parts(self, x):
        """Intermediate values (for precision choices): projections q, k, v (batch, tokens, heads*head_dim),
        scores (batch, heads, tokens, tokens), attention-weighted values `att` and the output."""
        w = self.quantized_weights()
        shape = tf.shape(x)
        batch, tokens = shape[0], shape[1]

        def split(t):  # (batch, tokens, heads*head_dim) -> (batch, heads, tokens, head_dim)
            return tf.transpose(tf.reshape(t, (batch, tokens, self.heads, self.head_dim)), (0, 2, 1, 3))

        q, k, v = (tf.matmul(x, w[f"w{n}"]) + w[f"b{n}"] for n in "qkv")
        scores = tf.matmul(split(q), split(k), transpose_b=True) / math.sqrt(self.head_dim)
        heads = tf.matmul(tf.nn.softmax(scores, axis=-1), split(v))
        att = tf.reshape(tf.transpose(heads, (0, 2, 1, 3)), (batch, tokens, self.heads * self.head_dim))
        return {"q": q, "k": k, "v": v, "scores": scores, "att": att, "output": tf.matmul(att, w["wo"]) + w["bo"]}

    def exact_parts(self, x):
        """`parts` as the firmware computes them (layers with `fixed_point`), float64."""
        t = self.fixed_types
        w = {k: tf.cast(v, tf.float64) for k, v in self.quantized_weights().items()}
        x = t["input"].quantize(tf.cast(x, tf.float64))
        shape = tf.shape(x)
        batch, tokens = shape[0], shape[1]

        def split(v):
            return tf.transpose(tf.reshape(v, (batch, tokens, self.heads, self.head_dim)), (0, 2, 1, 3))

        q, k, v = (t["proj"].quantize(tf.matmul(x, w[f"w{n}"]) + w[f"b{n}"]) for n in "qkv")
        scale = Fixed.parse(SCALE_TYPE).quantize_numpy(1.0 / math.sqrt(self.head_dim))
        scores = t["score"].quantize(tf.matmul(split(q), split(k), transpose_b=True) * scale)
        # Softmax: nearest table entry of exp(-(max - score)), none beyond the table; 1/sum truncated.
        gap = tf.reduce_max(scores, axis=-1, keepdims=True) - scores
        index = tf.floor(gap * (EXACT_TABLE_SIZE / 2**EXACT_RANGE_POWER2) + 0.5)
        table = np.append(exp_table(EXACT_TABLE_SIZE, EXACT_RANGE_POWER2, EXACT_EXP_TYPE), 0.0)
        index = tf.cast(tf.minimum(index, EXACT_TABLE_SIZE), tf.int32)
        weights = tf.stop_gradient(tf.gather(tf.constant(table, tf.float64), index))
        inv_fraction = Fixed.parse(EXACT_INV_TYPE).fraction
        inv = tf.floor(2.0**inv_fraction / tf.reduce_sum(weights, axis=-1, keepdims=True)) / 2.0**inv_fraction
        exact = tf.matmul(weights, split(v)) * inv
        smooth = tf.matmul(tf.nn.softmax(scores, axis=-1), split(v))  # the gradient's path
        heads = t["att"].quantize(smooth + tf.stop_gradient(exact - smooth))
        att = tf.reshape(tf.transpose(heads, (0, 2, 1, 3)), (batch, tokens, self.heads * self.head_dim))
        output = t["result"].quantize(tf.matmul(att, w["wo"]) + w["bo"])
        return {"q": q, "k": k, "v": v, "scores": scores, "att": att, "output": output}

    def call(self, x):
        if self.fixed_types is not None:
            return tf.cast(self.exact_parts(x)["output"], x.dtype)
        return self.parts(x)["output"]

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "head_dim": self.head_dim,
                "kernel_quantizer": self.kernel_quantizer, "fixed_point": self.fixed_point}

    def exact_internal_types(self, d_model: int, tokens: int) -> dict[str, str]:
        """The kernel's types for a `fixed_point` layer: the declared ones, and an accumulator that holds
        every sum exactly (projections, q.k, exp-weighted values, output)."""
        t, weight = self.fixed_types, hls.weight_type(self._quantizer)
        exp_fraction = Fixed.parse(EXACT_EXP_TYPE).fraction
        width = self.heads * self.head_dim
        fraction = max(t["input"].fraction + weight.fraction, 2 * t["proj"].fraction,
                       exp_fraction + t["proj"].fraction, t["att"].fraction + weight.fraction)
        log2 = lambda n: math.ceil(math.log2(n + 1))  # noqa: E731
        integer = max(t["input"].integer + weight.integer + log2(d_model),
                      2 * t["proj"].integer + log2(self.head_dim),
                      t["proj"].integer + log2(tokens),
                      t["att"].integer + weight.integer + log2(width)) + 1
        check_exact(f"SelfAttention {self.name} accumulator", integer, fraction)
        inv_fraction = Fixed.parse(EXACT_INV_TYPE).fraction
        check_exact(f"SelfAttention {self.name} weighted values", t["att"].integer, fraction + inv_fraction)
        sum_integer = log2(tokens)
        types = {k: str(t[k]) for k in ("proj", "score", "att", "result")}
        return {**types, "in": str(t["input"]), "accum": exact_type(integer, fraction),
                "scale": SCALE_TYPE, "exp_table": EXACT_EXP_TYPE, "inv": EXACT_INV_TYPE,
                "sum": exact_type(sum_integer, exp_fraction, signed=False)}


# ---------------------------------------------------------------------------------------------------
# hls4ml side: parser, layer, templates (registered by hepfpga.extensions.register)
# ---------------------------------------------------------------------------------------------------

def parse_self_attention(keras_layer, input_names, input_shapes, data_reader):
    """hls4ml Keras-2 handler: the layer dict and output shape of a `SelfAttention` layer."""
    from hls4ml.converters.keras_v2_to_hls import parse_default_keras_layer

    layer = parse_default_keras_layer(keras_layer, input_names)
    config = keras_layer["config"]
    layer["seq_len"], layer["d_model"] = int(input_shapes[0][1]), int(input_shapes[0][2])
    layer["heads"], layer["head_dim"] = int(config["heads"]), int(config["head_dim"])
    hls.quantized_weight_data(keras_layer, data_reader, layer, WEIGHTS)
    return layer, [input_shapes[0][0], layer["seq_len"], layer["d_model"]]


def _layer_class():
    return hls.layer_class("HSelfAttention", WEIGHTS, INTERNAL_TYPES, lambda node: node.get_input_variable().shape)


CONFIG_TEMPLATE = """struct config{index} : nnet::self_attention_config {{
    static const unsigned seq_len = {seq_len};
    static const unsigned d_model = {d_model};
    static const unsigned heads = {heads};
    static const unsigned head_dim = {head_dim};
    static const unsigned exp_table_size = {exp_table_size};
    static const unsigned exp_range_power2 = {exp_range_power2};
    static const unsigned reuse_factor = {reuse};
{types}
}};\n"""

FUNCTION_TEMPLATE = "nnet::self_attention<{input_t}, {output_t}, {config}>({input}, {output}, {weights});"


def _templates(layer_class):
    def table(node):
        return {"exp_table_size": node.get_attr("exp_table_size", 1024),
                "exp_range_power2": node.get_attr("exp_range_power2", 3)}

    return hls.templates(layer_class, CONFIG_TEMPLATE, FUNCTION_TEMPLATE, HEADER, WEIGHTS, INTERNAL_TYPES, extra=table)


def attention_precisions(layer, entry: dict, x: np.ndarray, target_error: float = TARGET_ERROR,
                         headroom_bits: int = HEADROOM_BITS, table_size: int = TABLE_SIZE) -> dict:
    """Types of a `SelfAttention` layer from its intermediate values on its calibration inputs `x`
    (tokens, features): projections, scores, attention-weighted values, result, the accumulator (widest
    of these plus log2 of the longest sum), softmax table (`table_size` entries of exp(-d), d in [0, 8))
    and weights (their quantizer's type for a QKeras layer, else from their values)."""
    prec = entry.setdefault("Precision", {})
    if getattr(layer, "fixed_types", None):  # bit-exact form: the layer's own types
        prec.update(hls.custom_weight_types(layer, WEIGHTS, target_error))
        prec.update(layer.exact_internal_types(int(x.shape[-1]), int(x.shape[-2])))
        entry["ExpTableSize"], entry["ExpRangePower2"] = EXACT_TABLE_SIZE, EXACT_RANGE_POWER2
        return prec
    parts = {k: np.asarray(v) for k, v in layer.parts(np.asarray(x, np.float32)).items()}
    types = {}
    # Internal values get 4 more fractional bits than the target: scores pass through exp() and a
    # normalisation, which amplify their errors (measured on the zoo's Transformer, docs/models.md).
    for key, part in (("proj", np.concatenate([parts[n].ravel() for n in "qkv"])), ("score", parts["scores"]),
                      ("att", parts["att"]), ("result", parts["output"])):
        error = target_error if key == "result" else target_error / 16
        types[key] = fixed_type(*value_stats(part), error, headroom_bits)
        prec[key] = types[key][0]
    terms = max(int(x.shape[-1]), layer.heads * layer.head_dim, int(x.shape[-2]))
    extra = math.ceil(math.log2(terms))
    integer = max(i for _, i, _ in types.values()) + extra
    fraction = max(f for _, _, f in types.values()) + extra
    prec["accum"] = f"fixed<{integer + fraction},{integer}>"
    tokens = int(x.shape[-2])
    prec["exp_table"] = f"ufixed<{TABLE_BITS},1>"  # exp(-d) in (0, 1]
    prec["sum"] = f"ufixed<{TABLE_BITS + math.ceil(math.log2(tokens + 1))},{math.ceil(math.log2(tokens + 1))}>"
    prec["inv"] = f"ufixed<{TABLE_BITS + 2},1>"  # 1/sum in [1/tokens, 1]
    prec["scale"] = SCALE_TYPE  # 1/sqrt(head_dim) in (0, 1]: one integer bit, or head_dim = 1 would wrap to 0
    entry["ExpTableSize"] = table_size
    entry["ExpRangePower2"] = 3
    prec.update(hls.custom_weight_types(layer, WEIGHTS, target_error))
    return prec
