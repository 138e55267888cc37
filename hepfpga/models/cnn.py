"""Convolutional classifiers for 1D (constituent sequences) and 2D (calorimeter / jet images) inputs."""

from __future__ import annotations

from collections.abc import Sequence

from hepfpga.errors import ConfigError
from hepfpga.models import register
from hepfpga.models.common import Layers, check_positive, check_widths
from hepfpga.models.mlp import INPUT_QUANTIZER, classifier_head


def _check_pooling(shape: tuple[int, ...], filters: tuple[int, ...], kernel: int, pool: int, padding: str) -> None:
    """Walk the feature-map size through the blocks; every pooling must divide it exactly."""
    size = list(shape[:-1])
    for block in range(len(filters)):
        if padding == "valid":
            size = [s - kernel + 1 for s in size]
        if min(size) < 1:
            raise ConfigError(f"kernel_size {kernel}: block {block} would see a feature map smaller than the kernel "
                              f"(input {shape[:-1]}); use fewer conv_filters or a smaller kernel")
        if pool > 1:
            bad = [s for s in size if s % pool]
            if bad:
                raise ConfigError(f"pool_size {pool} does not divide the feature map {tuple(size)} after block "
                                  f"{block} (input {shape[:-1]}, kernel {kernel}); allowed pool sizes divide "
                                  f"{tuple(size)}")
            size = [s // pool for s in size]


@register("cnn")
def cnn(
    input_shape: Sequence[int] = (16, 16, 1),
    n_classes: int = 5,
    conv_filters: Sequence[int] = (8, 8),
    kernel_size: int = 3,
    padding: str = "same",
    pool_size: int = 2,
    dense: Sequence[int] = (16,),
    batch_norm: bool = False,
    softmax: bool = True,
    quantized: bool = False,
    weight_bits: int = 6,
    weight_integer: int = 0,
    activation_bits: int = 6,
    activation_integer: int = 0,
    input_bits: int = 16,
    input_integer: int = 5,
    name: str = "cnn",
):
    """Conv blocks (conv, [batch-norm], ReLU, max-pool) -> flatten -> Dense -> logits [-> softmax].

    `input_shape` is (length, channels) for Conv1D or (height, width, channels) for Conv2D. `padding` is
    'same' or 'valid'; every `pool_size` must divide the feature map it pools (checked before building).
    """
    import tensorflow as tf
    from tensorflow.keras import layers

    shape = tuple(input_shape)
    if len(shape) not in (2, 3) or any(not isinstance(d, int) or d < 1 for d in shape):
        raise ConfigError(f"input_shape must be (length, channels) or (height, width, channels) of positive "
                          f"integers, got {shape!r}")
    dims = len(shape) - 1
    filters = check_widths("conv_filters", conv_filters)
    dense = check_widths("dense", dense) if dense else ()
    check_positive("kernel_size", kernel_size)
    check_positive("pool_size", pool_size)
    check_positive("n_classes", n_classes)
    if padding not in ("same", "valid"):
        raise ConfigError(f"padding must be 'same' or 'valid', got {padding!r}")
    _check_pooling(shape, filters, kernel_size, pool_size, padding)
    q = Layers(quantized, weight_bits, weight_integer, activation_bits, activation_integer, input_bits, input_integer)
    pool = layers.MaxPooling1D if dims == 1 else layers.MaxPooling2D

    x_in = layers.Input(shape=shape, name="inputs")
    x = q.input(x_in, INPUT_QUANTIZER)
    for i, f in enumerate(filters):
        x = q.conv(dims, f, kernel_size, f"conv_{i}", padding=padding)(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"bn_{i}")(x)
        x = q.activation("relu", f"relu_{i}")(x)
        if pool_size > 1:
            x = pool(pool_size, name=f"pool_{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    for i, width in enumerate(dense):
        x = q.dense(width, f"dense_{i}")(x)
        x = q.activation("relu", f"dense_relu_{i}")(x)
    return tf.keras.Model(x_in, classifier_head(x, q, n_classes, softmax), name=name)
