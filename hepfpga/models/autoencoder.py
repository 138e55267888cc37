"""Autoencoders for anomaly detection: dense (AE) or convolutional (CAE); denoising (DAE) is a training mode.

`autoencoder(...)` returns the training model (inputs -> reconstruction). `anomaly_model(ae)` returns
the part that goes to firmware: inputs -> encoder -> decoder -> mean squared reconstruction error, built
only from layers hls4ml converts (Subtract, Multiply, and a fixed Dense that averages).
"""

from __future__ import annotations

from collections.abc import Sequence

from hepfpga.errors import ConfigError
from hepfpga.models import register
from hepfpga.models.common import Layers, check_positive, check_widths, fixed_weighted_sum
from hepfpga.models.mlp import INPUT_QUANTIZER

SCORE_LAYER = "mse"


@register("autoencoder")
def autoencoder(
    input_shape: Sequence[int] = (16,),
    hidden: Sequence[int] = (16, 8),
    latent: int = 4,
    conv: bool = False,
    quantized: bool = False,
    weight_bits: int = 8,
    weight_integer: int = 0,
    activation_bits: int = 8,
    activation_integer: int = 3,
    input_bits: int = 16,
    input_integer: int = 5,
    name: str = "autoencoder",
):
    """Autoencoder: inputs -> encoder (`hidden` widths, ReLU) -> `latent` -> mirrored decoder -> inputs.

    Dense form for feature vectors `input_shape=(n,)`; `conv=True` for sequences `(length, channels)`:
    Conv1D + max-pool encoder, UpSampling1D + Conv1D decoder (length divisible by 2**len(hidden)).
    Train on background only with mean squared error; for a denoising autoencoder add noise to the
    inputs and keep clean targets (`hepfpga.train.fit_autoencoder(..., noise=...)`).
    """
    import tensorflow as tf
    from tensorflow.keras import layers

    shape = tuple(input_shape)
    hidden = check_widths("hidden", hidden)
    check_positive("latent", latent)
    q = Layers(quantized, weight_bits, weight_integer, activation_bits, activation_integer, input_bits, input_integer)
    x_in = layers.Input(shape=shape, name="inputs")
    x = q.input(x_in, INPUT_QUANTIZER)
    if not conv:
        if len(shape) != 1:
            raise ConfigError(f"input_shape must be (n_features,) for a dense autoencoder, got {shape!r}; "
                              "use conv=True for (length, channels)")
        for i, w in enumerate(hidden):
            x = q.activation("relu", f"enc_relu_{i}")(q.dense(w, f"enc_{i}")(x))
        x = q.dense(latent, "latent")(x)
        for i, w in enumerate(reversed(hidden)):
            x = q.activation("relu", f"dec_relu_{i}")(q.dense(w, f"dec_{i}")(x))
        x = q.dense(shape[0], "reconstruction")(x)
    else:
        if len(shape) != 2 or shape[0] % 2 ** len(hidden):
            raise ConfigError(f"input_shape for conv=True must be (length, channels) with length divisible by "
                              f"2**len(hidden) = {2 ** len(hidden)}, got {shape!r}")
        for i, f in enumerate(hidden):
            x = q.activation("relu", f"enc_relu_{i}")(q.conv(1, f, 3, f"enc_{i}", padding="same")(x))
            x = layers.MaxPooling1D(2, name=f"enc_pool_{i}")(x)
        x = q.conv(1, latent, 1, "latent")(x)
        for i, f in enumerate(reversed(hidden)):
            x = layers.UpSampling1D(2, name=f"dec_up_{i}")(x)
            x = q.activation("relu", f"dec_relu_{i}")(q.conv(1, f, 3, f"dec_{i}", padding="same")(x))
        x = q.conv(1, shape[1], 1, "reconstruction")(x)
    return tf.keras.Model(x_in, x, name=name)


def anomaly_model(ae):
    """Deployable anomaly trigger from a trained `autoencoder`: inputs -> (N, 1) mean squared error.

    The score compares the reconstruction with the inputs as the firmware sees them (after the input
    quantizer of a QKeras model). Its last Dense layer has fixed weights 1/n (no training, no bias).
    """
    import tensorflow as tf
    from tensorflow.keras import layers

    inputs = ae.inputs[0]
    seen = ae.get_layer(INPUT_QUANTIZER).output if INPUT_QUANTIZER in [lyr.name for lyr in ae.layers] else inputs
    diff = layers.Subtract(name="residual")([seen, ae.outputs[0]])
    sq = layers.Multiply(name="squared")([diff, diff])
    if len(sq.shape) > 2:
        sq = layers.Flatten(name="flat")(sq)
    score = fixed_weighted_sum(sq, 1.0 / int(sq.shape[-1]), SCORE_LAYER)  # the mean
    return tf.keras.Model(inputs, score, name=f"{ae.name}_anomaly")
