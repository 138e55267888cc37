"""Fit the dense-layer coefficients of hepfpga.estimate (coefficients.py) to per-layer C-synthesis reports.

Reads every project of a synthesis fixtures folder (each with reports/<kernel>_config<N>_s_csynth.xml per
layer, as ../shared/fixtures/synthesis has), evaluates the model's dense layers with trial coefficients
and minimises the mean |log(estimate / report)| of latency, interval, LUT and FF (Nelder-Mead). With
--leave-out NETWORK it fits on the other networks and scores the left-out one: an honest measure of how
the model does on a network it was not tuned to.

Usage: python tools/fit_estimate.py ../shared/fixtures/synthesis [--leave-out mnist]
"""

import argparse
import math
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from hepfpga.estimate import (
    coefficients,  # noqa: E402
    layers,  # noqa: E402
    model,  # noqa: E402
    parts,  # noqa: E402
)
from hepfpga.firmware import read_firmware  # noqa: E402

#: The coefficients fitted, in order.
NAMES = ("ADDER_NS", "DSP_MULT_NS", "FABRIC_MULT_NS", "LUT_PER_SUM_BIT", "LUT_PER_FABRIC_DIGIT_BIT",
         "LUT_PER_SHIFT_ADD_BIT", "FF_PER_SUM_BIT", "FF_PER_INPUT_BIT_STAGE", "FF_SAVING_AT_II")
METRICS = ("lat", "ii", "lut", "ff")


def layer_reports(project: Path) -> dict[str, dict]:
    """{config number: report figures} of every per-layer C-synthesis report of a project."""
    out = {}
    for path in (project / "reports").glob("*_csynth.xml"):
        match = re.search(r"config(\d+)_s_csynth", path.name)
        if not match:
            continue
        root = ET.parse(path).getroot()
        latency = root.find("PerformanceEstimates/SummaryOfOverallLatency")
        resources = root.find("AreaEstimates/Resources")
        out[match.group(1)] = {"lat": int(latency.find("Worst-caseLatency").text),
                               "ii": int(latency.find("Interval-max").text),
                               "lut": int(resources.find("LUT").text), "ff": int(resources.find("FF").text)}
    return out


def dense_layers(folder: Path) -> list[tuple[str, object, object, dict]]:
    """(network, layer, target, report) for every dense layer with a per-layer report."""
    rows = []
    for project in sorted(p for p in folder.iterdir() if (p / "firmware").is_dir()):
        fw = read_firmware(project)
        target = model.Target.of(fw, parts.PARTS.get(parts.device_of(fw.part)))
        reports = layer_reports(project)
        configs = re.findall(r"nnet::\w+<[^;]*?config(\d+)>\(", (project / "firmware" / f"{fw.name}.cpp").read_text())
        for layer, config in zip(fw.layers, configs):
            if layer.function == "dense" and config in reports:
                rows.append((project.name.split("-")[0], layer, target, reports[config]))
    return rows


def loss(values, rows) -> float:
    for name, value in zip(NAMES, values):
        setattr(coefficients, name, value)
    total = 0.0
    for _, layer, target, truth in rows:
        cost = layers.dense(layer, target)
        estimate = {"lat": cost.latency, "ii": cost.interval, "lut": cost.lut, "ff": cost.ff}
        total += sum(abs(math.log((estimate[m] + 1) / (truth[m] + 1))) for m in METRICS)
    return total / (len(rows) * len(METRICS))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--leave-out", help="network (folder prefix) to leave out of the fit and score")
    args = parser.parse_args()
    rows = dense_layers(args.folder)
    train = [r for r in rows if r[0] != args.leave_out]
    start = np.array([getattr(coefficients, n) for n in NAMES], dtype=float)
    print(f"{len(train)} dense layers in the fit; mean |log error| at the model's coefficients: "
          f"{loss(start, train):.3f}")
    fit = minimize(loss, start, args=(train,), method="Nelder-Mead", options=dict(maxiter=3000, xatol=1e-3))
    for name, value in zip(NAMES, fit.x):
        print(f"  {name} = {value:.3g}")
    print(f"fitted: mean |log error| {fit.fun:.3f} on the fit set")
    if args.leave_out:
        test = [r for r in rows if r[0] == args.leave_out]
        print(f"left-out network {args.leave_out}: mean |log error| {loss(fit.x, test):.3f} with the fitted "
              f"coefficients, {loss(start, test):.3f} with the model's")


if __name__ == "__main__":
    main()
