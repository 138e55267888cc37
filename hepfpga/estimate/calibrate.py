"""Calibration data of the estimate: real C-synthesis reports matched, layer by layer, to the firmware that
produced them (`tools/fit_estimate.py` fits the coefficients on them; `benchmarks/estimate_accuracy.py`
scores the estimate, also leaving one source repository out of the fit).

A project folder holds an hls4ml firmware and its C-synthesis text report (`reports/<top>_csynth.rpt`, or
the vendor's `<top>_prj/solution1/syn/report/`); each layer call is matched to the report instance whose
module carries its configuration's name (`..._config12_s`). Vivado HLS names some io_parallel Dense
modules after template arguments only (`dense_latency_0_0_0..._1`): those are matched to the remaining
layers of the same function by the closest estimated DSP and LUT count.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hepfpga.firmware import Firmware, Layer, read_firmware
from hepfpga.synthesis.csynth import read_csynth, read_instances

#: index.json truth keys of each metric.
INDEX_KEYS = {"latency_cycles": "latency_cycles_max", "interval": "interval", "dsp": "dsp", "lut": "lut", "ff": "ff",
              "bram_18k": "bram_18k"}
METRICS = tuple(INDEX_KEYS)


@dataclass
class Project:
    """One synthesised project: its firmware, what the report says per layer and in total, and where it
    comes from (the repository, for leave-one-repository-out scores)."""

    name: str
    path: Path
    source: str  # repository (owner/name) the project comes from
    tool: str  # as the report names it, e.g. "Vivado HLS 2019.2"
    report_part: str
    firmware: Firmware
    truth: dict  # METRICS -> number (the whole design)
    layers: list = field(default_factory=list)  # [(Layer, report figures or None)]
    overhead: dict = field(default_factory=dict)  # the top function's own FIFO, Register, ... figures


def _report_paths(project: Path, top: str) -> tuple[Path | None, Path | None]:
    for folder in (project / "reports", project / f"{top}_prj" / "solution1" / "syn" / "report"):
        rpt, xml = folder / f"{top}_csynth.rpt", folder / f"{top}_csynth.xml"
        if rpt.is_file() or xml.is_file():
            return (rpt if rpt.is_file() else None), (xml if xml.is_file() else None)
    return None, None


def _report_tool_and_part(rpt: Path | None, xml: Path | None) -> tuple[str, str]:
    """("Vitis HLS 2022.2", "xcu250-figd2104-2L-e") from a report's header and user assignments."""
    import xml.etree.ElementTree as ET

    tool = part = ""
    if rpt is not None:
        head = rpt.read_text(errors="replace")[:2000]
        name = re.search(r"== (Vivado|Vitis) HLS Report", head)
        version = re.search(r"Version:\s*([\d.]+)", head)
        tool = f"{name.group(1) if name else 'Vivado'} HLS {version.group(1) if version else ''}".strip()
    if xml is not None:
        found = ET.parse(xml).getroot().find("UserAssignments/Part")
        part = found.text if found is not None else ""
    return tool, part


def _figures(entry: dict) -> dict:
    return {"latency_cycles": entry["latency_max"], "interval": entry["interval_max"], "dsp": entry["dsp"],
            "lut": entry["lut"], "ff": entry["ff"], "bram_18k": entry["bram_18k"]}


def match_layers(fw: Firmware, instances: dict, estimate=None) -> list[tuple[Layer, dict | None]]:
    """Each layer of `fw` with the report figures of its instance (None when the report has none).
    `estimate(layer) -> (dsp, lut)` resolves modules named without their configuration."""
    by_config: dict[str, dict] = {}
    anonymous: dict[str, list[dict]] = {}
    for entry in instances.values():
        module = entry["module"]
        found = re.findall(r"config(\d+)(?=_|$)", module)
        if found:
            by_config.setdefault(f"config{found[-1]}", entry)
        else:
            anonymous.setdefault(module.split("_")[0] + "_" + module.split("_")[1], []).append(entry)
    out = []
    unmatched = []
    for layer in fw.layers:
        number = re.search(r"(\d+)$", layer.config_name)
        entry = by_config.get(f"config{number.group(1)}") if number else None
        out.append([layer, _figures(entry) if entry else None])
        if entry is None:
            unmatched.append(len(out) - 1)
    if estimate is not None:
        for key, entries in anonymous.items():
            candidates = [k for k in unmatched if key.startswith(out[k][0].function.split("_")[0])]
            for entry in sorted(entries, key=lambda e: -(e["dsp"] + e["lut"] / 50)):
                if not candidates:
                    break
                def distance(k):
                    dsp, lut = estimate(out[k][0])
                    return abs(math.log((dsp + 1) / (entry["dsp"] + 1))) + abs(math.log((lut + 1) / (entry["lut"] + 1)))
                best = min(candidates, key=distance)
                out[best][1] = _figures(entry)
                candidates.remove(best)
                unmatched.remove(best)
    return [tuple(pair) for pair in out]


