"""Interrupted and concurrent runs of `hepfpga convert` as real processes (tools/interrupt_trials.py runs many).

A SIGTERM leaves nothing; a SIGKILL leaves only a staging folder the next run removes; two converts into one
folder never both succeed."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

pytestmark = pytest.mark.csim
ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    base = tmp_path_factory.mktemp("interrupts")
    L = tf.keras.layers
    for k, width in enumerate((8, 12)):
        tf.keras.utils.set_random_seed(k)
        tf.keras.Sequential([L.Input(16), L.Dense(width, activation="relu"),
                             L.Dense(5, activation="softmax")]).save(base / f"model{k}.h5")
    np.save(base / "cal.npy", np.random.default_rng(0).standard_normal((500, 16)).astype("float32"))
    return base


def _convert(base: Path, out: Path, model: int = 0):
    return subprocess.Popen([sys.executable, "-m", "hepfpga.cli", "convert", str(base / f"model{model}.h5"),
                             "--calibration", str(base / "cal.npy"), "--output", str(out)], cwd=base, env=ENV,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _finish(proc, timeout: float = 300) -> tuple[int, str]:
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def _wait_for_staging(out: Path, proc, timeout: float = 120.0) -> None:
    t0 = time.time()
    while not list(out.parent.glob(f".{out.name}.staging-*/firmware")):
        assert proc.poll() is None, _finish(proc)
        assert time.time() - t0 < timeout, "the run never started writing"
        time.sleep(0.05)


def _beside(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.glob(f".{out.name}.*"))


def test_sigterm_leaves_nothing(inputs, tmp_path):
    out = tmp_path / "prj"
    proc = _convert(inputs, out)
    _wait_for_staging(out, proc)
    proc.send_signal(signal.SIGTERM)
    code, err = _finish(proc)
    assert code == 143 and "terminated (SIGTERM); no partial output was left behind" in err
    assert not out.exists() and _beside(out) == []


def test_sigkill_leftovers_go_at_the_next_run(inputs, tmp_path):
    out = tmp_path / "prj"
    proc = _convert(inputs, out)
    _wait_for_staging(out, proc)
    proc.send_signal(signal.SIGKILL)
    _finish(proc)
    assert not out.exists() and any(".staging-" in name for name in _beside(out))
    code, err = _finish(_convert(inputs, out))
    assert code == 0, err
    assert (out / "hepfpga" / "convert.json").is_file() and _beside(out) == []


def test_two_converts_into_one_folder_never_both_succeed(inputs, tmp_path):
    out = tmp_path / "prj"
    first, second = _convert(inputs, out, 0), _convert(inputs, out, 1)
    results = sorted((_finish(first), _finish(second)))
    assert [code for code, _ in results] == [0, 2], results
    assert "another hepfpga run" in results[1][1] or "already exists" in results[1][1]
    assert _beside(out) == []
