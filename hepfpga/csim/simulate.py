"""`hepfpga csim`: C-simulate an existing project on data and compare it with the project's Keras model."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from hepfpga.data import check_finite
from hepfpga.errors import DataError
from hepfpga.project import RESULTS, project_input_type, project_model
from hepfpga.report import metrics


def firmware_outputs(project_dir: Path, x, engine: str = "emulate", jobs: int | None = None,
                     log=print, progress: bool | None = None) -> tuple[np.ndarray, dict]:
    """Firmware outputs (N, n_out) of project `project_dir` for float64 inputs `x` (N, *shape), computed by
    `engine` (`hepfpga.options.ENGINES`): "emulate" falls back to "cxx" with a one-line notice where the
    emulator does not cover a layer. Returns (outputs, {"engine": the engine that ran, "notice"?})."""
    from hepfpga.csim.bitexact import Emulator, NotCovered
    from hepfpga.csim.fast import BatchEmulator
    from hepfpga.csim.testbench import run_testbench

    info: dict = {"engine": engine}
    if engine == "emulate":
        try:
            return Emulator(project_dir).predict(x, jobs=jobs, progress=progress), info
        except NotCovered as err:
            info = {"engine": "cxx", "notice": f"{err}; running the compiled firmware (g++) instead"}
            log(f"note: {info['notice']}")
    if info["engine"] == "cxx":
        return BatchEmulator(project_dir, log=log).predict(x, jobs=jobs, progress=progress is not False), info
    return run_testbench(project_dir, x, log=log), info


def csim_project(project_dir: str | Path, x: np.ndarray, engine: str = "emulate", jobs: int | None = None,
                 testbench: bool = False, testbench_events: int = 1000, log=print) -> dict:
    """C-simulate an existing hls4ml project on inputs `x` (N, *input_shape) and compare with Keras.

    The Keras model is the one stored in the project (`project_model`). Inputs are put on the firmware
    input grid first, so both see the same values. `engine` computes the firmware outputs of every event
    (`firmware_outputs`; `jobs` threads, default all cores); with `testbench`, the project's own HLS
    testbench (g++) runs the first `testbench_events` events too and must agree with the engine at the
    precision it prints. The report is saved as `<project>/hepfpga/csim.json` and returned, with the
    firmware outputs (N, n_out) added under "firmware_outputs".
    """
    from hepfpga.compress.quantize import firmware_inputs
    from hepfpga.csim.testbench import as_printed, run_testbench
    from hepfpga.models.load import load_model
    from hepfpga.report.summaries import csim_summary

    project_dir = Path(project_dir)
    model = load_model(project_model(project_dir))
    shape = tuple(model.input_shape[1:])
    if tuple(x.shape[1:]) != shape:
        raise DataError(f"data has shape {x.shape}; the model in {project_dir} expects "
                        f"(N, {', '.join(map(str, shape))})")
    check_finite(x, "C-sim input data")
    x = firmware_inputs(model, x, [project_input_type(project_dir)])
    t0 = time.perf_counter()
    fw, info = firmware_outputs(project_dir, x.astype(np.float64), engine, jobs, log)
    seconds = time.perf_counter() - t0
    keras_out = model.predict(x, batch_size=1024, verbose=0).reshape(len(x), -1)
    fw = fw.reshape(keras_out.shape)
    report = {"project": str(project_dir), "events": int(len(x)), **info, "events_per_s": len(x) / seconds,
              "agreement": metrics.agreement(keras_out, fw)}
    if testbench:
        n = min(testbench_events, len(x))
        tb = run_testbench(project_dir, x[:n], keras_out[:n], log=log)
        differing = int(np.count_nonzero(tb != as_printed(fw[:n])))
        report["testbench"] = {"events": n, "values_differing_from_engine": differing,
                               "agreement_with_keras": metrics.agreement(keras_out[:n], tb)}
    results = project_dir / RESULTS
    results.mkdir(exist_ok=True)
    (results / "csim.json").write_text(json.dumps(report, indent=1))
    log("\n" + csim_summary(report))
    report["firmware_outputs"] = fw
    return report
