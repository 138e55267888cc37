"""Interrupt `hepfpga convert` at random moments and run two converts into one folder at once.

SIGTERM and SIGKILL trials: a convert into a folder that is absent or holds a complete earlier project
(--force) is killed after a random time; afterwards the folder must be absent or a complete project (the
earlier one, or the new one if the kill came after the final rename), and the next convert must succeed
with nothing left behind (no staging, replaced-project or lock files beside the folder).
Concurrency trials: two converts of different models into one absent folder at once: exactly one may
succeed (the other refuses at once, or finds the folder written), never both.

Usage: python tools/interrupt_trials.py [--trials 20] [--seed 1]
"""

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEPFPGA = [sys.executable, "-m", "hepfpga.cli"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}


def prepare(base: Path) -> None:
    """Two small trained-looking models and calibration data."""
    import numpy as np
    import tensorflow as tf

    L = tf.keras.layers
    for k, width in enumerate((8, 12)):
        tf.keras.utils.set_random_seed(k)
        model = tf.keras.Sequential([L.Input(16), L.Dense(width, activation="relu"), L.Dense(5, activation="softmax")])
        model.save(base / f"model{k}.h5")
    np.save(base / "cal.npy", np.random.default_rng(0).standard_normal((500, 16)).astype("float32"))


def convert(base: Path, out: Path, model: int = 0, force: bool = False) -> subprocess.Popen:
    args = [*HEPFPGA, "convert", str(base / f"model{model}.h5"), "--calibration", str(base / "cal.npy"),
            "--output", str(out), *(["--force"] if force else [])]
    return subprocess.Popen(args, cwd=base, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def complete(out: Path) -> bool:
    return (out / "hepfpga" / "convert.json").is_file() and (out / "firmware").is_dir()


def leftovers(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.glob(f".{out.name}.*"))


def kill_trial(base: Path, out: Path, sig: int, duration: float, rng: random.Random) -> str | None:
    """One interrupted convert and the recovery run; returns a problem, or None."""
    existed = complete(out)
    before = (out / "hepfpga" / "convert.json").read_text() if existed else None
    proc = convert(base, out, force=existed)
    time.sleep(rng.uniform(0.2, duration * 1.1))
    proc.send_signal(sig)
    proc.wait()
    if out.exists() and not complete(out):
        return f"half-written folder after {signal.Signals(sig).name}"
    if sig == signal.SIGTERM and proc.returncode not in (0, 143) and leftovers(out):
        return f"SIGTERM left {leftovers(out)}"
    if existed and out.exists() and (out / "hepfpga" / "convert.json").read_text() != before and proc.returncode != 0:
        return "the earlier project was changed by a run that did not finish"
    again = convert(base, out, force=True)
    again.wait()
    if again.returncode != 0:
        return f"the next run failed (exit {again.returncode}): {again.stderr.read()[-300:]}"
    if leftovers(out):
        return f"the next run left {leftovers(out)}"
    return None


def concurrent_trial(base: Path, out: Path) -> str | None:
    first, second = convert(base, out, 0), convert(base, out, 1)
    codes = (first.wait(), second.wait())
    if codes.count(0) != 1:
        return f"exit codes {codes}: {'both' if codes.count(0) == 2 else 'neither'} succeeded"
    if leftovers(out):
        return f"left {leftovers(out)}"
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    base = Path(tempfile.mkdtemp(prefix="hepfpga-trials-"))
    prepare(base)
    t0 = time.perf_counter()
    proc = convert(base, base / "timing")
    proc.wait()
    duration = time.perf_counter() - t0
    print(f"one convert takes {duration:.1f} s; killing at random moments in [0.2, {1.1 * duration:.1f}] s", flush=True)
    results = {}
    for name, sig in (("SIGTERM", signal.SIGTERM), ("SIGKILL", signal.SIGKILL)):
        problems = []
        for k in range(args.trials):
            out = base / f"{name.lower()}{k % 2}"  # even trials start absent, odd ones replace a project
            problem = kill_trial(base, out, sig, duration, rng)
            print(f"{name} trial {k}: {problem or 'ok'}", flush=True)
            problems += [problem] if problem else []
        results[name] = problems
    problems = []
    for k in range(args.trials):
        problem = concurrent_trial(base, base / f"concurrent{k}")
        print(f"concurrent trial {k}: {problem or 'ok'}", flush=True)
        problems += [problem] if problem else []
    results["concurrent"] = problems
    print("\n" + "; ".join(f"{name}: {args.trials - len(p)}/{args.trials} ok" for name, p in results.items()))
    sys.exit(0 if not any(results.values()) else 1)


if __name__ == "__main__":
    main()
