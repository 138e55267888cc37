"""`convert --fit`: before the verified build, make the design meet the part (and the latency and input interval
asked), with the estimate in the loop (`hepfpga.estimate.search`): per-layer reuse factors and strategies, and
io_stream when io_parallel cannot fit a model with convolutions."""

from __future__ import annotations

import copy
import dataclasses
import tempfile
from pathlib import Path

from hepfpga.options import ConvertOptions

#: Keras layer classes whose presence makes io_stream worth trying (their io_stream form reuses one product).
STREAMABLE = ("Conv1D", "Conv2D", "QConv1D", "QConv2D", "SeparableConv1D", "SeparableConv2D", "DepthwiseConv2D")


def _design(model, config: dict, opt: ConvertOptions, folder: Path, log) -> dict:
    """The search on the project hls4ml writes for `config` (a dry project: written, not compiled)."""
    from hepfpga.convert.write import write_project
    from hepfpga.estimate.search import Budget, fit_design
    from hepfpga.firmware import read_firmware

    dry = copy.deepcopy(config)
    for entry in dry["LayerName"].values():
        entry["Trace"] = False
    write_project(model, folder, config=dry, backend=opt.backend, part=opt.part, clock_period=opt.clock_period,
                  io_type=opt.io_type)
    budget = Budget(opt.max_share, opt.max_latency_ns, opt.min_interval)
    result = fit_design(read_firmware(folder), budget, part=opt.part, log=log)
    result["io_type"] = opt.io_type
    return result


def fit_to_part(model, config: dict, opt: ConvertOptions, log=print) -> tuple[dict, ConvertOptions, dict]:
    """(configuration with the reuse factors and strategies found, options with the io type found, the search's
    report: before/after estimates, changes, whether it fits and, if not, what the closest design misses)."""
    with tempfile.TemporaryDirectory(prefix="hepfpga-fit-") as tmp:
        result = _design(model, config, opt, Path(tmp) / opt.io_type, log)
        streamable = any(type(layer).__name__ in STREAMABLE for layer in model.layers)
        if not result["fits"] and opt.io_type == "io_parallel" and streamable:
            log("[fit] io_parallel cannot meet the budget; trying io_stream")
            stream = dataclasses.replace(opt, io_type="io_stream")
            other = _design(model, config, stream, Path(tmp) / "io_stream", log)
            if other["fits"] or len(other["misses"]) < len(result["misses"]):
                result, opt = other, stream
    config = copy.deepcopy(config)
    for change in result["changes"]:
        entry = config["LayerName"].setdefault(change["layer"], {})
        entry.update(change["to"])
    return config, opt, result


def fit_summary(result: dict) -> str:
    """What --fit changed and the estimate before and after, in a few lines."""
    from hepfpga.report.tables import markdown

    before, after = result["before"], result["after"]
    rows = []
    for name, fig in (("before", before), ("after", after)):
        t, pct = fig["total"], fig["percent"]
        rows.append([name, t["latency_cycles"], f"{t['latency_ns']:.0f}", t["interval"],
                     *(f"{t[r]:,} ({pct[r]:.0f} %)" for r in ("dsp", "lut", "ff", "bram_18k"))])
    table = markdown(["design", "latency (cycles)", "latency (ns)", "II", "DSP", "LUT", "FF", "BRAM_18K"], rows)
    changes = [[c["layer"], f"{c['from']['Strategy']}, RF {c['from']['ReuseFactor']}",
                f"{c['to']['Strategy']}, RF {c['to']['ReuseFactor']}"] for c in result["changes"]]
    lines = [f"--fit on {result['part']} ({result['io_type']}; at most {100 * result['budget']['max_share']:.0f} % of "
             f"each resource)", table]
    if changes:
        lines.append(markdown(["layer", "was", "now"], changes))
    if not result["changes"] and result["fits"]:
        lines.append("the design already meets the budget: nothing changed")
    lines.append("fits" if result["fits"] else f"CANNOT fit: the closest design found misses "
                                               f"{'; '.join(result['misses'])}")
    return "\n".join(lines)
