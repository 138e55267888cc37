"""Wall-clock time of `hepfpga demo` (target: under 10 minutes on 2 cores), printed with the demo's figures.

Usage: python benchmarks/demo_time.py [--events N]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--events", type=int, default=200_000)
args = parser.parse_args()

with tempfile.TemporaryDirectory() as tmp:
    out = Path(tmp) / "demo"
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "hepfpga.cli", "demo", "--output", str(out),
                           "--events", str(args.events)], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    tail = proc.stdout[proc.stdout.find("Test-set performance"):]
    print(tail.split("HLS project:")[0].rstrip())
    print(f"\ncores: {os.cpu_count()}  events: {args.events}  exit code: {proc.returncode}")
    print(f"hepfpga demo wall-clock: {seconds:.1f} s (target < 600 s) -> {'PASS' if seconds < 600 else 'FAIL'}")
    if proc.returncode not in (0, 3):
        print(proc.stderr[-3000:])
    sys.exit(0 if proc.returncode == 0 and seconds < 600 else 1)
