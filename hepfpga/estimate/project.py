"""`estimate_project`: latency and resources of an hls4ml project without vendor tools, per layer and in total,
as a share of the part, beside the vendor report when synthesis has run."""

from __future__ import annotations

import math
from pathlib import Path

from hepfpga.errors import ConfigError
from hepfpga.estimate import parts
from hepfpga.estimate.layers import layer_cost
from hepfpga.estimate.model import Cost, NotEstimated, Target, fifo
from hepfpga.firmware import read_firmware

RESOURCES = ("dsp", "lut", "ff", "bram_18k")
METRICS = ("latency_cycles", "interval", *RESOURCES)


def estimate_project(project_dir: str | Path, part: str | None = None) -> dict:
    """Estimate the hls4ml project in `project_dir` as C synthesis would report it.

    `part` overrides the project's own part. Returns {"project", "part", "device", "clock_ns",
    "total": {latency_cycles, latency_ns, interval, dsp, lut, ff, bram_18k}, "percent": {resource: % of the
    part} (None for a part hepfpga does not know), "layers": [{"name", "type", ... same keys}],
    "not_estimated": [layer names the totals exclude], "notes": [...], "verdict": one line, and "report"
    (the vendor's figures and the error per metric) when the project holds a C-synthesis report}.
    Raises DataError for a folder that is not an hls4ml project or lacks weight files.
    """
    fw = read_firmware(project_dir)
    part_name = part or fw.part
    notes = []
    try:
        device = parts.lookup(part_name)
    except ConfigError as err:
        if part is not None:
            raise
        device = None
        notes.append(str(err))
    target = Target.of(fw, device)
    rows, skipped, costs = [], [], []
    for layer in fw.layers:
        try:
            cost = layer_cost(layer, target)
        except NotEstimated as err:
            skipped.append(layer.name)
            rows.append({"name": layer.name, "type": layer.function, "estimated": False, "why": str(err)})
            continue
        costs.append(cost)
        rows.append({"name": layer.name, "type": layer.function, "estimated": True, **_figures(cost, fw.clock_ns)})
    if skipped:
        notes.append(f"not estimated: {', '.join(skipped)}; the totals exclude them")
    total = _total(costs, fw)
    result = {"project": str(project_dir), "part": part_name, "device": device.device if device else None,
              "clock_ns": fw.clock_ns, "io_type": fw.io_type, "mul_impl": fw.mul_impl,
              "total": _figures(total, fw.clock_ns), "layers": rows, "not_estimated": skipped, "notes": notes}
    result["percent"] = {r: (100.0 * result["total"][r] / device.available()[r] if device else None)
                         for r in RESOURCES}
    result["verdict"] = verdict(result)
    _compare_with_report(result, Path(project_dir), fw.name)
    return result


def _total(costs: list[Cost], fw) -> Cost:
    """The whole design: resources add up; io_parallel layers run one after another in one pipeline (one
    register stage between layers), io_stream layers overlap (dataflow) with FIFOs between them."""
    total = Cost(interval=max((c.interval for c in costs), default=1))
    for c in costs:
        total.dsp, total.lut, total.ff, total.bram_18k = (total.dsp + c.dsp, total.lut + c.lut, total.ff + c.ff,
                                                          total.bram_18k + c.bram_18k)
    total.latency = sum(c.latency for c in costs) + len(costs) + 1
    if fw.io_type == "io_parallel" and total.interval > 1:
        total.latency -= 2  # layers started every II cycles overlap their first and last stage
    for _, depth, bits in fw.streams:
        f = fifo(depth, bits)
        total.lut, total.ff, total.bram_18k = total.lut + f.lut, total.ff + f.ff, total.bram_18k + f.bram_18k
    return total


def _figures(cost: Cost, clock_ns: float) -> dict:
    return {"latency_cycles": int(cost.latency), "latency_ns": round(cost.latency * clock_ns, 3),
            "interval": int(cost.interval), "dsp": int(round(cost.dsp)), "lut": int(round(cost.lut)),
            "ff": int(round(cost.ff)), "bram_18k": int(math.ceil(cost.bram_18k - 1e-9))}


def verdict(result: dict) -> str:
    """One line: does it fit the part, with which shares, and the latency at the clock."""
    t, pct = result["total"], result["percent"]
    timing = f"latency {t['latency_ns']:.0f} ns ({t['latency_cycles']} cycles) at {result['clock_ns']:g} ns clock, " \
             f"II {t['interval']}"
    if result["device"] is None:
        return f"part {result['part']} unknown: resources not compared with it; {timing}"
    fits = all(pct[r] <= 100 for r in RESOURCES)
    worst = sorted(RESOURCES, key=lambda r: -pct[r])
    shares = ", ".join(f"{pct[r]:.0f} % {r.upper().replace('_18K', '')}" for r in worst[:2])
    word = "fits" if fits else "does NOT fit"
    return f"{word} {result['device']}: {shares}; {timing}"


def _compare_with_report(result: dict, project_dir: Path, name: str) -> None:
    """Add the vendor's C-synthesis figures and the estimate's error per metric, when the project has them."""
    from hepfpga.synthesis.csynth import find_report, read_csynth

    path = find_report(project_dir, name)
    if path is None:
        return
    report = read_csynth(path)
    error = {}
    for metric in METRICS:
        estimated, truth = result["total"][metric], report[metric]
        error[metric] = None if truth == 0 else round(100.0 * (estimated - truth) / truth, 1)
    result["report"] = {"path": str(path), "figures": report, "error_percent": error}
