"""`estimate_project`: latency and resources of an hls4ml project without vendor tools, per layer and in total,
as a share of the part, with an uncertainty band per total, beside the vendor report when synthesis has run."""

from __future__ import annotations

import math
from pathlib import Path

from hepfpga.errors import ConfigError
from hepfpga.estimate import coefficients, parts
from hepfpga.estimate.layers import layer_cost
from hepfpga.estimate.model import Cost, NotEstimated, Target, fifo
from hepfpga.firmware import Firmware, read_firmware

RESOURCES = ("dsp", "lut", "ff", "bram_18k")
METRICS = ("latency_cycles", "interval", *RESOURCES)
#: --tool values: the HLS tool families the coefficients know, and the names they may be given by.
TOOL_NAMES = {"vivado_hls": "vivado_hls", "vivado": "vivado_hls", "vitis_hls": "vitis_hls", "vitis": "vitis_hls"}
#: Uncertainty of a layer kind without calibration data (relative, per metric).
UNCALIBRATED_BAND = 0.5


def guess_tool(fw: Firmware) -> tuple[str, str]:
    """The HLS tool that builds the project, from its own files: (tool, why). hls4ml's Vitis backend builds with
    Vitis HLS, its Vivado and VivadoAccelerator backends with Vivado HLS."""
    backend = fw.flow.get("backend")
    if backend == "vitis":
        return "vitis_hls", "the project's hls4ml backend is Vitis"
    if backend in ("vivado", "vivadoaccelerator"):
        return "vivado_hls", f"the project's hls4ml backend is {backend}"
    return "vivado_hls", "the project names no hls4ml backend; assumed Vivado HLS (older hls4ml layout)"


def project_target(fw: Firmware, part: str | None = None, tool: str | None = None, values: dict | None = None):
    """(Target, Part or None, tool, notes) of a firmware: the part (given, else the project's), its family's
    and the tool's coefficients (`values`: a coefficient table to use instead of the fitted one)."""
    notes = list(fw.assumptions)
    part_name = part or fw.part
    try:
        device = parts.lookup(part_name)
    except ConfigError as err:
        if part is not None:
            raise
        device = None
        notes.append(str(err))
    if tool is None:
        tool, why = guess_tool(fw)
        notes.append(f"HLS tool: {tool} ({why}; --tool to ask for another)")
    elif tool not in TOOL_NAMES:
        raise ConfigError(f"--tool {tool!r}: use one of {', '.join(sorted(TOOL_NAMES))}")
    tool = TOOL_NAMES[tool]
    family = device.speed_family if device is not None else parts.family_of(part_name)
    coef = coefficients.resolve(family, tool, values)
    return Target.of(fw, device, coef), device, tool, family, notes


def estimate_project(project_dir: str | Path, part: str | None = None, tool: str | None = None,
                     values: dict | None = None) -> dict:
    """Estimate the hls4ml project in `project_dir` as C synthesis would report it.

    `part` overrides the project's own part, `tool` ("vivado_hls" or "vitis_hls") the HLS tool guessed from its
    files. Returns {"project", "part", "device", "family", "tool", "clock_ns", "total": {latency_cycles,
    latency_ns, interval, dsp, lut, ff, bram_18k}, "band": {metric: relative uncertainty of the total},
    "percent": {resource: % of the part} (None for a part hepfpga does not know), "layers": [{"name", "type",
    "kind", "calibrated", ... same keys}], "not_estimated": [layer names the totals exclude], "uncalibrated":
    [layer kinds without calibration data], "notes": [...], "verdict": one line, and "report" (the vendor's
    figures and the error per metric) when the project holds a C-synthesis report}.
    Raises DataError for a folder that is not an hls4ml project or lacks weight files.
    """
    fw = read_firmware(project_dir)
    result = estimate_firmware(fw, part, tool, values)
    result["project"] = str(project_dir)
    _compare_with_report(result, Path(project_dir), fw.name)
    return result


def evaluate(fw: Firmware, target: Target, tool: str) -> tuple[list, list[Cost], Cost]:
    """The model of one firmware: (per layer its Cost or the NotEstimated error, the top function's overhead,
    the total)."""
    layers = []
    for layer in fw.layers:
        try:
            layers.append(layer_cost(layer, target))
        except NotEstimated as err:
            layers.append(err)
    costs = [c for c in layers if isinstance(c, Cost)]
    overhead = top_overhead(fw, target, tool)
    return layers, overhead, combine(costs, overhead, fw, target)


