"""Transformer encoder classifier for particle sequences (multi-head self-attention, layer norm, MLP).

Attention is hepfpga's `SelfAttention` (hepfpga.extensions: hls4ml 1.3.0 has no attention handler for
Keras 2 / QKeras models); layer normalisation runs on hepfpga's kernel for any variance
(hepfpga.extensions.layernorm). The QKeras form uses their bit-exact forms, so firmware and Keras agree
bit for bit.
"""

from __future__ import annotations

from hepfpga.errors import ConfigError
from hepfpga.models import register
from hepfpga.models.common import Layers, check_bits, check_positive
from hepfpga.models.mlp import INPUT_QUANTIZER, classifier_head

#: Longest sequence the builder accepts (attention scores grow as n_particles**2 per head).
MAX_TOKENS = 32


@register("transformer")
def transformer(
    n_particles: int = 16,
    n_features: int = 3,
    n_classes: int = 5,
    d_model: int = 16,
    heads: int = 2,
    blocks: int = 1,
    mlp: int = 32,
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
    name: str = "transformer",
):
    """Per-particle embedding to `d_model`, `blocks` encoder blocks (multi-head self-attention with
    `heads` heads + residual + layer norm, MLP of width `mlp` + residual + layer norm), mean over
    particles -> logits. In QKeras form the embedding, attention, MLPs and head weights are quantized,
    and attention and layer norms compute in fixed point as the firmware does: inputs, projections,
    scores, weighted values and outputs rounded to fixed<internal_bits, internal_integer> (hls4ml's
    notation: integer bits include the sign), gamma and beta to fixed<weight_bits + 2, 3>.
    """
    import tensorflow as tf
    from tensorflow.keras import layers

    from hepfpga.extensions.attention import SelfAttention

    for option, value in (("n_features", n_features), ("n_classes", n_classes), ("d_model", d_model),
                          ("heads", heads), ("blocks", blocks), ("mlp", mlp)):
        check_positive(option, value)
    if not isinstance(n_particles, int) or not 1 <= n_particles <= MAX_TOKENS:
        raise ConfigError(f"n_particles must be an integer in [1, {MAX_TOKENS}], got {n_particles!r}")
    if d_model % heads:
        raise ConfigError(f"heads ({heads}) must divide d_model ({d_model})")
    q = Layers(quantized, weight_bits, weight_integer, activation_bits, activation_integer, input_bits, input_integer)
    quantizer = f"quantized_bits({weight_bits},{weight_integer},alpha=1)" if quantized else None
    attention_types = norm_types = None
    if quantized:
        check_bits("internal_bits/internal_integer", internal_bits, internal_integer - 1)
        internal = f"fixed<{internal_bits},{internal_integer}>"
        attention_types = {key: internal for key in ("input", "proj", "score", "att", "result")}
        norm_types = {"input": internal, "result": internal, "scale": f"fixed<{weight_bits + 2},3>",
                      "bias": f"fixed<{weight_bits + 2},3>"}

    def norm(name):
        if quantized:
            from hepfpga.extensions.layernorm import QLayerNormalization

            return QLayerNormalization(norm_types, name=name)
        return layers.LayerNormalization(name=name)

    x_in = layers.Input(shape=(n_particles, n_features), name="inputs")
    x = q.conv(1, d_model, 1, "embed")(q.input(x_in, INPUT_QUANTIZER))
    for b in range(blocks):
        attention = SelfAttention(heads, d_model // heads, kernel_quantizer=quantizer, fixed_point=attention_types,
                                  name=f"attention_{b}")(x)
        x = layers.Add(name=f"residual_attention_{b}")([x, attention])
        x = norm(f"norm_attention_{b}")(x)
        h = q.activation("relu", f"mlp_relu_{b}")(q.conv(1, mlp, 1, f"mlp_{b}_0")(x))
        h = q.conv(1, d_model, 1, f"mlp_{b}_1")(h)
        x = norm(f"norm_mlp_{b}")(layers.Add(name=f"residual_mlp_{b}")([x, h]))
    x = layers.GlobalAveragePooling1D(name="pool")(x)
    return tf.keras.Model(x_in, classifier_head(x, q, n_classes, softmax), name=name)
