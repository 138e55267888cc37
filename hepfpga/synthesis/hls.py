"""Vivado/Vitis HLS when installed: run a project's build (hls4ml's `link_existing_project(...).build`,
which runs `build_prj.tcl`) and read its reports back (`hepfpga.synthesis.reports`)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hepfpga.errors import CompilerError, DataError, MissingToolError, error_lines
from hepfpga.project import read_config
from hepfpga.synthesis.reports import read_reports

#: Command-line tools per hls4ml backend, in order of preference.
TOOLS = {"Vitis": ("vitis_hls", "vitis-run"), "Vivado": ("vivado_hls",)}


def project_backend(project_dir: Path) -> str:
    """The hls4ml backend a project was written for, from its hls4ml_config.yml."""
    from hepfpga.project import read_config

    return read_config(project_dir).get("Backend", "Vivado")


def find_tool(backend: str, explicit: str | None = None) -> str:
    """Path of the HLS tool for `backend` (or `explicit`); raise CompilerError saying what is missing."""
    if explicit:
        path = shutil.which(explicit)
        if path is None:
            raise MissingToolError(f"--hls-tool {explicit}: no such executable")
        return path
    for name in TOOLS.get(backend, ()):
        path = shutil.which(name)
        if path:
            return path
    names = " or ".join(TOOLS.get(backend, ("an HLS tool",)))
    raise MissingToolError(f"{names} was not found on PATH, so the {backend} HLS flow cannot run here. Source the "
                        f"{backend} settings script (e.g. `source <install>/settings64.sh`) or pass --hls-tool. "
                        "C-simulation without vendor tools: `hepfpga csim PROJECT --data FILE`.")


def build(project_dir: str | Path, csim: bool = False, synth: bool = True, cosim: bool = False,
          vsynth: bool = False, hls_tool: str | None = None, log=print) -> dict:
    """Run the vendor flow on an hls4ml project and return `summary(...)` of its reports."""
    import hls4ml

    project_dir = Path(project_dir)
    backend = project_backend(project_dir)
    name = read_config(project_dir).get("ProjectName", "myproject")
    missing = [p for p in ("build_prj.tcl", f"firmware/{name}.cpp", "firmware/parameters.h", "firmware/defines.h")
               if not (project_dir / p).is_file()]
    if missing:
        raise DataError(f"{project_dir} lacks {', '.join(missing)}: the HLS tool has nothing to build; convert the "
                        "model again")
    tool = find_tool(backend, hls_tool)
    os.environ["PATH"] = f"{Path(tool).parent}{os.pathsep}{os.environ['PATH']}"
    log(f"running {Path(tool).name} on {project_dir} (csim={csim}, synth={synth}, cosim={cosim}) ...")
    linked = hls4ml.converters.link_existing_project(str(project_dir))
    try:
        linked.build(csim=csim, synth=synth, cosim=cosim, vsynth=vsynth)
    except Exception as err:
        logs = sorted(project_dir.glob("*.log")) + sorted(project_dir.glob("*_prj/solution1/*.log"))
        tail = error_lines(logs[-1].read_text(errors="replace"), 20) if logs else ""
        raise CompilerError(f"{Path(tool).name} failed ({err}).\n{tail}\n"
                            f"Logs: {', '.join(map(str, logs)) or 'none written'}") from err
    return read_reports(project_dir)
