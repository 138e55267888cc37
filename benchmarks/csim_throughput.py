"""Fast batched emulation vs hls4ml `predict`, side by side on the same compiled model.

Targets (2 cores): >= 2.5x for the 16-64-32-32-5 jet-tagger MLP, >= 1.7x for a small CNN, with
identical outputs. Each timing is the median of 3 runs.

Usage: python benchmarks/csim_throughput.py [--events N]
"""

import argparse
import contextlib
import io
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")
root = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(root / "tests"))

import numpy as np  # noqa: E402
import reference_models as ref  # noqa: E402

from hepfpga.convert import write_project  # noqa: E402
from hepfpga.csim.fast import BatchEmulator  # noqa: E402
from hepfpga.models.load import load_model  # noqa: E402
from hepfpga.report.tables import markdown  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--events", type=int, default=20_000)
parser.add_argument("--cnn-events", type=int, default=2_000)
args = parser.parse_args()


def median_time(fn, repeat=3):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


rows = []
with tempfile.TemporaryDirectory() as tmp:
    cases = [("jet MLP 16-64-32-32-5 (QKeras, 6-bit)", load_model(root / "models" / "jet_tagger_qat.h5"), args.events),
             ("small CNN 12x12x1 (QKeras)", ref.build("qkeras_cnn"), args.cnn_events)]
    for label, model, n in cases:
        x = np.random.default_rng(0).standard_normal((n, *model.input_shape[1:]))
        with contextlib.redirect_stdout(io.StringIO()):
            hls_model = write_project(model, Path(tmp) / label.split()[0] / label.split()[1])
            hls_model.compile()
        fast = BatchEmulator(hls_model.config.get_output_dir(), log=lambda *a: None)
        t_ref, ref_out = median_time(lambda: hls_model.predict(np.ascontiguousarray(x)))
        t_one, one_out = median_time(lambda: fast.predict(x, jobs=1, progress=False))
        t_all, all_out = median_time(lambda: fast.predict(x, progress=False))
        same = np.array_equal(ref_out.reshape(one_out.shape), one_out) and np.array_equal(one_out, all_out)
        rows.append([label, n, f"{n / t_ref:.0f}", f"{n / t_one:.0f}", f"{n / t_all:.0f}",
                     f"{t_ref / t_one:.2f}x", f"{t_ref / t_all:.2f}x", "yes" if same else "NO"])

print(markdown(["model", "events", "hls4ml predict ev/s", "fast, 1 thread ev/s", f"fast, {os.cpu_count()} threads ev/s",
                "ratio 1 thread", "ratio all cores", "identical outputs"], rows))