def read_project(path: Path, record: dict | None = None) -> Project | None:
    """The Project in folder `path` (None when it holds no C-synthesis report). `record` is its index.json
    entry when there is one (truth, tool, part, source)."""
    fw = read_firmware(path)
    estimate = _default_estimate(fw)
    rpt, xml = _report_paths(path, fw.name)
    if rpt is None and xml is None:
        return None
    if record is not None:
        truth = {m: record["truth"][INDEX_KEYS[m]] for m in METRICS}
        tool, part = record.get("tool", ""), record.get("part", "")
        source = re.split(r"[@:]", record.get("source", ""))[0] or path.parent.name
    else:
        truth = {m: read_csynth(xml)[m] for m in METRICS}
        tool, part = _report_tool_and_part(rpt, xml)
        source = path.parent.name
    project = Project(path.name, path, source, tool, part, fw, truth)
    if rpt is not None:
        detail = read_instances(rpt)
        project.layers = match_layers(fw, detail["instances"], estimate)
        project.overhead = {k: v for k, v in detail["categories"].items() if k != "Instance"}
    else:
        project.layers = [(layer, None) for layer in fw.layers]
    return project


def _default_estimate(fw: Firmware):
    """(layer -> (DSP, LUT)) with the starting coefficients: what resolves anonymous report modules."""
    from hepfpga.estimate import coefficients
    from hepfpga.estimate.layers import layer_cost
    from hepfpga.estimate.model import NotEstimated
    from hepfpga.estimate.project import project_target

    target = project_target(fw, None, None, coefficients.table({}))[0]

    def estimate(layer):
        try:
            cost = layer_cost(layer, target)
        except NotEstimated:
            return 0.0, 0.0
        return cost.dsp, cost.lut

    return estimate


def read_folder(folder: str | Path) -> list[Project]:
    """Every project of a fixtures folder (with an index.json of truths as ../shared/fixtures has, or
    projects carrying their own reports)."""
    folder = Path(folder)
    index = folder / "index.json"
    records = {r["project_dir"]: r for r in json.loads(index.read_text())} if index.is_file() else {}
    projects = []
    for path in sorted(p for p in folder.iterdir() if (p / "firmware").is_dir()):
        project = read_project(path, records.get(path.name))
        if project is not None:
            projects.append(project)
    return projects


# --- the fit -------------------------------------------------------------------------------------------------

#: Coefficients the fit leaves at their values: thresholds of discrete choices (not differentiable) and delays
#: of table reads, which the data do not separate from the layers around them.
FIXED = ("dsp_min_data_bits", "res_min_bits", "fifo_srl_depth", "rom_lut_bits", "softmax_dsp_ns")
#: Offsets of the log ratios per metric (small figures are noisy in relative terms).
OFFSETS = {"latency_cycles": 2.0, "interval": 2.0, "dsp": 2.0, "lut": 200.0, "ff": 200.0, "bram_18k": 2.0}
ATTRS = {"latency_cycles": "latency", "interval": "interval", "dsp": "dsp", "lut": "lut", "ff": "ff",
         "bram_18k": "bram_18k"}
#: Weight of a project's totals against one layer's figures; of the pull toward the starting values.
TOTAL_WEIGHT, PRIOR_WEIGHT = 6.0, 0.5


def true_tool(project: Project) -> str:
    """The tool family of the report that is the truth ("Vitis HLS 2022.2" -> "vitis_hls")."""
    return "vitis_hls" if "vitis" in project.tool.lower() else "vivado_hls"


def parameters(projects: list[Project]) -> list[tuple[str, str]]:
    """(coefficient, axis value or "") of every coefficient the fit moves: one value per device family or
    tool where the coefficient has an axis and the data hold that family."""
    from hepfpga.estimate import coefficients as c
    from hepfpga.estimate import parts

    families = {parts.family_of(p.report_part or p.firmware.part) for p in projects}
    tools = {true_tool(p) for p in projects}
    out = []
    for name in c.DEFAULTS:
        if name in FIXED:
            continue
        if name in c.DEVICE_AXIS:
            out += [(name, f) for f in c.DEVICE_FAMILIES if f in families]
        elif name in c.TOOL_AXIS:
            out += [(name, t) for t in c.TOOLS if t in tools]
        else:
            out.append((name, ""))
    return out


def _table(params, x, start: dict) -> dict:
    table = {name: dict(by) for name, by in start.items()}
    for (name, axis), value in zip(params, x):
        table[name][axis] = float(np.exp(value))
    return table


