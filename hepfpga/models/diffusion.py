"""Diffusion models (DDPM): a time-conditioned denoiser, its noise schedule and two samplers.

A diffusion model learns to undo a chain of small Gaussian-noise steps. Training draws a step t and noise
eps and teaches the denoiser to predict eps from x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps; sampling
starts from pure noise and applies the denoiser once per step, from t = T down to 1.

The firmware part is the denoiser, called once per step. Its input is the noisy sample with the embedding
of the step appended (`denoiser_inputs`: sinusoids of t/T, computed on the host, the same for every event
of a step), so it is an ordinary one-input network hls4ml converts: an MLP for feature vectors, a small
convolutional network for images (the embedding as extra channels). Its output is the predicted noise.

The samplers take the denoiser as a function of its input array, so the same loop runs a Keras model, a
QKeras model or the firmware (`hepfpga.csim.bitexact.Emulator(project).predict`), with the same noise:
`sample(..., method="ddpm")` is ancestral DDPM sampling (Ho et al. 2020, one call per step);
`method="ddim"` the deterministic DDIM sampler (Song et al. 2021) on a few evenly spaced steps, for when
every step costs latency.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hepfpga.errors import ConfigError
from hepfpga.models import register
from hepfpga.models.common import Layers, check_positive, check_widths

#: Name of the denoiser's output layer (the predicted noise).
NOISE_LAYER = "noise"


@dataclass(frozen=True)
class NoiseSchedule:
    """The forward process: `steps` noise steps with the cosine schedule of Nichol & Dhariwal (2021),
    alpha-bar(t) = cos^2(((t / T) + s) / (1 + s) * pi / 2), normalised to 1 at t = 0, betas capped at
    `max_beta`. The paper's cap, 0.999, makes the last ancestral step divide the denoiser's error by
    sqrt(1 - 0.999): samples of a trained jet denoiser then leave the data by tens of standard deviations
    (benchmarks/diffusion_quality.py). The default 0.5 caps the last 3 steps and leaves sqrt(abar_T) =
    0.03 (T = 50) or 0.017 (T = 100) of the signal."""

    steps: int = 100
    offset: float = 0.008
    max_beta: float = 0.5

    def __post_init__(self):
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ConfigError(f"the number of diffusion steps must be a positive integer, got {self.steps!r}")
        if not 0 < self.max_beta < 1:
            raise ConfigError(f"max_beta must be in (0, 1), got {self.max_beta!r}")

    def alpha_bar(self) -> np.ndarray:
        """abar_t for t = 0..T (abar_0 = 1)."""
        t = np.arange(self.steps + 1) / self.steps
        f = np.cos((t + self.offset) / (1 + self.offset) * math.pi / 2) ** 2
        abar = f / f[0]
        betas = np.minimum(1 - abar[1:] / abar[:-1], self.max_beta)
        return np.concatenate([[1.0], np.cumprod(1 - betas)])

    def betas(self) -> np.ndarray:
        """beta_t for t = 1..T (index 0 is step 1)."""
        abar = self.alpha_bar()
        return 1 - abar[1:] / abar[:-1]

    def noisy(self, x0: np.ndarray, t: np.ndarray, eps: np.ndarray) -> np.ndarray:
        """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps, for one step t per event."""
        abar = self.alpha_bar()[t].reshape(-1, *([1] * (x0.ndim - 1)))
        return np.sqrt(abar) * x0 + np.sqrt(1 - abar) * eps


#: What the denoiser predicts: "v" = sqrt(abar) eps - sqrt(1 - abar) x0 (Salimans & Ho 2022), or "eps", the noise.
TARGETS = ("v", "eps")


def check_target(target: str) -> None:
    if target not in TARGETS:
        raise ConfigError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")


def training_target(x0: np.ndarray, eps: np.ndarray, abar: np.ndarray, target: str = "v") -> np.ndarray:
    """What the denoiser learns to output for x_t = sqrt(abar) x0 + sqrt(1 - abar) eps (abar broadcast)."""
    check_target(target)
    return eps if target == "eps" else np.sqrt(abar) * eps - np.sqrt(1 - abar) * x0


def decode(output: np.ndarray, x_t: np.ndarray, abar: float, target: str = "v") -> tuple[np.ndarray, np.ndarray]:
    """(x0, eps) that the denoiser's `output` at x_t implies. With "eps", x0 = (x_t - sqrt(1 - abar) eps) /
    sqrt(abar) multiplies the denoiser's error by up to 1 / sqrt(abar_T) (60 at T = 100) in the noisiest steps;
    with "v", x0 = sqrt(abar) x_t - sqrt(1 - abar) v never amplifies it, which few-step samplers need."""
    check_target(target)
    if target == "eps":
        return (x_t - np.sqrt(1 - abar) * output) / np.sqrt(abar), output
    return np.sqrt(abar) * x_t - np.sqrt(1 - abar) * output, np.sqrt(1 - abar) * x_t + np.sqrt(abar) * output


def time_embedding(t: np.ndarray, steps: int, size: int) -> np.ndarray:
    """Sinusoidal features of the step (N,) -> (N, size): sin and cos of pi (t / T) f, f = 1, 2, 4, ...
    The lowest pair turns half a circle over the chain, so every step 0..T has its own embedding (a whole
    circle would give t = 0 and t = T, data and pure noise, the same features)."""
    if size < 2 or size % 2:
        raise ConfigError(f"time_features must be an even number >= 2, got {size}")
    freq = 2.0 ** np.arange(size // 2)
    phase = math.pi * (np.asarray(t, np.float64)[:, None] / steps) * freq[None]
    return np.concatenate([np.sin(phase), np.cos(phase)], axis=1).astype(np.float32)


def denoiser_inputs(x_t: np.ndarray, t, steps: int, time_features: int) -> np.ndarray:
    """The denoiser's input for samples x_t (N, features) or (N, H, W, 1) at step t (an int or (N,) ints):
    the time embedding appended as features, or as channels of every pixel."""
    t = np.broadcast_to(np.asarray(t), (len(x_t),))
    emb = time_embedding(t, steps, time_features)
    if x_t.ndim == 2:
        return np.concatenate([x_t, emb], axis=1).astype(np.float32)
    tiles = np.broadcast_to(emb[:, None, None, :], (*x_t.shape[:-1], time_features))
    return np.concatenate([x_t, tiles], axis=-1).astype(np.float32)


@register("diffusion")
def diffusion(
    n_features: int = 16,
    hidden: Sequence[int] = (64, 64),
    time_features: int = 8,
    image_shape: Sequence[int] | None = None,
    conv_filters: Sequence[int] = (8, 8),
    kernel_size: int = 3,
    quantized: bool = False,
    weight_bits: int = 8,
    weight_integer: int = 1,
    activation_bits: int = 10,
    activation_integer: int = 3,
    input_bits: int = 16,
    input_integer: int = 3,
    name: str = "denoiser",
):
    """Time-conditioned denoiser of a diffusion model: (noisy sample, step embedding) -> predicted noise.

    Feature vectors: an MLP, input (n_features + time_features,), ReLU hidden layers `hidden`, output
    (n_features,). Images (`image_shape` = (H, W)): input (H, W, 1 + time_features), 'same' Conv2D + ReLU
    layers `conv_filters`, output a Conv2D to (H, W, 1). The output layer is linear and named "noise".
    QKeras form: `weight_bits`-bit weights, `quantized_relu(activation_bits, activation_integer)`, an input
    quantizer `quantized_bits(input_bits, input_integer)` (inputs within +-2**input_integer)."""
    import tensorflow as tf
    from tensorflow.keras import layers

    check_positive("time_features", time_features)
    time_embedding(np.zeros(1), 1, time_features)  # checks it is even
    q = Layers(quantized, weight_bits, weight_integer, activation_bits, activation_integer, input_bits, input_integer)
    if image_shape is None:
        check_positive("n_features", n_features)
        x_in = layers.Input(shape=(n_features + time_features,), name="inputs")
        x = q.input(x_in)
        for i, width in enumerate(check_widths("hidden", hidden)):
            x = q.activation("relu", f"relu_{i}")(q.dense(width, f"dense_{i}")(x))
        out = q.dense(n_features, NOISE_LAYER)(x)
    else:
        shape = tuple(image_shape)
        if len(shape) != 2 or any(not isinstance(d, int) or d < 1 for d in shape):
            raise ConfigError(f"image_shape must be (height, width) of positive integers, got {image_shape!r}")
        check_positive("kernel_size", kernel_size)
        x_in = layers.Input(shape=(*shape, 1 + time_features), name="inputs")
        x = q.input(x_in)
        for i, f in enumerate(check_widths("conv_filters", conv_filters)):
            x = q.activation("relu", f"relu_{i}")(q.conv(2, f, kernel_size, f"conv_{i}", padding="same")(x))
        out = q.conv(2, 1, kernel_size, NOISE_LAYER, padding="same")(x)
    return tf.keras.Model(x_in, out, name=name)


def sample(denoise: Callable[[np.ndarray], np.ndarray], schedule: NoiseSchedule, shape: Sequence[int], n: int,
           time_features: int = 8, method: str = "ddpm", steps: int | None = None, seed: int = 0,
           record: list | None = None, clip: float | None = 5.0, target: str = "v") -> np.ndarray:
    """n samples (n, *shape) from the denoiser `denoise` (denoiser input array -> its output, which predicts
    `target`: "v" or the noise "eps", as it was trained by `hepfpga.train.fit_diffusion`).

    `method` "ddpm": ancestral sampling over every step, x_{t-1} = the posterior mean given x_t and the
    predicted x0 (`decode`), plus sqrt(beta_t~) z; "ddim": the deterministic sampler on `steps` evenly
    spaced steps. The predicted x0 is clipped to [-clip, clip] (None: not clipped), as the reference DDPM
    sampler does, so that no step sends a sample far off (data standardised to unit variance: the default 5
    keeps every plausible x0).
    The starting noise and every z come from `seed` in a fixed order, so two denoisers sampled with one
    seed see the same noise. With `record` (a list), each step's (t, denoiser input, output) is appended."""
    if method not in ("ddpm", "ddim"):
        raise ConfigError(f"method must be 'ddpm' or 'ddim', got {method!r}")
    check_target(target)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, *shape))
    abar = schedule.alpha_bar()
    T = schedule.steps
    if method == "ddpm":
        ts = list(range(T, 0, -1))
    else:
        count = steps or min(T, 10)
        if not 1 <= count <= T:
            raise ConfigError(f"steps must be in [1, {T}] for a schedule of {T} steps, got {count}")
        ts = sorted({int(round(v)) for v in np.linspace(T, 1, count)}, reverse=True)
    for k, t in enumerate(ts):
        inputs = denoiser_inputs(x, t, T, time_features)
        out = np.asarray(denoise(inputs), dtype=np.float64).reshape(x.shape)
        if record is not None:
            record.append((t, inputs, out))
        x0, eps = decode(out, x, abar[t], target)
        if clip is not None:
            x0 = np.clip(x0, -clip, clip)
            eps = (x - np.sqrt(abar[t]) * x0) / np.sqrt(1 - abar[t])  # the noise that x0 implies
        if method == "ddpm":
            beta = 1 - abar[t] / abar[t - 1]
            mean = (np.sqrt(abar[t - 1]) * beta * x0 + np.sqrt(1 - beta) * (1 - abar[t - 1]) * x) / (1 - abar[t])
            noise = rng.standard_normal(x.shape)
            var = beta * (1 - abar[t - 1]) / (1 - abar[t])  # the posterior variance, beta~_t
            x = mean + (np.sqrt(var) * noise if t > 1 else 0.0)
        else:
            previous = ts[k + 1] if k + 1 < len(ts) else 0
            x = np.sqrt(abar[previous]) * x0 + np.sqrt(1 - abar[previous]) * eps
    return x


def distribution_distances(generated: np.ndarray, real: np.ndarray) -> dict[str, list[float]]:
    """Per feature (last axis): the 1-Wasserstein distance and the two-sample Kolmogorov-Smirnov statistic
    and p-value between generated (N, F) and real (M, F) samples (scipy.stats)."""
    from scipy import stats

    g, r = np.asarray(generated).reshape(len(generated), -1), np.asarray(real).reshape(len(real), -1)
    out: dict[str, list[float]] = {"wasserstein": [], "ks": [], "ks_p": []}
    for j in range(g.shape[1]):
        ks = stats.ks_2samp(g[:, j], r[:, j])
        out["wasserstein"].append(float(stats.wasserstein_distance(g[:, j], r[:, j])))
        out["ks"].append(float(ks.statistic))
        out["ks_p"].append(float(ks.pvalue))
    return out
