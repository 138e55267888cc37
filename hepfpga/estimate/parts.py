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


#: Device -> resources. BRAM_18K counts 18 Kb blocks (two per 36 Kb block RAM).
PARTS = {p.device: p for p in (
    Part("xc7z007s", "7-series", dsp=66, lut=14_400, ff=28_800, bram_18k=100),
    Part("xc7z010", "7-series", dsp=80, lut=17_600, ff=35_200, bram_18k=120),
    Part("xc7z020", "7-series", dsp=220, lut=53_200, ff=106_400, bram_18k=280),
    Part("xc7vx690t", "7-series", dsp=3_600, lut=433_200, ff=866_400, bram_18k=2_940),
    Part("xcku035", "UltraScale", dsp=1_700, lut=203_128, ff=406_256, bram_18k=1_080),
    Part("xcku115", "UltraScale", dsp=5_520, lut=663_360, ff=1_326_720, bram_18k=4_320),
    Part("xczu9eg", "UltraScale+", dsp=2_520, lut=274_080, ff=548_160, bram_18k=1_824),
    Part("xcvu3p", "UltraScale+", dsp=2_280, lut=394_080, ff=788_160, bram_18k=1_440, uram=320),
    Part("xcvu9p", "UltraScale+", dsp=6_840, lut=1_182_240, ff=2_364_480, bram_18k=4_320, uram=960),
    Part("xcvu13p", "UltraScale+", dsp=12_288, lut=1_728_000, ff=3_456_000, bram_18k=5_376, uram=1_280),
    Part("xcu200", "UltraScale+", dsp=6_840, lut=1_182_240, ff=2_364_480, bram_18k=4_320, uram=960),
    Part("xcu250", "UltraScale+", dsp=12_288, lut=1_728_000, ff=3_456_000, bram_18k=5_376, uram=1_280),
)}


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
