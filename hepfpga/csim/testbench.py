"""The project's own HLS testbench (`myproject_test.cpp`), compiled with g++: vendor C-sim without the vendor.

Vitis/Vivado `csim_design` compiles the same testbench against the same firmware sources and runs it in
the project folder: it reads `tb_data/tb_input_features.dat` and `tb_data/tb_output_predictions.dat`
(one event per line) and writes the firmware outputs to `tb_data/csim_results.log`. Here g++ does the
compiling, with the ap_types headers hls4ml ships in `firmware/ap_types`.

Files this step owns (and overwrites): the three `tb_data` files above and `hepfpga/testbench`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from hepfpga.csim.emulate import cxx_std_flag, require_compiler
from hepfpga.data import check_finite
from hepfpga.errors import CompilerError, DataError, error_lines


def _project_name(project_dir: Path) -> str:
    tests = sorted(project_dir.glob("*_test.cpp"))
    if not (project_dir / "firmware").is_dir() or not tests:
        raise DataError(f"{project_dir} is not an hls4ml project (no firmware/ folder or *_test.cpp testbench)")
    return tests[0].name[: -len("_test.cpp")]


def write_tb_data(project_dir: Path, x: np.ndarray, expected: np.ndarray | None) -> None:
    """Write inputs (N, ...) and reference outputs (N, ...) one event per line, exact to the last bit."""
    tb = project_dir / "tb_data"
    tb.mkdir(exist_ok=True)
    n = len(x)
    np.savetxt(tb / "tb_input_features.dat", np.asarray(x, np.float64).reshape(n, -1), fmt="%.17g")
    # The testbench stops at the shorter of the two files; without references it compares nothing.
    ref = np.zeros((n, 1)) if expected is None else np.asarray(expected, np.float64).reshape(n, -1)
    np.savetxt(tb / "tb_output_predictions.dat", ref, fmt="%.17g")


def run_testbench(project_dir: str | Path, x: np.ndarray, expected: np.ndarray | None = None, log=print) -> np.ndarray:
    """Compile and run the project's testbench on `x`; return its outputs, shape (N, n_outputs).

    `expected` (Keras outputs) goes into `tb_output_predictions.dat`, which the testbench prints beside
    its own for the first event. Raises CompilerError with the compiler's message and log path.
    """
    project_dir = Path(project_dir)
    name = _project_name(project_dir)
    compiler = require_compiler()
    x = np.asarray(x)
    check_finite(x, "testbench inputs")
    write_tb_data(project_dir, x, expected)
    (project_dir / "hepfpga").mkdir(exist_ok=True)
    binary = project_dir / "hepfpga" / "testbench"
    cmd = [compiler, "-O3", cxx_std_flag(compiler), "-Ifirmware/ap_types", "-Ifirmware", "-I.",
           f'-DWEIGHTS_DIR="{project_dir.resolve() / "firmware" / "weights"}"',
           f"firmware/{name}.cpp", f"{name}_test.cpp", "-o", str(binary.resolve())]
    log(f"compiling the HLS testbench {name}_test.cpp with g++ ...")
    built = subprocess.run(cmd, cwd=project_dir, capture_output=True, text=True)
    log_path = project_dir / "hepfpga" / "testbench_build.log"
    log_path.write_text(" ".join(cmd) + "\n" + built.stdout + built.stderr)
    if built.returncode != 0:
        tail = error_lines(built.stdout + built.stderr)
        raise CompilerError(f"the testbench failed to compile:\n{tail}\nFull log: {log_path}")
    log(f"running the testbench on {len(x)} events ...")
    ran = subprocess.run([str(binary.resolve())], cwd=project_dir, capture_output=True, text=True)
    (project_dir / "hepfpga" / "testbench_run.log").write_text(ran.stdout + ran.stderr)
    if ran.returncode != 0:
        tail = error_lines(ran.stdout + ran.stderr)
        raise CompilerError(f"the testbench exited with code {ran.returncode}:\n{tail}")
    results = project_dir / "tb_data" / "csim_results.log"
    out = np.loadtxt(results, ndmin=2)
    if len(out) != len(x):
        raise CompilerError(f"the testbench wrote {len(out)} events to {results}, expected {len(x)}")
    return out


def as_printed(values: np.ndarray) -> np.ndarray:
    """`values` as the testbench prints them: C++ ostream default, 6 significant digits."""
    return np.vectorize(lambda v: float(f"{v:.6g}"))(np.asarray(values, np.float64)) if np.size(values) else values