def _residuals(projects: list[Project], table: dict, smooth: bool = True, layers: bool = True) -> list[float]:
    from hepfpga.estimate.project import evaluate, project_target

    out = []
    for project in projects:
        fw = project.firmware
        target, _, tool, _, _ = project_target(fw, project.report_part or None, true_tool(project), table)
        target.smooth = smooth
        costs, overhead, total = evaluate(fw, target, tool)
        for metric, attr in ATTRS.items():
            out.append(TOTAL_WEIGHT * _log_ratio(getattr(total, attr), project.truth[metric], metric))
        if not layers:
            continue
        for (layer, report), cost in zip(project.layers, costs):
            if report is None or not hasattr(cost, "kind"):
                continue
            for metric, attr in ATTRS.items():
                out.append(_log_ratio(getattr(cost, attr), report[metric], metric))
        for c in overhead:
            category = {"fifo": "FIFO", "top": "Register"}.get(c.kind)
            if category and category in project.overhead:
                for metric in ("lut", "ff", "bram_18k"):
                    if metric == "lut" and c.kind == "top":
                        continue
                    out.append(_log_ratio(getattr(c, metric), project.overhead[category][metric], metric))
    return out


def _log_ratio(estimate: float, truth: float, metric: str) -> float:
    offset = OFFSETS[metric]
    return math.log((max(float(estimate), 0.0) + offset) / (max(float(truth), 0.0) + offset))


def fit(projects: list[Project], start: dict | None = None, max_nfev: int = 60, log=print) -> dict:
    """Coefficients fitted to `projects` (per-layer and total figures; robust least squares on log ratios, pulled
    weakly toward the starting values so that a coefficient the data do not constrain stays put). Returns the
    coefficient table {name: {axis value: value}}."""
    from scipy.optimize import least_squares

    from hepfpga.estimate import coefficients as c

    start = start or c.table({})
    params = parameters(projects)
    x0 = np.array([math.log(start[name].get(axis, start[name][""])) for name, axis in params])

    def residuals(x):
        prior = PRIOR_WEIGHT * (x - x0)
        return np.concatenate([np.array(_residuals(projects, _table(params, x, start))), prior])

    result = least_squares(residuals, x0, loss="soft_l1", f_scale=0.2, max_nfev=max_nfev, diff_step=0.05, ftol=1e-6,
                           xtol=1e-6,
                           x_scale=1.0)
    log(f"fit: {len(params)} coefficients, {len(result.fun)} residuals, cost {result.cost:.2f} "
        f"({result.nfev} evaluations)")
    return _table(params, result.x, start)


def estimate_with(project: Project, table: dict) -> dict:
    """The estimate of `project` as a user gets it (part and tool guessed from its own files), with the
    coefficient table `table`."""
    from hepfpga.estimate.project import estimate_firmware

    return estimate_firmware(project.firmware, values=table)


def leave_one_source_out(projects: list[Project], log=print, **fit_options) -> dict[str, dict]:
    """{project name: coefficient table fitted on the projects of every other source repository}: what a
    user's project, always from a new source, is estimated with."""
    out = {}
    for source in sorted({p.source for p in projects}):
        train = [p for p in projects if p.source != source]
        table = fit(train, log=lambda *a: None, **fit_options)
        out.update({p.name: table for p in projects if p.source == source})
        log(f"  left out {source}: fitted on {len(train)} projects")
    return out


def layer_errors(projects: list[Project], tables: dict[str, dict]) -> dict[str, dict[str, list[float]]]:
    """{layer kind: {metric: [relative error of each calibration layer (and FIFO/top register block)]}} of the
    estimates made with each project's table (`tables`: {project name: table})."""
    from hepfpga.estimate.project import evaluate, project_target

    out: dict = {}
    for project in projects:
        fw = project.firmware
        target, _, tool, _, _ = project_target(fw, None, None, tables[project.name])
        costs, overhead, _ = evaluate(fw, target, tool)
        pairs = [(c, report) for (_, report), c in zip(project.layers, costs)
                 if report is not None and hasattr(c, "kind")]
        for c in overhead:
            category = {"fifo": "FIFO", "top": "Register"}.get(c.kind)
            if category in project.overhead:
                pairs.append((c, {**project.overhead[category], "latency_cycles": 0, "interval": 0, "dsp": 0}))
        for cost, report in pairs:
            for metric, attr in ATTRS.items():
                truth, estimate = report[metric], getattr(cost, attr)
                if truth >= 4 * OFFSETS[metric] / 2:  # relative errors of tiny figures say little
                    out.setdefault(cost.kind, {}).setdefault(metric, []).append((estimate - truth) / truth)
    return out


def bands_from(errors: dict) -> dict:
    """{kind: {metric: mean absolute relative error}} (at most 1.0) from `layer_errors`."""
    return {kind: {m: round(min(1.0, float(np.mean(np.abs(v)))), 3) for m, v in by.items() if v}
            for kind, by in errors.items()}
