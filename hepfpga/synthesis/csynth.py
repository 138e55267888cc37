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


def _rows(lines: list[str], start: int) -> tuple[list[list[str]], int]:
    """Cells of the body rows of the text table that begins at or after line `start` (header rows, those
    before the second rule, are skipped; the Total row is kept), and the line after the table."""
    i = start
    while i < len(lines) and not lines[i].strip().startswith("+-"):
        i += 1
    rules, rows = 0, []
    while i < len(lines) and (lines[i].strip().startswith(("+-", "|"))):
        text = lines[i].strip()
        if text.startswith("+-"):
            rules += 1
        elif rules >= 2:
            rows.append([c.strip() for c in text.strip("|").split("|")])
        i += 1
    return rows, i


def _int(text: str) -> int:
    text = text.strip().replace("~", "")
    return int(float(text)) if text and text not in ("-", "?") and text.replace(".", "", 1).isdigit() else 0


def read_instances(rpt_path: str | Path) -> dict:
    """The per-instance detail of a C-synthesis text report (`<top>_csynth.rpt`, Vivado or Vitis HLS):
    {"instances": {instance: {"module", "latency_min", "latency_max", "interval_min", "interval_max",
    "bram_18k", "dsp", "ff", "lut"}}, "categories": {"Expression"|"FIFO"|"Instance"|"Memory"|"Multiplexer"|
    "Register"|...: {"bram_18k", "dsp", "ff", "lut"}}}: what each layer call and the top function's own
    logic cost. Instances missing from one of the two tables have zeros there."""
    lines = Path(rpt_path).read_text(errors="replace").splitlines()
    out: dict = {"instances": {}, "categories": {}}
    headers = [i for i, line in enumerate(lines) if line.strip() == "* Instance:"]
    summary = next((i for i, line in enumerate(lines) if line.strip().startswith("* Summary:")
                    and i > (headers[0] if headers else 0)), None)
    for h in headers:
        rows, _ = _rows(lines, h + 1)
        utilisation = summary is not None and h > summary
        for cells in rows:
            if len(cells) < 6 or cells[0] in ("Total", ""):
                continue
            entry = out["instances"].setdefault(cells[0], {"module": cells[1], "latency_min": 0, "latency_max": 0,
                                                           "interval_min": 0, "interval_max": 0, "bram_18k": 0,
                                                           "dsp": 0, "ff": 0, "lut": 0})
            if utilisation:
                entry.update(bram_18k=_int(cells[2]), dsp=_int(cells[3]), ff=_int(cells[4]), lut=_int(cells[5]))
            else:
                numbers = [_int(c) for c in cells[2:4]] + [_int(c) for c in cells[6:8]] if len(cells) >= 8 else \
                    [_int(cells[2]), _int(cells[3]), 0, 0]
                entry.update(latency_min=numbers[0], latency_max=numbers[1], interval_min=numbers[2],
                             interval_max=numbers[3])
    if summary is not None:
        rows, _ = _rows(lines, summary + 1)
        for cells in rows:
            if len(cells) >= 5 and cells[0] not in ("Total",) and not cells[0].startswith(("Available", "Utiliz")):
                out["categories"][cells[0]] = {"bram_18k": _int(cells[1]), "dsp": _int(cells[2]), "ff": _int(cells[3]),
                                               "lut": _int(cells[4])}
    return out
