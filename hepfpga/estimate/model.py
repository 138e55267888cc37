"""Per-layer resource and latency model of hls4ml firmware, from what the HLS tool sees.

Written here because hls4ml has none (its `dsp_aware_pruning` objectives count weights / reuse factor for
weight widths >= 9, which misses every 8-bit design of the calibration set). The model follows what the
HLS tool builds from hls4ml's templates; a few coefficients are calibrated on real C-synthesis reports
(docs/estimates.md; `benchmarks/estimate_accuracy.py` scores the model on a fixtures folder):

* A multiplication by a constant weight is strength-reduced through the weight's canonical signed-digit
  (CSD) form: one non-zero digit is a shift (free), two are one adder; three or more go to a DSP where
  the tool may put multipliers there (`config_op mul -impl dsp`, or by default for data of at least
  `DSP_MIN_DATA_BITS`), else to (digits - 1) LUT adders. A product of one input with one weight value is
  built once however many outputs use it.
* hls4ml's `multiplier_limit` (an ALLOCATION pragma) caps the multipliers; when it binds, the products
  queue on the allowed multipliers and latency grows.
* Sums are adder trees as wide as the accumulator; their depth and the clock give the pipeline depth.
* Resource strategy: `multiplier_limit` general multipliers shared over `reuse_factor` cycles and the
  weights in a ROM of `reuse_factor` words (block RAM when large).
* Lookup tables (softmax, sigmoid, tanh, ...) are ROMs, one copy per parallel lookup.
* io_stream: every stream between layers is a FIFO; convolutions and pooling read one pixel per cycle
  through line buffers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hepfpga.estimate import coefficients as coef
from hepfpga.firmware import Firmware, Layer


@dataclass
class Cost:
    """Estimated latency (cycles), initiation interval (cycles) and resources of one layer."""

    latency: int = 0
    interval: int = 1
    dsp: float = 0.0
    lut: float = 0.0
    ff: float = 0.0
    bram_18k: float = 0.0


class NotEstimated(Exception):
    """A layer kind the model does not cover."""


ESTIMATORS: dict = {}


def estimator(*functions: str):
    """Register the decorated function as the model of hls4ml's nnet functions `functions`."""

    def wrap(fn):
        for name in functions:
            ESTIMATORS[name] = fn
        return fn

    return wrap


@dataclass
class Target:
    """What the layers are built for: part, clock and how the tool maps multiplications."""

    part: object  # hepfpga.estimate.parts.Part or None
    clock_ns: float  # effective: period minus uncertainty
    mul_impl: str
    io_type: str

    @classmethod
    def of(cls, fw: Firmware, part) -> Target:
        return cls(part, fw.effective_clock_ns, fw.mul_impl, fw.io_type)

    def cycles(self, ns: float) -> int:
        """Register stages a combinational path of `ns` needs beyond the first cycle."""
        return max(0, math.ceil(ns / self.clock_ns - 1e-9) - 1)


# --- building blocks ---------------------------------------------------------------------------------


def csd_digits(raw) -> np.ndarray:
    """Non-zero digits of the canonical signed-digit (non-adjacent) form of each integer in `raw`."""
    a = np.abs(np.asarray(raw, dtype=np.int64))
    half = a >> 1
    bits = (half ^ (a + half)).astype(np.uint64)
    count = np.zeros(bits.shape, dtype=np.int64)
    while bits.any():
        count += (bits & np.uint64(1)).astype(np.int64)
        bits >>= np.uint64(1)
    return count


def dsp_per_product(a_bits: int, b_bits: int, part) -> int:
    """DSP slices one multiplication takes: several when an operand exceeds the slice's multiplier."""
    a, b = part.dsp_widths if part is not None else (27, 18)
    wide, narrow = max(a_bits, b_bits), min(a_bits, b_bits)
    return math.ceil(wide / a) * math.ceil(narrow / b)


@dataclass
class Products:
    """The multiplications of a constant-weight matrix by data, mapped to DSPs and LUTs."""

    dsp: int  # distinct (input, weight) products on DSPs (times the slices each takes)
    dsp_class: int  # distinct (input, weight) products of three or more digits (DSP, or fabric)
    lut: float  # LUTs of the products built from adders
    terms: np.ndarray  # terms of each output's sum (non-zero products and a non-zero bias)

    @property
    def adds(self) -> int:
        return int(np.maximum(self.terms - 1, 0).sum())

    @property
    def depth(self) -> int:
        top = int(self.terms.max()) if self.terms.size else 0
        return math.ceil(math.log2(top)) if top > 1 else 0


def constant_products(raw: np.ndarray, data_bits: int, bias_nonzero, target: Target) -> Products:
    """Map the products data[i] * W[i, j] of raw integer weights `raw` (n_in, n_out) to DSPs and LUTs."""
    raw = np.asarray(raw, dtype=np.int64).reshape(raw.shape[0], -1)
    digits = csd_digits(raw)
    to_dsp = target.mul_impl == "dsp" or (target.mul_impl == "auto" and data_bits >= coef.DSP_MIN_DATA_BITS)
    dsp = dsp_class = 0
    lut = 0.0
    for row, row_digits in zip(raw, digits):
        distinct = {}
        for w, k in zip(row.tolist(), row_digits.tolist()):
            if k >= 2:
                distinct[w] = k
        for w, k in distinct.items():
            bits = data_bits + abs(w).bit_length()
            if k == 2:
                lut += coef.LUT_PER_SHIFT_ADD_BIT * bits
            else:
                dsp_class += 1
                if to_dsp:
                    dsp += dsp_per_product(data_bits, abs(w).bit_length() + 1, target.part)
                else:
                    lut += coef.LUT_PER_FABRIC_DIGIT_BIT * (k - 1) * bits
    terms = (raw != 0).sum(axis=0) + np.asarray(bias_nonzero, dtype=np.int64).reshape(-1)
    return Products(dsp, dsp_class, lut, terms)


def raw_weights(layer: Layer, prefix: str, type_key: str) -> np.ndarray | None:
    """Raw integers of the layer's weight array whose variable starts with `prefix` (w, b, s)."""
    name = next((k for k in layer.weights if k.startswith(prefix)), None)
    t = layer.types.get(type_key)
    if name is None or t is None:
        return None
    return t.to_raw(layer.weights[name])


def width_of(t, default: int = 16) -> int:
    return t.width if t is not None else default


def rom_bram(depth: int, width: int) -> int:
    """18 Kb block RAMs of a ROM of `depth` words of `width` bits (the best of the block's shapes)."""
    if depth * width <= coef.ROM_LUT_BITS:
        return 0
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in coef.BRAM_SHAPES)


def rom_lut(depth: int, width: int) -> float:
    """LUTs of a ROM small enough to stay in fabric (64 bits per LUT)."""
    return 0.0 if depth * width > coef.ROM_LUT_BITS else math.ceil(depth * width / 64)


def fifo(depth: int, width: int) -> Cost:
    """A stream FIFO: registers when shallow, shift-register LUTs, or block RAM when large."""
    bits = depth * width
    if depth <= 2:
        return Cost(ff=bits)
    if bits <= coef.FIFO_LUT_BITS:
        return Cost(lut=math.ceil(depth / 32) * width + 20, ff=width + 10)
    return Cost(lut=40, ff=width + 20, bram_18k=rom_bram(depth, width) or 1)
