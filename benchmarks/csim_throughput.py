"""The integer emulator against hls4ml's `predict`, side by side on the same converted projects and inputs.

For each model: convert it (`hepfpga convert`'s path: calibrated or quantizer precisions, C-sim check), time
hls4ml `predict` on the compiled firmware (one event per call; the compile is not counted) and the emulator
from the converted project to outputs (reading the project included, nothing compiled), the medians of
3 and 5 runs on the same inputs (timings on this VM vary by up to 50 % from run to run), and check that
their outputs are identical. Then, in a fresh process, 1M jet-MLP events through the emulator, with the
process's peak memory.

Targets (2 cores): emulator >= 30x hls4ml `predict` for the jet MLP, >= 100x for a small CNN (Conv2D jet
tagger class); 1M jet-MLP events under 2 GiB peak; zero differences.

Usage: python benchmarks/csim_throughput.py [--predict-events N] [--emulator-events N]
"""

import argparse
import contextlib
import io
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")
root = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(root / "tests"))

MEMORY_EVENTS = 1_000_000

if len(sys.argv) == 3 and sys.argv[1] == "--memory-run":  # the fresh process of the memory measurement
    import numpy as np

    from hepfpga.csim.bitexact import Emulator

    x = np.random.default_rng(0).standard_normal((MEMORY_EVENTS, 16))
    t0 = time.perf_counter()
    out = Emulator(sys.argv[2]).predict(x, progress=False)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # kB -> GiB
    print(f"{len(out)} {seconds:.2f} {peak:.3f}")
    sys.exit(0)

import numpy as np  # noqa: E402
import reference_models as ref  # noqa: E402

from hepfpga.convert import ConvertOptions, convert_model  # noqa: E402
from hepfpga.csim.bitexact import Emulator  # noqa: E402
from hepfpga.models import build  # noqa: E402
from hepfpga.models.load import load_model  # noqa: E402
from hepfpga.report.tables import markdown  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--predict-events", type=int, default=20_000, help="events through hls4ml predict (MLPs)")
parser.add_argument("--emulator-events", type=int, default=200_000, help="events through the emulator")

CASES = {
    "mlp_qat": ("jet MLP 16-64-32-32-5, QKeras 6-bit (models/jet_tagger_qat.h5)",
                lambda: load_model(root / "models" / "jet_tagger_qat.h5"), 30, 1),
    "mlp_float": ("jet MLP 16-64-32-32-5, float (models/jet_tagger_float.h5)",
                  lambda: load_model(root / "models" / "jet_tagger_float.h5"), 30, 1),
    "cnn2d": ("CNN 16x16x1 jet images, QKeras (zoo cnn2d)",
              lambda: build("cnn", input_shape=(16, 16, 1), conv_filters=(4, 8), dense=(16,), quantized=True), 100, 10),
    "cnn12": ("CNN 12x12x1, QKeras (tests/reference_models)", lambda: ref.build("qkeras_cnn"), 100, 4),
}
parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
args = parser.parse_args()
cases = [(CASES[name][0], CASES[name][1], CASES[name][2], args.predict_events // CASES[name][3], name)
         for name in args.cases]


def median_time(fn, repeat=3):
    """(median seconds of `repeat` calls of fn, its last result)."""
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


rows, failures = [], []
with tempfile.TemporaryDirectory() as tmp:
    peak = None
    for k, (label, make, target, n_predict, name) in enumerate(cases):
        model = make()
        rng = np.random.default_rng(k)
        shape = tuple(model.input_shape[1:])
        calibration = rng.standard_normal((2000, *shape))
        project = Path(tmp) / f"model{k}"
        convert_model(model, project, calibration, options=ConvertOptions(max_events=2000), log=lambda *a: None)
        x = rng.standard_normal((max(n_predict, args.emulator_events), *shape)) * 2

        import hls4ml

        with contextlib.redirect_stdout(io.StringIO()):
            hls_model = hls4ml.converters.link_existing_project(str(project))
            hls_model.compile()
        x_predict = np.ascontiguousarray(x[:n_predict])
        t_predict, reference = median_time(lambda: hls_model.predict(x_predict))
        t_emulator, emulated = median_time(lambda: Emulator(project).predict(x[: args.emulator_events],
                                                                              progress=False), repeat=5)
        differing = int(np.count_nonzero(emulated[:n_predict] != np.asarray(reference).reshape(n_predict, -1)))
        rate_predict, rate_emulator = n_predict / t_predict, args.emulator_events / t_emulator
        ratio = rate_emulator / rate_predict
        rows.append([label, n_predict, f"{rate_predict:,.0f}", args.emulator_events, f"{rate_emulator:,.0f}",
                     f"{ratio:.0f}x", f"≥ {target}x", differing])
        if ratio < target or differing:
            failures.append(label)
        if name == "mlp_qat":
            memory_project = Path(tmp) / "memory"
            os.rename(project, memory_project)
            done = subprocess.run([sys.executable, __file__, "--memory-run", str(memory_project)],
                                  capture_output=True, text=True, check=True)
            events, seconds, peak = done.stdout.split()

print(markdown(["model", "predict events", "hls4ml predict ev/s", "emulator events", "emulator ev/s",
                "speed-up", "target", "values differing"], rows))
if peak is not None:
    print(f"\n{int(events):,} jet-MLP (QKeras) events through the emulator in a fresh process: {float(seconds):.2f} s, "
          f"peak memory {float(peak):.2f} GiB (target < 2 GiB)")
    if float(peak) >= 2:
        failures.append("memory")
print(f"\n{os.cpu_count()} cores; emulator on all of them; hls4ml predict on one (its loop).")
if failures:
    print("targets NOT met for: " + ", ".join(failures))
    sys.exit(1)
