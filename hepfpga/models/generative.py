"""Variational autoencoder (anomaly trigger) and GAN generator (fast simulation).

The VAE's sampling and KL term are training-only layers; the firmware part is the encoder's mean head
plus the anomaly score sum(mu^2) (`vae_anomaly_model`). The GAN's firmware part is its generator, with
the noise supplied as an input.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from hepfpga.models import register
from hepfpga.models.common import Layers, check_positive, check_widths, fixed_weighted_sum
from hepfpga.models.mlp import INPUT_QUANTIZER

SCORE_LAYER = "score"


@tf.keras.utils.register_keras_serializable(package="hepfpga")
class Sampling(tf.keras.layers.Layer):
    """z = mu + exp(logvar / 2) * eps, eps ~ N(0, 1); adds beta x KL(N(mu, sigma) || N(0, 1)) as a loss."""

    def __init__(self, beta: float = 1.0, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.beta, self.seed = beta, seed

    def call(self, inputs):
        mu, logvar = inputs
        kl = -0.5 * tf.reduce_mean(tf.reduce_sum(1 + logvar - tf.square(mu) - tf.exp(logvar), axis=-1))
        self.add_loss(self.beta * kl)
        return mu + tf.exp(0.5 * logvar) * tf.random.normal(tf.shape(mu), seed=self.seed)

    def get_config(self):
        return {**super().get_config(), "beta": self.beta, "seed": self.seed}


@register("vae")
def vae(
    n_inputs: int = 16,
    hidden: Sequence[int] = (16, 8),
    latent: int = 3,
    beta: float = 1.0,
    quantized: bool = False,
    weight_bits: int = 8,
    weight_integer: int = 0,
    activation_bits: int = 8,
    activation_integer: int = 3,
    input_bits: int = 16,
    input_integer: int = 5,
    name: str = "vae",
):
    """Variational autoencoder on feature vectors: encoder -> (mu, logvar) -> sampling -> decoder.

    Train with mean squared error on the reconstruction (the KL term, weighted by `beta`, is added by the
    sampling layer). Deploy `vae_anomaly_model(model)`.
    """
    from tensorflow.keras import layers

    check_positive("n_inputs", n_inputs)
    check_positive("latent", latent)
    hidden = check_widths("hidden", hidden)
    q = Layers(quantized, weight_bits, weight_integer, activation_bits, activation_integer, input_bits, input_integer)
    x_in = layers.Input(shape=(n_inputs,), name="inputs")
    x = q.input(x_in, INPUT_QUANTIZER)
    for i, w in enumerate(hidden):
        x = q.activation("relu", f"enc_relu_{i}")(q.dense(w, f"enc_{i}")(x))
    mu, logvar = q.dense(latent, "mu")(x), q.dense(latent, "logvar")(x)
    z = Sampling(beta, name="sampling")([mu, logvar])
    for i, w in enumerate(reversed(hidden)):
        z = q.activation("relu", f"dec_relu_{i}")(q.dense(w, f"dec_{i}")(z))
    return tf.keras.Model(x_in, q.dense(n_inputs, "reconstruction")(z), name=name)


def vae_anomaly_model(model):
    """Firmware part of a trained `vae`: inputs -> encoder -> mu -> sum(mu^2), shape (N, 1)."""
    from tensorflow.keras import layers

    mu = model.get_layer("mu").output
    sq = layers.Multiply(name="mu_squared")([mu, mu])
    return tf.keras.Model(model.inputs, fixed_weighted_sum(sq, 1.0, SCORE_LAYER), name=f"{model.name}_anomaly")


@register("gan")
def gan_generator(
    latent: int = 8,
    n_outputs: int = 64,
    hidden: Sequence[int] = (32, 32),
    quantized: bool = False,
    weight_bits: int = 8,
    weight_integer: int = 0,
    activation_bits: int = 8,
    activation_integer: int = 3,
    input_bits: int = 12,
    input_integer: int = 3,
    name: str = "generator",
):
    """GAN generator: noise (latent,) -> Dense/ReLU `hidden` -> (n_outputs,) non-negative energies
    (e.g. a flattened 8x8 calorimeter image). Train it with `hepfpga.train.fit_gan` against
    `gan_discriminator`; the generator alone goes to firmware, the noise supplied as its input.
    """
    from tensorflow.keras import layers

    check_positive("latent", latent)
    check_positive("n_outputs", n_outputs)
    hidden = check_widths("hidden", hidden)
    q = Layers(quantized, weight_bits, weight_integer, activation_bits, activation_integer, input_bits, input_integer)
    z_in = layers.Input(shape=(latent,), name="noise")
    x = q.input(z_in, INPUT_QUANTIZER)
    for i, w in enumerate(hidden):
        x = q.activation("relu", f"gen_relu_{i}")(q.dense(w, f"gen_{i}")(x))
    x = q.activation("relu", "energies")(q.dense(n_outputs, "gen_out")(x))
    return tf.keras.Model(z_in, x, name=name)


def gan_discriminator(n_outputs: int = 64, hidden: Sequence[int] = (32, 16)):
    """Float discriminator for training only: (n_outputs,) -> probability that the sample is real."""
    from tensorflow.keras import layers

    x_in = layers.Input(shape=(n_outputs,), name="sample")
    x = x_in
    for i, w in enumerate(check_widths("hidden", hidden)):
        x = layers.LeakyReLU(0.2, name=f"disc_lrelu_{i}")(layers.Dense(w, name=f"disc_{i}")(x))
    return tf.keras.Model(x_in, layers.Dense(1, activation="sigmoid", name="real")(x), name="discriminator")
