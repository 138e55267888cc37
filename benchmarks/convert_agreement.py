"""Firmware-vs-Keras argmax agreement: hepfpga convert against hls4ml's defaults, on eight model styles.

Each model (tests/reference_models.py) is trained briefly on synthetic data, then converted twice:
with hls4ml's defaults (`config_from_keras_model`, granularity='model', fixed<16,6>) and with
`hepfpga.convert_model` (calibrated on N(0,1) inputs, closed-loop refinement on). Both are C-simulated
with g++ on the same 2000 N(0,1) events. Prints a table: a conversion that raises is listed with its error.

Usage: python benchmarks/convert_agreement.py
"""

import contextlib
import io
import os
import sys
import tempfile
import warnings
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
warnings.filterwarnings("ignore")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import hls4ml  # noqa: E402
import numpy as np  # noqa: E402
import reference_models as ref  # noqa: E402

from hepfpga.convert import ConvertOptions, convert_model  # noqa: E402
from hepfpga.data import random_inputs  # noqa: E402
from hepfpga.report.tables import markdown  # noqa: E402

rows = []
jets, images = ref.jets(), ref.images()
with tempfile.TemporaryDirectory() as tmp:
    for kind in ref.KINDS:
        model = ref.train(kind, jets, images)
        x = random_inputs(model.input_shape[1:], 2000, seed=1)
        keras_out = model.predict(x, verbose=0)
        try:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                cfg = hls4ml.utils.config_from_keras_model(model, granularity="model", backend="Vitis")
                default = hls4ml.converters.convert_from_keras_model(model, hls_config=cfg, backend="Vitis",
                                                                     output_dir=f"{tmp}/{kind}_default")
                default.compile()
                default_out = default.predict(np.ascontiguousarray(x, dtype=np.float64)).reshape(keras_out.shape)
            default_agreement = f"{100 * float(np.mean(default_out.argmax(1) == keras_out.argmax(1))):.2f}"
        except Exception as err:  # noqa: BLE001 - what a user of hls4ml's defaults meets
            default_agreement = f"fails ({type(err).__name__}: {str(err).splitlines()[0][:60]})"
        report = convert_model(model, f"{tmp}/{kind}", x, options=ConvertOptions(max_events=2000),
                               log=lambda *a: None)
        pre = report["pre_softmax"]
        steps = report.get("refinements", [])
        refined = " → ".join([f"{100 * steps[0]['before']['argmax_agreement']:.2f}"]
                             + [f"{100 * r['after']['argmax_agreement']:.2f}" for r in steps]) if steps else "none"
        rows.append([kind, default_agreement, f"{100 * report['agreement']['argmax_agreement']:.2f}", refined,
                     pre["mismatching_values"] if pre else "-", pre["max_abs_diff"] if pre else "-"])
        print(f"{kind}: done", file=sys.stderr)

print(markdown(["model", "hls4ml defaults: argmax agreement %", "hepfpga convert: argmax agreement %",
                "refinements (agreement % per build)", "hepfpga: pre-softmax values differing",
                "hepfpga: pre-softmax max |Δ|"], rows))
