"""Vendor C-synthesis reports read back (hls4ml's own parser, `hls4ml.report.parse_vivado_report`) and
summarised with units and percentages of the part."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from hepfpga.errors import DataError

RESOURCES = ("DSP", "LUT", "FF", "BRAM_18K", "URAM")


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
