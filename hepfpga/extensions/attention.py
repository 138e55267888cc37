"""Multi-head self-attention: a Keras layer and its hls4ml extension (parser, layer, templates, C++).

hls4ml 1.3.0 converts attention only for HGQ2 models on Keras 3; `SelfAttention` brings it to Keras 2 /
QKeras models through hls4ml's extension API. The HLS kernel is `nnet_self_attention.h` (io_parallel).
"""

from __future__ import annotations

import math
from pathlib import Path

import tensorflow as tf

from hepfpga.extensions import hls

HEADER = Path(__file__).with_name("nnet_self_attention.h")
#: Weight names, in the order the C++ function takes them: projections (d_model, heads*head_dim) and
#: biases, output projection (heads*head_dim, d_model) and bias.
WEIGHTS = ("wq", "bq", "wk", "bk", "wv", "bv", "wo", "bo")
#: Internal types of the kernel (hepfpga.convert.precision sets them from calibration data).
INTERNAL_TYPES = ("accum", "proj", "score", "scale", "exp_table", "sum", "inv", "att")


@tf.keras.utils.register_keras_serializable(package="hepfpga")
class SelfAttention(tf.keras.layers.Layer):
    """Multi-head self-attention over inputs (tokens, features) -> (tokens, features).

    `heads` heads of `head_dim` features: q, k, v projections with bias, softmax(q k^T / sqrt(head_dim)) v,
    heads concatenated and projected back to the input width. With `kernel_quantizer` (a QKeras quantizer
    string such as "quantized_bits(8,0,alpha=1)") all weights are quantized in the forward pass
    (straight-through gradients, as QKeras layers train).
    """

    def __init__(self, heads: int, head_dim: int, kernel_quantizer: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.heads, self.head_dim, self.kernel_quantizer = int(heads), int(head_dim), kernel_quantizer
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

    def call(self, x):
        return self.parts(x)["output"]

    def get_config(self):
        return {**super().get_config(), "heads": self.heads, "head_dim": self.head_dim,
                "kernel_quantizer": self.kernel_quantizer}


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
