"""FPGA parts: the resources a design is measured against (from the vendors' product tables).

Written here because hls4ml keeps no part table: its report parser reads the available resources from the
synthesis report only, which this estimate does without.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hepfpga.errors import ConfigError


@dataclass(frozen=True)
class Part:
    """An FPGA device: resources available and the multiplier width of its DSP slice."""

    device: str
    family: str
    dsp: int
    lut: int
    ff: int
    bram_18k: int
    uram: int = 0

    @property
    def dsp_widths(self) -> tuple[int, int]:
        """(A, B) operand widths, signed, of one DSP multiplier: 25x18 (DSP48E1), 27x18 (DSP48E2)."""
        return (25, 18) if self.family == "7-series" else (27, 18)

    def available(self) -> dict[str, int]:
        return {"dsp": self.dsp, "lut": self.lut, "ff": self.ff, "bram_18k": self.bram_18k}

    @property
    def speed_family(self) -> str:
        """The family whose timing and fabric coefficients apply: "7-series" (28 nm, DSP48E1) or "UltraScale+"
        (16 nm, DSP48E2; 20 nm UltraScale parts are counted here too: no calibration data of their own)."""
        return "7-series" if self.family == "7-series" else "UltraScale+"


#: Device -> resources. BRAM_18K counts 18 Kb blocks (two per 36 Kb block RAM).
PARTS = {p.device: p for p in (
    # 7-series (Zynq-7000, Artix-7, Kintex-7, Virtex-7)
    Part("xc7z007s", "7-series", dsp=66, lut=14_400, ff=28_800, bram_18k=100),
    Part("xc7z010", "7-series", dsp=80, lut=17_600, ff=35_200, bram_18k=120),
    Part("xc7z020", "7-series", dsp=220, lut=53_200, ff=106_400, bram_18k=280),
    Part("xc7z030", "7-series", dsp=400, lut=78_600, ff=157_200, bram_18k=530),
    Part("xc7z045", "7-series", dsp=900, lut=218_600, ff=437_200, bram_18k=1_090),
    Part("xc7a35t", "7-series", dsp=90, lut=20_800, ff=41_600, bram_18k=100),
    Part("xc7a100t", "7-series", dsp=240, lut=63_400, ff=126_800, bram_18k=270),
    Part("xc7a200t", "7-series", dsp=740, lut=134_600, ff=269_200, bram_18k=730),
    Part("xc7k325t", "7-series", dsp=840, lut=203_800, ff=407_600, bram_18k=890),
    Part("xc7k410t", "7-series", dsp=1_540, lut=254_200, ff=508_400, bram_18k=1_590),
    Part("xc7vx485t", "7-series", dsp=2_800, lut=303_600, ff=607_200, bram_18k=2_060),
    Part("xc7vx690t", "7-series", dsp=3_600, lut=433_200, ff=866_400, bram_18k=2_940),
    # UltraScale (Kintex, Virtex)
    Part("xcku035", "UltraScale", dsp=1_700, lut=203_128, ff=406_256, bram_18k=1_080),
    Part("xcku040", "UltraScale", dsp=1_920, lut=242_400, ff=484_800, bram_18k=1_200),
    Part("xcku060", "UltraScale", dsp=2_760, lut=331_680, ff=663_360, bram_18k=2_160),
    Part("xcku115", "UltraScale", dsp=5_520, lut=663_360, ff=1_326_720, bram_18k=4_320),
    Part("xcvu095", "UltraScale", dsp=768, lut=537_600, ff=1_075_200, bram_18k=3_456),
    Part("xcvu440", "UltraScale", dsp=2_880, lut=2_532_960, ff=5_065_920, bram_18k=5_040),
    # UltraScale+ (Zynq UltraScale+, Kintex/Virtex UltraScale+, Alveo)
    Part("xczu3eg", "UltraScale+", dsp=360, lut=70_560, ff=141_120, bram_18k=432),
    Part("xczu5ev", "UltraScale+", dsp=1_248, lut=117_120, ff=234_240, bram_18k=288, uram=64),
    Part("xczu7ev", "UltraScale+", dsp=1_728, lut=230_400, ff=460_800, bram_18k=624, uram=96),
    Part("xczu9eg", "UltraScale+", dsp=2_520, lut=274_080, ff=548_160, bram_18k=1_824),
    Part("xcku5p", "UltraScale+", dsp=1_824, lut=216_960, ff=433_920, bram_18k=960, uram=64),
    Part("xcku15p", "UltraScale+", dsp=1_968, lut=522_720, ff=1_045_440, bram_18k=1_968, uram=128),
    Part("xcvu3p", "UltraScale+", dsp=2_280, lut=394_080, ff=788_160, bram_18k=1_440, uram=320),
    Part("xcvu7p", "UltraScale+", dsp=4_560, lut=788_160, ff=1_576_320, bram_18k=2_880, uram=640),
    Part("xcvu9p", "UltraScale+", dsp=6_840, lut=1_182_240, ff=2_364_480, bram_18k=4_320, uram=960),
    Part("xcvu11p", "UltraScale+", dsp=9_216, lut=1_296_000, ff=2_592_000, bram_18k=4_032, uram=960),
    Part("xcvu13p", "UltraScale+", dsp=12_288, lut=1_728_000, ff=3_456_000, bram_18k=5_376, uram=1_280),
    Part("xcu50", "UltraScale+", dsp=5_952, lut=871_680, ff=1_743_360, bram_18k=2_688, uram=640),
    Part("xcu200", "UltraScale+", dsp=6_840, lut=1_182_240, ff=2_364_480, bram_18k=4_320, uram=960),
    Part("xcu250", "UltraScale+", dsp=12_288, lut=1_728_000, ff=3_456_000, bram_18k=5_376, uram=1_280),
    Part("xcu280", "UltraScale+", dsp=9_024, lut=1_303_680, ff=2_607_360, bram_18k=4_032, uram=960),
    Part("xcu55c", "UltraScale+", dsp=9_024, lut=1_303_680, ff=2_607_360, bram_18k=4_032, uram=960),
)}


def family_of(part: str) -> str:
    """The speed family of any Xilinx part name, known to the table or not: "7-series" for xc7*, else
    "UltraScale+" (UltraScale, UltraScale+ and newer parts)."""
    device = device_of(part)
    if device in PARTS:
        return PARTS[device].speed_family
    return "7-series" if device.startswith("xc7") else "UltraScale+"


def device_of(part: str) -> str:
    """The device of a part name: 'xcvu13p-flga2577-2-e' -> 'xcvu13p', 'xc7z020clg400-1' -> 'xc7z020'."""
    text = str(part).strip().lower()
    for device in sorted(PARTS, key=len, reverse=True):  # longest first: xc7z007s before xc7z00...
        if text.startswith(device):
            return device
    match = re.match(r"(xc[a-z0-9]+?)(?:-|$)", text)
    return match.group(1) if match else text


def lookup(part: str) -> Part:
    """The Part of a part name; ConfigError naming the known devices when it is not in the table."""
    device = device_of(part)
    if device not in PARTS:
        raise ConfigError(f"part {part!r} (device {device!r}) is not in hepfpga's part table, so resources cannot be "
                          f"given as a share of it; known devices: {', '.join(sorted(PARTS))}. Pass --part with "
                          "one of them, or read the absolute figures.")
    return PARTS[device]
