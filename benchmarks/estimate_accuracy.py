"""Score `hepfpga estimate` against real C-synthesis reports: every project of a fixtures folder.

A project is any sub-folder holding an hls4ml firmware; its truth is the folder's record in an
`index.json` beside it (key `truth`, as ../shared/fixtures/synthesis has), else the project's own
`<top>_csynth.xml` report. Prints per project the estimate against the report, then per metric the mean
absolute % error and the share of projects within ±25 % (BRAM: exact where the report says 0, else within
±2 blocks or ±25 %), and the time one estimate takes.

Usage: python benchmarks/estimate_accuracy.py ../shared/fixtures/synthesis
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hepfpga.estimate import estimate_project  # noqa: E402
from hepfpga.report.tables import markdown  # noqa: E402
from hepfpga.synthesis.csynth import find_report, read_csynth  # noqa: E402

METRICS = ("latency_cycles", "interval", "dsp", "lut", "ff", "bram_18k")
#: index.json truth keys for each metric.
INDEX_KEYS = {"latency_cycles": "latency_cycles_max", "interval": "interval", "dsp": "dsp", "lut": "lut", "ff": "ff",
              "bram_18k": "bram_18k"}
#: Targets of the estimates issue: share within ±25 % and mean absolute error, per metric.
TARGETS = {"latency_cycles": (80, 20), "dsp": (80, 20), "lut": (70, 30), "ff": (70, 30)}


def truths(folder: Path) -> dict[str, dict]:
    """{project folder name: truth} from index.json, else from each project's C-synthesis report."""
    index = folder / "index.json"
    if index.is_file():
        records = json.loads(index.read_text())
        return {r["project_dir"]: {m: r["truth"][INDEX_KEYS[m]] for m in METRICS} for r in records}
    out = {}
    for project in sorted(p for p in folder.iterdir() if (p / "firmware").is_dir()):
        report = find_report(project)
        if report is not None:
            out[project.name] = read_csynth(report)
    return out


def bram_ok(estimate: int, truth: int) -> bool:
    return estimate == 0 if truth == 0 else abs(estimate - truth) <= 2 or abs(estimate - truth) <= 0.25 * truth


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="folder of hls4ml projects with C-synthesis results")
    args = parser.parse_args()
    truth = truths(args.folder)
    if not truth:
        sys.exit(f"{args.folder} holds no project with a C-synthesis result")
    rows, errors, seconds = [], {m: [] for m in METRICS}, []
    for name, true in truth.items():
        t0 = time.perf_counter()
        total = estimate_project(args.folder / name)["total"]
        seconds.append(time.perf_counter() - t0)
        row = [name]
        for m in METRICS:
            error = (total[m] - true[m]) / true[m] if true[m] else (0.0 if total[m] == 0 else float("inf"))
            errors[m].append((error, total[m], true[m]))
            row.append(f"{total[m]} / {true[m]} ({100 * error:+.0f} %)" if true[m] else f"{total[m]} / 0")
        rows.append(row)
    print(markdown(["project", *(f"{m} est./report" for m in METRICS)], rows), "\n")
    summary = []
    for m in METRICS:
        rel = [abs(e) for e, _, t in errors[m] if t]
        mae = 100 * sum(rel) / len(rel) if rel else 0.0
        within = 100 * sum(bram_ok(est, t) if m == "bram_18k" else (t and abs(e) <= 0.25) or (not t and est == 0)
                           for e, est, t in errors[m]) / len(errors[m])
        goal = TARGETS.get(m)
        met = "" if goal is None else ("yes" if within >= goal[0] and mae <= goal[1] else "NO")
        target = "" if goal is None else f">= {goal[0]} % within, MAE <= {goal[1]} %"
        if m == "bram_18k":
            target, met = "exact at 0, else ±2 or ±25 %", "yes" if within == 100 else "NO"
        summary.append([m, f"{mae:.1f}", f"{within:.1f}", target, met])
    print(markdown(["metric", "mean abs error %", "within ±25 % (BRAM: criterion) %", "target", "met"], summary))
    print(f"\n{len(truth)} projects; one estimate takes {1000 * max(seconds):.0f} ms at most "
          f"({1000 * sum(seconds) / len(seconds):.0f} ms on average)")


if __name__ == "__main__":
    main()
