"""Fit the coefficients of hepfpga.estimate to real C-synthesis reports and write hepfpga/estimate/coefficients.json.

Reads every project of the given fixtures folders (hls4ml firmware with its `<top>_csynth.rpt` and an
index.json of truths, as ../shared/fixtures/synthesis and synthesis-more have), fits the coefficients per tool
and device family to the per-layer and total figures (`hepfpga.estimate.calibrate.fit`), then refits once per
source repository with that repository left out and records the errors of the left-out layers per layer kind:
the uncertainty bands `hepfpga estimate` prints are those errors, what a project from a new source sees.

Usage: python tools/fit_estimate.py ../shared/fixtures/synthesis ../shared/fixtures/synthesis-more
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hepfpga.estimate import calibrate, coefficients  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path, help="fixtures folders of synthesised hls4ml projects")
    parser.add_argument("--out", type=Path, default=coefficients.FITTED, help="JSON to write (default: %(default)s)")
    parser.add_argument("--iterations", type=int, default=100, help="function evaluations of each fit")
    args = parser.parse_args()
    t0 = time.perf_counter()
    projects = [p for folder in args.folders for p in calibrate.read_folder(folder)]
    sources = sorted({p.source for p in projects})
    print(f"{len(projects)} projects from {len(sources)} source repositories")
    table = calibrate.fit(projects, start=coefficients.table({}), max_nfev=args.iterations)
    print("leave-one-source-out fits for the uncertainty bands:")
    tables = calibrate.leave_one_source_out(projects, max_nfev=args.iterations)
    errors = calibrate.layer_errors(projects, tables)
    kinds = {kind: max(len(v) for v in by.values()) for kind, by in errors.items()}
    fitted = {name: {axis: round(value, 4) for axis, value in by.items()} for name, by in table.items()}
    out = {"fitted_on": {"folders": [f.name for f in args.folders], "projects": len(projects), "sources": sources},
           "values": fitted, "kinds": kinds, "bands": calibrate.bands_from(errors)}
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {args.out} in {time.perf_counter() - t0:.0f} s")
    for kind, by in sorted(out["bands"].items()):
        print(f"  {kind:22s} " + ", ".join(f"{m} ±{100 * v:.0f} %" for m, v in by.items()))


if __name__ == "__main__":
    main()
