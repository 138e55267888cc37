"""The layout of a scan folder: what the points share, one result file per point, one project per point."""

from __future__ import annotations

import json
import os
from pathlib import Path

INPUTS, POINTS, PROJECTS = "inputs", "points", "projects"
MARKER = "scan-inputs.json"  # what makes a folder a scan folder


def write_json(path: Path, value: dict) -> None:
    """Write atomically: a reader sees the old file or the new one, never half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(value, indent=1, default=float))
    os.replace(tmp, path)
