"""Bit-accurate firmware emulation: hls4ml's C++ compiled with g++ and called from Python."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from hepfpga.data import as_model_input, check_finite, n_events, per_input
from hepfpga.errors import CompilerError, DataError, MissingToolError, error_lines

COMPILE_LOG = "hepfpga_compile.log"
#: Seconds of compiling after which a progress line with the elapsed time shows, and between such lines.
PROGRESS_AFTER = 10.0


def require_compiler(compiler: str = "g++") -> str:
    """Return the path of `compiler`, or raise CompilerError saying how to install it."""
    path = shutil.which(compiler)
    if path is None:
        raise MissingToolError(
            f"{compiler} was not found on PATH; firmware emulation compiles hls4ml's C++ with it. "
            "Install it (Debian/Ubuntu: `apt-get install g++`; Fedora: `dnf install gcc-c++`; "
            "conda: `conda install -c conda-forge gxx`) and run again.")
    return path


def cxx_std_flag(compiler: str) -> str:
    """The C++ standard hls4ml's build_lib.sh picks: c++23 where the compiler has it, else c++11."""
    probe = subprocess.run([compiler, "-Werror", "-fsyntax-only", "-std=c++23", "-xc++", "-", "-o", os.devnull],
                           input="", capture_output=True, text=True)
    return "-std=c++23" if probe.returncode == 0 else "-std=c++11"


def _check_input(hls_model, x):
    """`x` as the firmware takes it: one float64 array (N, *shape), or a list of them for several inputs."""
    variables = hls_model.get_input_variables()
    xs = per_input(x)
    if len(xs) != len(variables):
        raise DataError(f"the firmware has {len(variables)} inputs ({', '.join(v.name for v in variables)}), "
                        f"got {len(xs)} arrays")
    checked = []
    for arr, var in zip(xs, variables):
        arr = np.asarray(arr)
        expected = tuple(var.shape)
        if arr.ndim < 2 or tuple(arr.shape[1:]) != expected or len(arr) != len(xs[0]):
            raise DataError(f"firmware input {var.name!r} (the same N for every input) must have shape "
                            f"(N, {', '.join(map(str, expected))}), got {arr.shape}")
        check_finite(arr, "firmware inputs")
        checked.append(np.ascontiguousarray(arr, dtype=np.float64))
    return as_model_input(checked)


@contextlib.contextmanager
def optimisation(hls_model, level: str | None):
    """Within the block, hls4ml compiles `hls_model` with g++ `level` (e.g. "-O0") instead of build_lib.sh's
    -O3: its backend's compile runs on a copy of the script with the flag replaced (hls4ml rewrites the
    project's own script before compiling, so the project keeps hls4ml's). None: as hls4ml does."""
    if level is None:
        yield
        return
    backend = hls_model.config.backend
    original = backend.compile

    def compile_at_level(model):
        folder = Path(model.config.get_output_dir())
        script = folder / "build_lib.sh"
        text = script.read_text()
        try:
            script.write_text(text.replace('CFLAGS="-O3 -fPIC"', f'CFLAGS="{level} -fPIC"'))
            return original(model)
        finally:
            script.write_text(text)

    backend.compile = compile_at_level
    try:
        yield
    finally:
        del backend.compile  # the class's method again


@contextlib.contextmanager
def compile_progress(log=print, what: str = "compiling"):
    """Within the block, a line "  <what> ... N s" every `PROGRESS_AFTER` seconds once it has lasted that long
    (g++ on a large model's unrolled templates can take minutes)."""
    done = threading.Event()
    t0 = time.perf_counter()
    terminal = sys.stdout  # the one in place now: a caller may redirect stdout to capture the compiler's

    def tick():
        while not done.wait(PROGRESS_AFTER):
            with contextlib.redirect_stdout(terminal):  # the line goes where the caller's output goes
                log(f"  {what} ... {time.perf_counter() - t0:.0f} s")

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()


def run(hls_model, x, trace: bool = False, log=print, level: str | None = None):
    """Compile `hls_model` with g++ (at optimisation `level`, e.g. "-O0"; None: hls4ml's -O3) and run `x`
    (shape (N, *input_shape), or a list of such arrays for a model with several inputs) through it.

    Returns `(outputs, traces)`: outputs as Keras `predict` returns them, and {layer name: array (N, ...)}
    of the layers configured with `Trace: True` (empty unless `trace`). Compiler output goes to
    `<project>/hepfpga_compile.log`; a failed build raises CompilerError with the log's error lines and its
    path (`hepfpga.project.staged_project` keeps it beside the destination when it removes a failed project).
    """
    require_compiler()
    x = _check_input(hls_model, x)
    out_dir = Path(hls_model.config.get_output_dir())
    captured = io.StringIO()
    t0 = time.perf_counter()
    n = n_events(x)
    log(f"compiling firmware emulation with g++{' ' + level if level else ''} and running {n} events"
        f"{' with tracing' if trace else ''} ...")
    try:
        with compile_progress(log, f"compiling{' (' + level + ')' if level else ''} and running"), \
                contextlib.redirect_stdout(captured), optimisation(hls_model, level):
            if trace:
                outputs, traces = hls_model.trace(x)
            else:
                hls_model.compile()
                outputs, traces = hls_model.predict(x), {}
    except Exception as err:
        log_path = out_dir / COMPILE_LOG
        log_path.write_text(captured.getvalue())
        raise CompilerError(f"building the firmware emulation failed ({type(err).__name__}: {err}). The compiler "
                            f"said:\n{error_lines(captured.getvalue())}\nFull log: {log_path}") from err
    (out_dir / COMPILE_LOG).write_text(captured.getvalue())
    log(f"  done in {time.perf_counter() - t0:.1f} s")
    return np.asarray(outputs), traces
