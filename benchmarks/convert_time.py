"""Convert time of a large model: hls4ml's three-layer Conv1D example architecture (100 time steps x 7
features, three Conv1D of 32 filters of width 40 with 'same' padding, Dense 50, Dense 5 softmax; weights
trained here briefly on synthetic data), converted with the default options (1000 traced events, 1000
verified). Prints the wall time of each step and the total.

`--baseline` verifies as hepfpga did before: hls4ml's trace build at its -O3 on all 1000 traced events.

Usage: python benchmarks/convert_time.py [--baseline]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def conv1d_example():
    """The architecture of hls4ml's example KERAS_conv1d model, trained 2 epochs on synthetic series."""
    L = tf.keras.layers
    tf.keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).standard_normal((3000, 100, 7)).astype(np.float32)
    y = (x[:, :50, 0].mean(1) > 0).astype(int) + 2 * (x[:, 50:, 1].mean(1) > 0) + (x[:, :, 2].mean(1) > 0.1)
    inp = L.Input((100, 7), name="input_1")
    h = inp
    for k in (1, 2, 3):
        h = L.Conv1D(32, 40, padding="same", activation="relu", name=f"conv{k}_relu")(h)
    h = L.Dense(50, activation="relu", name="fc1_relu")(L.Flatten(name="flatten_1")(h))
    model = tf.keras.Model(inp, L.Dense(5, activation="softmax", name="output_softmax")(h), name="model_1")
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x[:2000], y[:2000], epochs=2, verbose=0)
    return model, x[:1000], x[1000:2000]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", action="store_true", help="hls4ml's -O3 trace build on all traced events")
    args = parser.parse_args()
    from hepfpga.convert import convert_model
    from hepfpga.csim import verify

    if args.baseline:
        verify.CHECK_OPTIMISATION, verify.CHECK_PRODUCTS = None, 10**15
    model, calibration, validation = conv1d_example()
    print(f"model: {model.count_params()} parameters, {len(calibration)} calibration and {len(validation)} "
          f"validation events; {os.cpu_count()} cores")
    t0 = time.perf_counter()

    def log(*parts):
        text = " ".join(str(p) for p in parts)
        if text.strip().startswith(("[", "compiling", "done", "note")) or "..." in text:
            print(f"[{time.perf_counter() - t0:6.1f} s] {text.strip()}", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        report = convert_model(model, Path(tmp) / "prj", calibration, validation, log=log)
    total = time.perf_counter() - t0
    engine = report["engine"]
    print(f"convert: {total:.0f} s in all ({'baseline' if args.baseline else 'default'}); argmax agreement "
          f"{100 * report['agreement']['argmax_agreement']:.2f} %; engine {engine['engine']}, "
          f"{engine.get('checked_events', engine['traced_events'])} events checked against the C++, "
          f"{engine.get('values_differing', 0)} values differing")


if __name__ == "__main__":
    main()
