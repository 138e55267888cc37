"""DeepSets / PointNet classifier for unordered particle sets."""

from __future__ import annotations

from collections.abc import Sequence

from hepfpga.errors import ConfigError
from hepfpga.models import register
from hepfpga.models.common import Layers, check_positive, check_widths
from hepfpga.models.mlp import INPUT_QUANTIZER, classifier_head


@register("deepsets")
def deepsets(
    n_particles: int = 16,
    n_features: int = 3,
    n_classes: int = 5,
    phi: Sequence[int] = (32, 32),
    rho: Sequence[int] = (16,),
    pooling: str = "mean",
    softmax: bool = True,
    quantized: bool = False,
    weight_bits: int = 8,
    weight_integer: int = 0,
    activation_bits: int = 8,
    activation_integer: int = 2,
    input_bits: int = 16,
    input_integer: int = 5,
    name: str = "deepsets",
):
    """Per-particle MLP phi (shared weights: kernel-size-1 convolutions, as PointNet) on inputs
    (n_particles, n_features) -> symmetric pooling over particles ('mean' or 'max') -> MLP rho -> logits.

    The output does not depend on the order of the particles.
    """
    import tensorflow as tf
    from tensorflow.keras import layers

    for option, value in (("n_particles", n_particles), ("n_features", n_features), ("n_classes", n_classes)):
        check_positive(option, value)
    phi, rho = check_widths("phi", phi), check_widths("rho", rho) if rho else ()
    if pooling not in ("mean", "max"):
        raise ConfigError(f"pooling must be 'mean' or 'max', got {pooling!r}")
    q = Layers(quantized, weight_bits, weight_integer, activation_bits, activation_integer, input_bits, input_integer)

    x_in = layers.Input(shape=(n_particles, n_features), name="inputs")
    x = q.input(x_in, INPUT_QUANTIZER)
    for i, width in enumerate(phi):
        x = q.conv(1, width, 1, f"phi_{i}")(x)
        x = q.activation("relu", f"phi_relu_{i}")(x)
    pool = layers.GlobalAveragePooling1D if pooling == "mean" else layers.GlobalMaxPooling1D
    x = pool(name="pool")(x)
    for i, width in enumerate(rho):
        x = q.dense(width, f"rho_{i}")(x)
        x = q.activation("relu", f"rho_relu_{i}")(x)
    return tf.keras.Model(x_in, classifier_head(x, q, n_classes, softmax), name=name)
