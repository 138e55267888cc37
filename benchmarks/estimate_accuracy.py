"""Score `hepfpga estimate` against real C-synthesis reports: every project of one or more fixtures folders.

For each folder: per project the estimate (as a user gets it: part and HLS tool read from the project's own
files, the shipped coefficients) against the report; per metric the share of projects within ±25 % and the
mean absolute error; the same per tool and device family. With --loro (leave one repository out), each project
is estimated again with coefficients fitted on the projects of every *other* source repository (what a
project from a new source gets), and the per-layer errors of those estimates are tabulated per layer kind.

Usage: python benchmarks/estimate_accuracy.py ../shared/fixtures/synthesis ../shared/fixtures/synthesis-more --loro
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hepfpga.estimate import calibrate, estimate_project  # noqa: E402
from hepfpga.report.tables import markdown  # noqa: E402

METRICS = calibrate.METRICS
#: The estimates issue's targets: share of projects within ±25 %, per metric (latency and DSP 70 %, LUT and
#: BRAM 60 %, FF 50 %).
TARGETS = {"latency_cycles": 70, "dsp": 70, "lut": 60, "bram_18k": 60, "ff": 50}


def error(estimate: float, truth: float) -> float:
    return (estimate - truth) / truth if truth else (0.0 if estimate == 0 else float("inf"))


def summary(rows: list[tuple[dict, dict]]) -> list[list]:
    """Per metric: mean absolute % error, % of projects within ±25 %, target, met."""
    out = []
    for m in METRICS:
        errors = np.array([abs(error(est[m], truth[m])) for est, truth in rows])
        finite = errors[np.isfinite(errors)]
        within = 100 * np.mean(errors <= 0.25)
        goal = TARGETS.get(m)
        out.append([m, f"{100 * finite.mean():.1f}" if finite.size else "-", f"{within:.0f}",
                    f">= {goal} %" if goal else "", ("yes" if within >= goal else "NO") if goal else ""])
    return out


def project_table(projects, estimates) -> str:
    rows = []
    for p in projects:
        est = estimates[p.name]["total"]
        cells = []
        for m in METRICS:
            e = error(est[m], p.truth[m])
            cells.append(f"{est[m]} / {p.truth[m]} ({100 * e:+.0f} %)" if np.isfinite(e) else f"{est[m]} / 0")
        rows.append([p.name, f"{estimates[p.name]['tool']}, {estimates[p.name]['family']}", *cells])
    return markdown(["project", "tool, family (guessed)", *(f"{m} est./report" for m in METRICS)], rows)


def by_family(projects, estimates) -> str:
    """The summary per tool and device family of the report (the truth's own)."""
    groups: dict = {}
    for p in projects:
        key = (calibrate.true_tool(p), coefficients_family(p))
        groups.setdefault(key, []).append((estimates[p.name]["total"], p.truth))
    rows = []
    for (tool, family), pairs in sorted(groups.items()):
        cells = {m: summary(pairs)[i] for i, m in enumerate(METRICS)}
        rows.append([tool, family, len(pairs), *(f"{cells[m][1]} / {cells[m][2]}" for m in METRICS)])
    return markdown(["tool (report)", "family (report)", "projects", *(f"{m}: MAE % / within %" for m in METRICS)],
                    rows)


def coefficients_family(project) -> str:
    from hepfpga.estimate import parts

    return parts.family_of(project.report_part or project.firmware.part)


def by_kind(errors: dict) -> str:
    rows = []
    for kind, by in sorted(errors.items()):
        cells = []
        for m in METRICS:
            v = np.array(by.get(m, []))
            cells.append(f"{100 * np.mean(np.abs(v)):.0f} / {100 * np.mean(np.abs(v) <= 0.25):.0f} ({v.size})"
                         if v.size else "")
        rows.append([kind, *cells])
    return markdown(["layer kind", *(f"{m}: MAE % / within % (n)" for m in METRICS)], rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="folders of hls4ml projects with C-synthesis results")
    parser.add_argument("--loro", action="store_true", help="also leave one source repository out of the fit")
    args = parser.parse_args()
    projects = {folder: calibrate.read_folder(folder) for folder in args.folders}
    everything = [p for ps in projects.values() for p in ps]
    if not everything:
        sys.exit("no project with a C-synthesis result in " + ", ".join(map(str, args.folders)))
    seconds, shipped = [], {}
    for p in everything:  # as a user runs it: the project read from disk, the shipped coefficients
        t0 = time.perf_counter()
        shipped[p.name] = estimate_project(p.path)
        seconds.append(time.perf_counter() - t0)
    loro = {}
    if args.loro:
        print("leave-one-repository-out fits:")
        tables = calibrate.leave_one_source_out(everything)
        loro = {p.name: calibrate.estimate_with(p, tables[p.name]) for p in everything}
        kinds = calibrate.layer_errors(everything, tables)
    for folder, ps in projects.items():
        print(f"\n## {folder} ({len(ps)} projects, {len({p.source for p in ps})} source repositories)\n")
        print("Shipped coefficients (fitted on every fixtures folder):\n")
        print(project_table(ps, shipped), "\n")
        print(markdown(["metric", "mean abs error %", "within ±25 % (% of projects)", "target", "met"],
                       summary([(shipped[p.name]["total"], p.truth) for p in ps])), "\n")
        print(by_family(ps, shipped), "\n")
        if loro:
            print("Leave one repository out (coefficients fitted without the project's own repository):\n")
            print(project_table(ps, loro), "\n")
            print(markdown(["metric", "mean abs error %", "within ±25 % (% of projects)", "target", "met"],
                           summary([(loro[p.name]["total"], p.truth) for p in ps])), "\n")
            print(by_family(ps, loro), "\n")
    if loro:
        print("## Per layer kind, leave one repository out (every folder; per-layer C-synthesis reports)\n")
        print(by_kind(kinds))
    print(f"\n{len(everything)} projects; one estimate takes {1000 * max(seconds):.0f} ms at most "
          f"({1000 * np.mean(seconds):.0f} ms on average)")


if __name__ == "__main__":
    main()
