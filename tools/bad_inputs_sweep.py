"""Run every bad input of tests/bad_inputs.py as a real `hepfpga` process and print the tally.

A case passes when the process exits with the case's code, prints the case's message and no traceback, and
leaves every file of its workspace as it was. Also runs faults a process meets but an in-process test
cannot: a file-size limit (a full disk) while the project is written.

Usage: python tools/bad_inputs_sweep.py [--keep DIR] [--only SUBSTRING]
"""

import argparse
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from bad_inputs import CASES, SETUPS, Case, fill, make_shared, make_workspace, release, snapshot  # noqa: E402

HEPFPGA = [sys.executable, "-m", "hepfpga.cli"]
#: Faults of a running process, beyond the table: (case, preexec function).
FAULTS = [
    (Case("convert with a full disk (file size limited to 64 KB)",
          ["convert", "{model}", "--calibration", "{cal}", "--output", "{ws}/out"], 2, r"File too large|No space"),
     lambda: (signal.signal(signal.SIGXFSZ, signal.SIG_IGN), resource.setrlimit(resource.RLIMIT_FSIZE, (65536,) * 2))),
]


def run_case(number: int, case: Case, shared: Path, base: Path, preexec=None) -> tuple[bool, str]:
    slug = re.sub(r"\W+", "_", case.id)
    ws = base / f"{number:03d}-{slug}"
    make_workspace(ws, shared)
    bad = SETUPS[case.setup](ws) if case.setup else None
    before = snapshot(ws)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
    env.update({k: v.format(ws=ws) for k, v in case.env.items()})
    if "PATH" in case.env:  # the interpreter itself is called by its full path
        env["PATH"] = case.env["PATH"].format(ws=ws)
    done = subprocess.run([*HEPFPGA, *fill(case.argv, ws, bad)], cwd=ws, env=env, capture_output=True, text=True,
                          preexec_fn=preexec, timeout=900)
    release(ws)
    problems = []
    if done.returncode != case.code:
        problems.append(f"exit {done.returncode}, expected {case.code}")
    if not re.search(case.message, done.stderr):
        problems.append(f"message not found: {case.message!r}")
    if "Traceback" in done.stderr + done.stdout:
        problems.append("traceback")
    after = snapshot(ws)
    if after != before:
        changed = sorted(set(after.items()) ^ set(before.items()))
        problems.append(f"files changed: {[k for k, _ in changed][:5]}")
    return not problems, "; ".join(problems) + (f"\n      stderr: {done.stderr.strip()[-300:]}" if problems else "")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it")
    parser.add_argument("--only", help="run the cases whose id contains this")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="hepfpga-sweep-"))
    t0 = time.perf_counter()
    print("preparing the shared model, data and project ...", flush=True)
    shared = make_shared(base / "shared")
    cases = [(c, None) for c in CASES] + FAULTS
    if args.only:
        cases = [(c, p) for c, p in cases if args.only in c.id]
    tally = {"passed": 0, "failed": 0}
    for number, (case, preexec) in enumerate(cases):
        ok, why = run_case(number, case, shared, base, preexec)
        tally["passed" if ok else "failed"] += 1
        print(f"{'ok  ' if ok else 'FAIL'} {case.id}" + ("" if ok else f": {why}"), flush=True)
    print(f"\n{len(cases)} bad inputs and faults: {tally['passed']} handled (clear message, expected exit code, no "
          f"traceback, no file changed), {tally['failed']} not; {time.perf_counter() - t0:.0f} s")
    sys.exit(0 if tally["failed"] == 0 else 1)


if __name__ == "__main__":
    main()