def estimate_firmware(fw: Firmware, part: str | None = None, tool: str | None = None,
                      values: dict | None = None) -> dict:
    """`estimate_project` of a firmware already read (without the comparison with a vendor report)."""
    target, device, tool, family, notes = project_target(fw, part, tool, values)
    layers, overhead, total = evaluate(fw, target, tool)
    calibrated = coefficients.calibrated_kinds()
    rows, skipped = [], []
    for layer, cost in zip(fw.layers, layers):
        if isinstance(cost, NotEstimated):
            skipped.append(layer.name)
            rows.append({"name": layer.name, "type": layer.function, "estimated": False, "why": str(cost)})
        else:
            rows.append({"name": layer.name, "type": layer.function, "kind": cost.kind, "estimated": True,
                         "calibrated": cost.kind in calibrated, **figures(cost, fw.clock_ns)})
    if skipped:
        notes.append(f"not estimated: {', '.join(skipped)}; the totals exclude them")
    costs = [c for c in layers if isinstance(c, Cost)]
    uncalibrated = sorted({c.kind for c in costs + overhead if calibrated and c.kind not in calibrated})
    if uncalibrated:
        notes.append(f"layer kinds without calibration data: {', '.join(uncalibrated)} (their figures are "
                     f"indicative, ±{100 * UNCALIBRATED_BAND:.0f} % assumed in the bands)")
    result = {"project": str(fw.path), "part": part or fw.part, "device": device.device if device else None,
              "family": family, "tool": tool, "clock_ns": fw.clock_ns, "io_type": fw.io_type, "mul_impl": fw.mul_impl,
              "total": figures(total, fw.clock_ns), "band": bands(costs + overhead, total),
              "layers": rows, "overhead": [{"kind": c.kind, **figures(c, fw.clock_ns)} for c in overhead],
              "not_estimated": skipped, "uncalibrated": uncalibrated, "notes": notes}
    result["percent"] = {r: (100.0 * result["total"][r] / device.available()[r] if device else None)
                         for r in RESOURCES}
    result["verdict"] = verdict(result)
    return result


def top_overhead(fw: Firmware, target: Target, tool: str) -> list[Cost]:
    """What the top function adds around the layers: the FIFOs of a stream or dataflow design (Vivado HLS
    splits a stream of arrays into one FIFO per array element, Vitis HLS keeps one wide FIFO), the registers
    between the layers of an io_parallel pipeline."""
    out = []
    if fw.streams:
        split = tool == "vivado_hls"
        total = Cost(kind="fifo")
        for _, depth, bits, pack in fw.streams:
            one = fifo(depth, bits if split else bits * pack, target)
            copies = pack if split else 1
            total.lut += copies * one.lut
            total.ff += copies * one.ff
            total.bram_18k += copies * one.bram_18k
        out.append(total)
    elif fw.io_type == "io_parallel" and fw.dataflow:  # arrays between the layers become FIFOs of depth 2
        total = Cost(kind="fifo")
        for layer in fw.layers[:-1]:
            one = fifo(2, layer.output_type.width if layer.output_type else 16, target)
            n = int(layer.get("n_out") or layer.get("n_in") or 1)
            total.lut, total.ff = total.lut + n * one.lut, total.ff + n * one.ff
        out.append(total)
    elif fw.io_type == "io_parallel":
        out_bits = sum(int(layer.get("n_out") or layer.get("n_in") or 1) * (layer.output_type.width
                                                                            if layer.output_type else 16)
                       for layer in fw.layers)
        out.append(Cost(ff=target["top_ff_bit"] * out_bits, kind="top"))
    return out


def combine(costs: list[Cost], overhead: list[Cost], fw: Firmware, target: Target) -> Cost:
    """The whole design: resources add up. io_parallel layers follow each other in one pipeline; in a stream
    (or dataflow) design layers overlap: the slowest layer sets the interval and the latency is its latency
    plus what the others add after their last input (their latency beyond their interval)."""
    total = Cost(interval=max((c.interval for c in costs), default=1))
    for c in costs + overhead:
        total.add(c)
    if not costs:
        return total
    target_cycles = sum(c.latency for c in costs)
    if fw.io_type == "io_stream":
        slowest = max(range(len(costs)), key=lambda k: costs[k].latency)
        tails = sum(max(0, c.latency - c.interval) + 1 for k, c in enumerate(costs) if k != slowest)
        total.latency = costs[slowest].latency + tails
    elif fw.dataflow:
        total.latency = target_cycles + len(costs)
    else:
        steps = sum(1 for c in costs if c.latency > 0 or c.dsp or c.interval > 1)
        total.latency = target_cycles + target.count(target["top_cycles_per_layer"] * steps) + 1
    return total


def figures(cost: Cost, clock_ns: float) -> dict:
    return {"latency_cycles": int(cost.latency), "latency_ns": round(cost.latency * clock_ns, 3),
            "interval": int(cost.interval), "dsp": int(round(cost.dsp)), "lut": int(round(cost.lut)),
            "ff": int(round(cost.ff)), "bram_18k": int(math.ceil(cost.bram_18k - 1e-9))}


def bands(parts_: list[Cost], total: Cost) -> dict:
    """Relative uncertainty of each total: the calibration residuals of the kinds it is made of, weighted by
    their share of it (kinds without calibration data count UNCALIBRATED_BAND)."""
    table = coefficients.bands()
    calibrated = coefficients.calibrated_kinds()
    table = {kind: by for kind, by in table.items() if kind in calibrated}
    out = {}
    for metric, attr in (("latency_cycles", "latency"), ("interval", "interval"), ("dsp", "dsp"), ("lut", "lut"),
                         ("ff", "ff"), ("bram_18k", "bram_18k")):
        whole = getattr(total, attr)
        if not whole:
            out[metric] = 0.0
            continue
        weights = [(getattr(c, attr), table.get(c.kind, {}).get(metric, UNCALIBRATED_BAND)) for c in parts_]
        if metric in ("latency_cycles", "interval"):  # the longest part dominates
            out[metric] = round(max(weights, key=lambda w: w[0])[1] if weights else UNCALIBRATED_BAND, 3)
        else:
            share = sum(w for w, _ in weights) or 1.0
            out[metric] = round(sum(w * b for w, b in weights) / share, 3)
    return out


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
