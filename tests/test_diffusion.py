"""Diffusion models: schedule, samplers, and a denoiser trained on a 2D ring, converted, and sampled with the
firmware in the loop (the integer emulator, one call per step)."""

import numpy as np
import pytest
import tensorflow as tf

from hepfpga.compress import quantize
from hepfpga.convert import ConvertOptions, convert_model
from hepfpga.csim.bitexact import Emulator
from hepfpga.errors import ConfigError
from hepfpga.models import build
from hepfpga.models.diffusion import NoiseSchedule, denoiser_inputs, distribution_distances, sample, time_embedding
from hepfpga.train import fit_diffusion

SCHEDULE = NoiseSchedule(steps=50)
TIME = 8


def ring(n: int, seed: int) -> np.ndarray:
    """Points on a circle of radius 2 with Gaussian width 0.1: (n, 2)."""
    rng = np.random.default_rng(seed)
    phi = rng.uniform(0, 2 * np.pi, n)
    r = 2 + 0.1 * rng.standard_normal(n)
    return np.stack([r * np.cos(phi), r * np.sin(phi)], 1).astype(np.float32)


def test_schedule_and_embedding():
    abar = SCHEDULE.alpha_bar()
    assert abar[0] == 1 and np.all(np.diff(abar) < 0) and np.sqrt(abar[-1]) < 0.05  # data to (almost) pure noise
    assert np.all((SCHEDULE.betas() > 0) & (SCHEDULE.betas() <= 0.5))
    x0 = np.ones((4, 3))
    eps = np.zeros((4, 3))
    np.testing.assert_allclose(SCHEDULE.noisy(x0, np.array([0, 0, 50, 50]), eps)[:, 0],
                               np.sqrt(abar[[0, 0, 50, 50]]))
    emb = time_embedding(np.arange(51), 50, 8)
    assert emb.shape == (51, 8) and np.abs(emb).max() <= 1
    assert min(np.abs(emb[i] - emb[j]).max() for i in range(51) for j in range(i)) > 0.05  # every step its own
    assert denoiser_inputs(np.zeros((5, 2)), 7, 50, 8).shape == (5, 10)
    assert denoiser_inputs(np.zeros((5, 4, 4, 1)), 7, 50, 8).shape == (5, 4, 4, 9)
    with pytest.raises(ConfigError, match="even number"):
        time_embedding(np.zeros(1), 10, 3)
    with pytest.raises(ConfigError, match="positive integer"):
        NoiseSchedule(steps=0)


