"""Vivado/Vitis HLS when installed: run the project's build and read its reports back.

The build itself is hls4ml's (`link_existing_project(...).build(...)`, which runs `build_prj.tcl`);
the reports are read with hls4ml's own parser (`hls4ml.report.parse_vivado_report`) and summarised
here with units and percentages of the part.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path

from hepfpga.csim.emulate import log_tail
from hepfpga.errors import CompilerError, DataError

#: Command-line tools per hls4ml backend, in order of preference.
TOOLS = {"Vitis": ("vitis_hls", "vitis-run"), "Vivado": ("vivado_hls",)}
RESOURCES = ("DSP", "LUT", "FF", "BRAM_18K", "URAM")


def project_backend(project_dir: Path) -> str:
    """The hls4ml backend a project was written for, from its hls4ml_config.yml."""
    from hepfpga.convert.project import hls4ml_config

    return hls4ml_config(project_dir).get("Backend", "Vivado")


def find_tool(backend: str, explicit: str | None = None) -> str:
    """Path of the HLS tool for `backend` (or `explicit`); raise CompilerError saying what is missing."""
    if explicit:
        path = shutil.which(explicit)
        if path is None:
            raise CompilerError(f"--hls-tool {explicit}: no such executable")
        return path
    for name in TOOLS.get(backend, ()):
        path = shutil.which(name)
        if path:
            return path
    names = " or ".join(TOOLS.get(backend, ("an HLS tool",)))
    raise CompilerError(f"{names} was not found on PATH, so the {backend} HLS flow cannot run here. Source the "
                        f"{backend} settings script (e.g. `source <install>/settings64.sh`) or pass --hls-tool. "
                        "C-simulation without vendor tools: `hepfpga csim PROJECT --data FILE`.")


def build(project_dir: str | Path, csim: bool = False, synth: bool = True, cosim: bool = False,
          vsynth: bool = False, hls_tool: str | None = None, log=print) -> dict:
    """Run the vendor flow on an hls4ml project and return `summary(...)` of its reports."""
    import hls4ml

    project_dir = Path(project_dir)
    backend = project_backend(project_dir)
    tool = find_tool(backend, hls_tool)
    os.environ["PATH"] = f"{Path(tool).parent}{os.pathsep}{os.environ['PATH']}"
    log(f"running {Path(tool).name} on {project_dir} (csim={csim}, synth={synth}, cosim={cosim}) ...")
    linked = hls4ml.converters.link_existing_project(str(project_dir))
    try:
        linked.build(csim=csim, synth=synth, cosim=cosim, vsynth=vsynth)
    except Exception as err:
        logs = sorted(project_dir.glob("*.log")) + sorted(project_dir.glob("*_prj/solution1/*.log"))
        tail = log_tail(logs[-1].read_text(errors="replace"), 20) if logs else ""
        raise CompilerError(f"{Path(tool).name} failed ({err}).\n{tail}\n"
                            f"Logs: {', '.join(map(str, logs)) or 'none written'}") from err
    return read_reports(project_dir)


def read_reports(project_dir: str | Path) -> dict:
    """Parse the vendor reports of a built project (hls4ml's parser) and summarise them."""
    from hls4ml.report import parse_vivado_report

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            parsed = parse_vivado_report(str(project_dir))
    except Exception as err:  # hls4ml's parser raises assorted errors on partial or damaged builds
        raise DataError(f"cannot read the vendor reports in {project_dir} ({type(err).__name__}: {err}); "
                        f"no C-synthesis report? run `hepfpga build {project_dir} --synth` first") from err
    if not parsed or "CSynthesisReport" not in parsed:
        raise DataError(f"no C-synthesis report in {project_dir}: run `hepfpga build {project_dir} --synth` first")
    return summary(parsed)


def summary(parsed: dict) -> dict:
    """Latency, interval and resources from hls4ml's parsed report dict, with units and percentages.

    Returns {"clock_ns": {"target", "estimated"}, "latency_cycles": {"min", "max"}, "latency_ns": {...},
    "interval_cycles": {...}, "resources": {name: {"used", "available", "percent"}}, and
    "vivado_synth": {name: used} when Vivado logic synthesis ran}.
    """
    c = parsed["CSynthesisReport"]
    clock = float(c["TargetClockPeriod"])
    lat = {"min": int(c["BestLatency"]), "max": int(c["WorstLatency"])}
    out = {
        "clock_ns": {"target": clock, "estimated": float(c["EstimatedClockPeriod"])},
        "latency_cycles": lat,
        "latency_ns": {k: v * clock for k, v in lat.items()},
        "interval_cycles": {"min": int(c["IntervalMin"]), "max": int(c["IntervalMax"])},
        "resources": {},
    }
    for name in RESOURCES:
        if name in c:
            used, available = int(c[name]), int(c.get(f"Available{name}", 0))
            out["resources"][name] = {"used": used, "available": available,
                                      "percent": 100.0 * used / available if available else None}
    if parsed.get("VivadoSynthReport"):
        out["vivado_synth"] = {k: float(v) for k, v in parsed["VivadoSynthReport"].items()}
    return out
