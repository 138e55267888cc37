"""Kill a design scan twice at random moments, let it finish, and compare its table with an uninterrupted
scan of the same space and seeds.

The reference scan runs to the end in one folder. The trial scan runs in another and is killed (SIGKILL to
its whole process group: the client, the scheduler and the Dask workers) twice, each time a random 0-8 s
after it stored a point (so that other points are in flight), then started again and left to finish.
Every point's metrics must equal the reference's.

Usage: python tools/scan_kill_trials.py [--points 12] [--events 30000] [--seed 1]
"""

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MEASURED = ("accuracy", "auc", "agreement", "dsp", "lut", "ff", "bram_18k", "latency_ns", "interval", "notes")

parser = argparse.ArgumentParser()
parser.add_argument("--points", type=int, default=12, help="the first N points of the default space")
parser.add_argument("--events", type=int, default=30_000)
parser.add_argument("--seed", type=int, default=1, help="seed of the kill moments")
args = parser.parse_args()
rng = random.Random(args.seed)
sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from hepfpga.scan.space import DEFAULT_SPACE, expand  # noqa: E402

with tempfile.TemporaryDirectory() as tmp:
    points = expand(DEFAULT_SPACE)[: args.points]
    space = Path(tmp) / "space.yaml"
    space.write_text(yaml.safe_dump({"base": {}, "grids": [{k: [list(v) if isinstance(v, tuple) else v]
                                                            for k, v in vars(p).items()} for p in points]}))

    def command(out):
        return [sys.executable, "-m", "hepfpga.cli", "scan", "--space", str(space), "--output", str(out),
                "--events", str(args.events)]

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    t0 = time.perf_counter()
    subprocess.run(command(Path(tmp) / "reference"), check=True, capture_output=True, env=env)
    reference_seconds = time.perf_counter() - t0
    reference = json.loads((Path(tmp) / "reference" / "results.json").read_text())
    print(f"reference scan: {len(points)} points in {reference_seconds:.0f} s")

    trial = Path(tmp) / "trial"

    def stored() -> int:
        return len(list((trial / "points").glob("*.json"))) if (trial / "points").is_dir() else 0

    for kill in (1, 2):
        before = stored()
        proc = subprocess.Popen(command(trial), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                                start_new_session=True)
        started = time.perf_counter()
        while stored() == before and proc.poll() is None:  # into the point phase: one more point stored
            time.sleep(0.2)
        delay = rng.uniform(0, 8)  # then a random moment, with points in flight
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        print(f"kill {kill}: SIGKILL to the scan's process group {time.perf_counter() - started:.0f} s after its "
              f"start ({delay:.1f} s after a point was stored); {stored()} of {len(points)} point results stored")
    done = subprocess.run(command(trial), capture_output=True, text=True, env=env)
    if done.returncode != 0:
        print(f"final run: exit {done.returncode}\n{done.stderr[-3000:]}")
        sys.exit(1)
    final = json.loads((trial / "results.json").read_text())
    print(f"final run: exit {done.returncode}, {final['points_run']} points computed")
    same = [{k: a[k] for k in MEASURED} == {k: b[k] for k in MEASURED}
            for a, b in zip(reference["points"], final["points"])]
    print(f"points with metrics equal to the uninterrupted scan's: {sum(same)} of {len(same)}")
    sys.exit(0 if all(same) and done.returncode == 0 else 1)
