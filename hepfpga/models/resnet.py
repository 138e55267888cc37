"""ResNet-style image classifier: residual blocks whose skip connections hls4ml converts as Add layers."""

from __future__ import annotations

from collections.abc import Sequence

from hepfpga.errors import ConfigError
from hepfpga.models import register
from hepfpga.models.common import Layers, check_positive
from hepfpga.models.mlp import INPUT_QUANTIZER, classifier_head


@register("resnet")
def resnet(
    input_shape: Sequence[int] = (16, 16, 1),
    n_classes: int = 5,
    filters: int = 8,
    blocks: int = 2,
    pool_size: int = 2,
    softmax: bool = True,
    quantized: bool = False,
    weight_bits: int = 8,
    weight_integer: int = 0,
    activation_bits: int = 8,
    activation_integer: int = 2,
    input_bits: int = 16,
    input_integer: int = 5,
    name: str = "resnet",
):
    """Stem conv (3x3, ReLU, max-pool) -> `blocks` x [conv-ReLU-conv + skip (Add) -> ReLU] -> global
    average pooling -> logits [-> softmax]. Convolutions use 'same' padding so the skip shapes match.
    """
    import tensorflow as tf
    from tensorflow.keras import layers

    shape = tuple(input_shape)
    if len(shape) != 3 or any(not isinstance(d, int) or d < 1 for d in shape):
        raise ConfigError(f"input_shape must be (height, width, channels) of positive integers, got {shape!r}")
    for option, value in (("filters", filters), ("blocks", blocks), ("pool_size", pool_size), ("n_classes", n_classes)):
        check_positive(option, value)
    if shape[0] % pool_size or shape[1] % pool_size:
        raise ConfigError(f"pool_size {pool_size} does not divide the image {shape[:2]}; allowed: divisors of both")
    q = Layers(quantized, weight_bits, weight_integer, activation_bits, activation_integer, input_bits, input_integer)

    x_in = layers.Input(shape=shape, name="inputs")
    x = q.input(x_in, INPUT_QUANTIZER)
    x = q.conv(2, filters, 3, "stem", padding="same")(x)
    x = q.activation("relu", "stem_relu")(x)
    if pool_size > 1:
        x = layers.MaxPooling2D(pool_size, name="stem_pool")(x)
    for b in range(blocks):
        y = q.conv(2, filters, 3, f"block{b}_conv0", padding="same")(x)
        y = q.activation("relu", f"block{b}_relu0")(y)
        y = q.conv(2, filters, 3, f"block{b}_conv1", padding="same")(y)
        x = layers.Add(name=f"block{b}_add")([x, y])
        x = q.activation("relu", f"block{b}_relu1")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    return tf.keras.Model(x_in, classifier_head(x, q, n_classes, softmax), name=name)