def test_samplers_with_a_perfect_denoiser():
    """Data all at one point c: the exact noise prediction is (x_t - sqrt(abar) c) / sqrt(1 - abar); both
    samplers then return c (DDPM up to its last tiny noise step, DDIM exactly)."""
    c = np.array([1.5, -0.5])
    abar = SCHEDULE.alpha_bar()

    def perfect(inputs):
        x, emb = inputs[:, :2], inputs[:, 2:]
        t = int(round(np.arctan2(emb[0, 0], emb[0, TIME // 2]) / np.pi * SCHEDULE.steps))
        return (x - np.sqrt(abar[t]) * c) / np.sqrt(1 - abar[t])

    for method in ("ddpm", "ddim"):
        out = sample(perfect, SCHEDULE, (2,), 200, TIME, method=method, steps=10, seed=1, target="eps")
        np.testing.assert_allclose(out, np.broadcast_to(c, out.shape), atol=0.05 if method == "ddpm" else 1e-9)
    # The same denoiser predicting v = sqrt(abar) eps - sqrt(1 - abar) x0 = (sqrt(abar) x - c) / sqrt(1 - abar).
    def perfect_v(inputs):
        t = int(round(np.arctan2(inputs[0, 2], inputs[0, 2 + TIME // 2]) / np.pi * SCHEDULE.steps))
        return (np.sqrt(abar[t]) * inputs[:, :2] - c) / np.sqrt(1 - abar[t])

    for method in ("ddpm", "ddim"):
        out = sample(perfect_v, SCHEDULE, (2,), 200, TIME, method=method, steps=10, seed=1)
        # (v reads x from the float32 denoiser input: exact to float32 precision)
        np.testing.assert_allclose(out, np.broadcast_to(c, out.shape), atol=0.05 if method == "ddpm" else 1e-6)
    with pytest.raises(ConfigError, match="method"):
        sample(perfect, SCHEDULE, (2,), 2, TIME, method="euler")
    with pytest.raises(ConfigError, match="target must be one of v, eps"):
        sample(perfect, SCHEDULE, (2,), 2, TIME, target="x0")


@pytest.fixture(scope="module")
def ring_models():
    """Float and QKeras denoisers trained on the ring (the QKeras one fine-tuned from the float weights)."""
    x = ring(6000, 0)
    tf.keras.utils.set_random_seed(7)
    model = build("diffusion", n_features=2, hidden=(64, 64), time_features=TIME)
    fit_diffusion(model, x, SCHEDULE, TIME, epochs=60, batch_size=128, verbose=0, seed=1)
    qmodel = quantize.quantize(model, "diffusion", dict(n_features=2, hidden=(64, 64), time_features=TIME))
    fit_diffusion(qmodel, x, SCHEDULE, TIME, epochs=15, batch_size=128, learning_rate=3e-4, verbose=0, seed=2)
    return model, qmodel


@pytest.mark.csim
def test_ring_sampled_with_the_firmware_in_the_loop(ring_models, tmp_path):
    """Keras float and QKeras samplers reproduce the ring; the firmware denoisers (each converted and
    verified) sampled with the same noise give samples the Keras samplers' cannot be told from (per-feature
    KS p > 0.01), and every step's firmware noise prediction is within 1 % of its range of the Keras one."""
    model, qmodel = ring_models
    held_out = ring(2000, 9)
    calibration = []
    for t in np.linspace(1, SCHEDULE.steps, 10).astype(int):  # inputs across all steps
        noisy = SCHEDULE.noisy(held_out[:200], np.full(200, t), np.random.default_rng(t).standard_normal((200, 2)))
        calibration.append(denoiser_inputs(noisy, t, SCHEDULE.steps, TIME))
    calibration = np.concatenate(calibration)
    distances = {}
    for name, m in (("float", model), ("qkeras", qmodel)):
        report = convert_model(m, tmp_path / name, calibration, options=ConvertOptions(max_events=2000),
                               log=lambda *a: None)
        assert report["passed"] and report["agreement"]["relative_max_abs_diff"] <= 0.01
        firmware = Emulator(tmp_path / name)
        keras_record, firmware_record = [], []
        keras_samples = sample(lambda a: m.predict(a, batch_size=4096, verbose=0), SCHEDULE, (2,), 2000, TIME,
                               seed=3, record=keras_record)
        firmware_samples = sample(firmware.predict, SCHEDULE, (2,), 2000, TIME, seed=3, record=firmware_record)
        assert min(distribution_distances(firmware_samples, keras_samples)["ks_p"]) > 0.01
        for t, inputs, eps in keras_record:  # the firmware on the Keras trajectory, step by step
            fw = firmware.predict(inputs)
            assert np.abs(fw - eps).max() <= 0.01 * (eps.max() - eps.min()), f"step {t}"
        radius = np.hypot(*keras_samples.T)
        assert abs(np.median(radius) - 2) < 0.2, "the sampler does not reproduce the ring"
        distances[name] = np.mean(distribution_distances(keras_samples, held_out)["wasserstein"])
        ddim = sample(firmware.predict, SCHEDULE, (2,), 2000, TIME, method="ddim", steps=10, seed=3)
        assert abs(np.median(np.hypot(*ddim.T)) - 2) < 0.3  # a few-step sampler, with the firmware
    # The QKeras denoiser generates as well as the float one, within 10 % of its distance to the data.
    assert distances["qkeras"] <= 1.1 * distances["float"], distances


def test_image_denoiser_builds_and_predicts_noise_shape():
    model = build("diffusion", image_shape=(8, 8), conv_filters=(4, 4), time_features=4)
    assert model.input_shape == (None, 8, 8, 5) and model.output_shape == (None, 8, 8, 1)
    q = build("diffusion", image_shape=(8, 8), conv_filters=(4, 4), time_features=4, quantized=True)
    assert [layer.name for layer in q.layers][-1] == "noise"
    with pytest.raises(ConfigError, match="image_shape"):
        build("diffusion", image_shape=(8,))
