"""Diffusion on the synthetic jets: generated feature distributions of the float, QKeras and firmware
denoisers against held-out jets, and the latency of sampling with the firmware denoiser.

A denoiser MLP (16 features + 8 time features -> 64 -> 64 -> 16) is trained on the 16 standardised jet
features (cosine schedule, 100 steps), its QKeras twin fine-tuned from it; both are converted (`convert_model`,
verified) and sampled with the same noise by Keras and by the firmware (the integer emulator, one call per
step), with DDPM (100 steps) and DDIM (10 steps). Prints per sampler the mean per-feature 1-Wasserstein
distance to held-out jets, the smallest per-feature KS p-value of firmware against Keras samples, and
the estimated latency per denoiser call and per generated event.

Targets: firmware samples indistinguishable from Keras samples (per-feature KS p > 0.01); the QKeras
denoiser's distance within 10 % of the float denoiser's.

Usage: python benchmarks/diffusion_quality.py [--events N] [--samples N] [--epochs N]
"""

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from hepfpga.compress import quantize  # noqa: E402
from hepfpga.convert import ConvertOptions, convert_model  # noqa: E402
from hepfpga.csim.bitexact import Emulator  # noqa: E402
from hepfpga.data import JET_FEATURES, make_jets  # noqa: E402
from hepfpga.estimate import estimate_project  # noqa: E402
from hepfpga.models import build  # noqa: E402
from hepfpga.models.diffusion import NoiseSchedule, denoiser_inputs, distribution_distances, sample  # noqa: E402
from hepfpga.report.tables import markdown  # noqa: E402
from hepfpga.train import fit_diffusion  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--events", type=int, default=40_000)
parser.add_argument("--samples", type=int, default=5_000)
parser.add_argument("--epochs", type=int, default=60)
args = parser.parse_args()

import tensorflow as tf  # noqa: E402

tf.keras.utils.set_random_seed(1)
d = make_jets(args.events + args.samples, seed=11)
x = np.stack([d[f] for f in JET_FEATURES], 1).astype(np.float64)
x = ((x - x.mean(0)) / x.std(0)).astype(np.float32)
x_train, held_out = x[: args.events], x[args.events:]
schedule, time_features = NoiseSchedule(steps=100), 8
arch = dict(n_features=16, hidden=(64, 64), time_features=time_features)
t0 = time.perf_counter()
model = build("diffusion", **arch)
fit_diffusion(model, x_train, schedule, time_features, epochs=args.epochs, batch_size=256, verbose=0, seed=1)
qmodel = quantize.quantize(model, "diffusion", arch)
fit_diffusion(qmodel, x_train, schedule, time_features, epochs=args.epochs // 3, batch_size=256,
              learning_rate=3e-4, verbose=0, seed=2)
print(f"training: {time.perf_counter() - t0:.0f} s")

rng = np.random.default_rng(5)
calibration = []  # denoiser inputs across all steps
for t in np.linspace(1, schedule.steps, 10).astype(int):
    noisy = schedule.noisy(x_train[:300], np.full(300, t), rng.standard_normal((300, 16)))
    calibration.append(denoiser_inputs(noisy, t, schedule.steps, time_features))
calibration = np.concatenate(calibration)
rows, latency_rows, checks = [], [], []
with tempfile.TemporaryDirectory() as tmp:
    distances = {}
    for name, m in (("float", model), ("QKeras", qmodel)):
        report = convert_model(m, Path(tmp) / name, calibration, options=ConvertOptions(max_events=3000),
                               log=lambda *a: None)
        firmware = Emulator(Path(tmp) / name)
        total = estimate_project(Path(tmp) / name)["total"]
        for method, steps in (("ddpm", schedule.steps), ("ddim", 10)):
            t1 = time.perf_counter()
            keras = sample(lambda a: m.predict(a, batch_size=8192, verbose=0), schedule, (16,), args.samples,
                           time_features, method=method, steps=steps, seed=3)
            t_keras = time.perf_counter() - t1
            t1 = time.perf_counter()
            fw = sample(firmware.predict, schedule, (16,), args.samples, time_features, method=method, steps=steps,
                        seed=3)
            t_fw = time.perf_counter() - t1
            w_keras = float(np.mean(distribution_distances(keras, held_out)["wasserstein"]))
            w_fw = float(np.mean(distribution_distances(fw, held_out)["wasserstein"]))
            ks_p = min(distribution_distances(fw, keras)["ks_p"])
            distances[(name, method)] = w_keras
            rows.append([name, method, steps, f"{w_keras:.4f}", f"{w_fw:.4f}", f"{ks_p:.3f}",
                         f"{t_keras:.1f}", f"{t_fw:.1f}"])
            latency_rows.append([name, method, steps, total["latency_cycles"], f"{total['latency_ns']:g}",
                                 total["interval"], f"{steps * total['latency_ns']:g}", total["dsp"], total["lut"]])
            checks.append(ks_p > 0.01)
        print(f"{name}: converted, argmax n/a, max |Δ| {100 * report['agreement']['relative_max_abs_diff']:.3f} % of "
              "the output range")

noise = float(np.mean(distribution_distances(np.random.default_rng(0).standard_normal(held_out.shape),
                                             held_out)["wasserstein"]))
print(markdown(["denoiser", "sampler", "steps", "W1 Keras vs data", "W1 firmware vs data",
                "min KS p firmware vs Keras", "Keras s", "firmware s"], rows))
print(f"(for scale: W1 of N(0, 1) noise against the data: {noise:.4f})")
print(markdown(["denoiser", "sampler", "steps", "latency per call (cycles)", "per call (ns)", "II",
                "per generated event (ns)", "DSP", "LUT"], latency_rows))
ratio = {m: distances[("QKeras", m)] / distances[("float", m)] for m in ("ddpm", "ddim")}
print("QKeras / float distance to data: " + ", ".join(f"{m} {r:.3f}" for m, r in ratio.items()) +
      " (target <= 1.1)")
ok = all(checks) and all(r <= 1.1 for r in ratio.values())
print("targets " + ("met" if ok else "NOT met"))
sys.exit(0 if ok else 1)
