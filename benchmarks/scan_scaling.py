"""Design-scan throughput with 1 and with 2 Dask workers, on the same space and data, and whether both find
the same results.

Each run is a fresh `hepfpga scan` of the default space (or its first --points points) in its own folder;
points per hour count the point phase (cluster start, every point, the results), not the shared inputs
(data, teacher) nor the recommended project. Target: 2 workers >= 1.7x the points per hour of 1 worker on
this 2-core machine, with identical metrics for every point. Also prints the scan's own findings (the
half-cost question, distilled against alone).

Usage: python benchmarks/scan_scaling.py [--points N] [--events N]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

root = Path(__file__).resolve().parents[1]
parser = argparse.ArgumentParser()
parser.add_argument("--points", type=int, default=None, help="the first N points of the default space (default: all)")
parser.add_argument("--events", type=int, default=100_000)
args = parser.parse_args()

MEASURED = ("accuracy", "auc", "agreement", "dsp", "lut", "ff", "bram_18k", "latency_ns", "interval", "notes")

with tempfile.TemporaryDirectory() as tmp:
    space = Path(tmp) / "space.yaml"
    sys.path.insert(0, str(root))
    from hepfpga.scan.space import DEFAULT_SPACE, expand

    points = expand(DEFAULT_SPACE)[: args.points]
    import yaml

    space.write_text(yaml.safe_dump({"base": {}, "grids": [{k: [v if not isinstance(v, tuple) else list(v)]
                                                            for k, v in vars(p).items()} for p in points]}))
    runs = {}
    for workers in (1, 2):
        out = Path(tmp) / f"scan{workers}"
        cmd = [sys.executable, "-m", "hepfpga.cli", "scan", "--space", str(space), "--output", str(out),
               "--events", str(args.events), "--workers", str(workers)]
        done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
        if done.returncode != 0:
            print(done.stdout[-3000:], done.stderr[-3000:])
            sys.exit(1)
        summary = json.loads((out / "results.json").read_text())
        runs[workers] = summary
        report = (out / "report.md").read_text()
    rates = {}
    for workers, summary in runs.items():
        seconds = summary["seconds"]
        rates[workers] = len(points) / seconds * 3600
        print(f"{workers} worker(s): {len(points)} points in {seconds:.0f} s = {rates[workers]:.0f} points/hour")
    same = all({k: a[k] for k in MEASURED} == {k: b[k] for k in MEASURED}
               for a, b in zip(runs[1]["points"], runs[2]["points"]))
    ratio = rates[2] / rates[1]
    print(f"2 workers / 1 worker: {ratio:.2f}x (target >= 1.7x); identical metrics for every point: "
          f"{'yes' if same else 'NO'}")
    print("\nThe scan's report (2 workers):\n" + report)
    sys.exit(0 if ratio >= 1.7 and same else 1)
