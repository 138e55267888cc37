"""The C-synthesis summary of a Vivado/Vitis HLS run (`<top>_csynth.xml`), read without hls4ml: latency,
interval and resources, wherever the report lies in a project folder."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from hepfpga.errors import DataError

#: Where the top-level C-synthesis report of an hls4ml project lies (vendor layout, then a flat copy).
LOCATIONS = ("{name}_prj/solution1/syn/report/{name}_csynth.xml", "reports/{name}_csynth.xml", "{name}_csynth.xml")


def find_report(project_dir: str | Path, name: str = "myproject") -> Path | None:
    """The project's top-level C-synthesis XML report, if synthesis has run."""
    for pattern in LOCATIONS:
        path = Path(project_dir) / pattern.format(name=name)
        if path.is_file():
            return path
    return None


def read_csynth(path: str | Path) -> dict:
    """{"latency_cycles", "interval", "dsp", "lut", "ff", "bram_18k", "clock_ns"} of a csynth XML report
    (Vitis HLS, or Vivado HLS whose reports call the DSPs DSP48E)."""
    try:
        root = ET.parse(path).getroot()
        latency = root.find("PerformanceEstimates/SummaryOfOverallLatency")
        resources = root.find("AreaEstimates/Resources")

        def number(node, tag):
            found = node.find(tag)
            if found is None and tag == "DSP":  # Vivado HLS 2020.1 and older: DSP48E
                found = node.find("DSP48E")
            return int(float(found.text))

        return {"latency_cycles": number(latency, "Worst-caseLatency"), "interval": number(latency, "Interval-max"),
                "dsp": number(resources, "DSP"), "lut": number(resources, "LUT"), "ff": number(resources, "FF"),
                "bram_18k": number(resources, "BRAM_18K"),
                "clock_ns": float(root.find("UserAssignments/TargetClockPeriod").text)}
    except (ET.ParseError, AttributeError, TypeError, ValueError, OSError) as err:
        raise DataError(f"cannot read the C-synthesis report {path} ({type(err).__name__}: {err}); is it a complete "
                        "<top>_csynth.xml?") from err
