"""Building blocks of the resource and latency model of hls4ml firmware, from what the HLS tool sees.

Written here because hls4ml has none (its `dsp_aware_pruning` objectives count weights / reuse factor for
weight widths >= 9, which misses every 8-bit design of the calibration set). The model follows what the
HLS tool builds from hls4ml's templates; its coefficients (`coefficients.py`) are fitted per tool and device
family on real C-synthesis reports (docs/estimates.md):

* A multiplication by a constant weight is strength-reduced through the weight's canonical signed-digit
  (CSD) form: one non-zero digit is a shift (free), two are one adder; three or more go to a DSP where
  the tool may put multipliers there (`config_op mul -impl dsp`, or by default for data wide enough),
  else to (digits - 1) LUT adders. A product of one input with one weight value is built once however many
  outputs use it.
* Sums are adder trees as wide as the accumulator; the multiplier's delay, the tree's depth and the clock
  give the pipeline depth, and the registers hold what crosses each pipeline cut.
* Resource strategy: general multipliers shared over `reuse_factor` cycles, each selecting its inputs,
  the weights in a ROM of `reuse_factor` words.
* Lookup tables are ROMs; stream FIFOs are shift registers or block RAM.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hepfpga.firmware import Firmware, Layer


@dataclass
class Cost:
    """Estimated latency (cycles), initiation interval (cycles) and resources of one layer (or one part of the
    design), and the kind of hardware it is (whose calibration residuals give its uncertainty)."""

    latency: int = 0
    interval: int = 1
    dsp: float = 0.0
    lut: float = 0.0
    ff: float = 0.0
    bram_18k: float = 0.0
    kind: str = ""

    def add(self, other: Cost) -> Cost:
        """Resources of both (latency and interval stay this one's)."""
        self.dsp, self.lut, self.ff = self.dsp + other.dsp, self.lut + other.lut, self.ff + other.ff
        self.bram_18k += other.bram_18k
        return self


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
    """What the layers are built for: part, clock, how the tool maps multiplications, and the coefficients of
    the tool and device family."""

    part: object  # hepfpga.estimate.parts.Part or None
    clock_ns: float  # effective: period minus uncertainty
    mul_impl: str
    io_type: str
    coef: dict = field(default_factory=dict)
    dataflow: bool = False
    traits: frozenset = frozenset()  # of the hls4ml version that wrote the project (Firmware.traits)
    #: Fitting: cycle counts as smooth functions of the coefficients (the expected value of the ceiling),
    #: so that a least-squares fit sees a gradient.
    smooth: bool = False

    @classmethod
    def of(cls, fw: Firmware, part, coef: dict) -> Target:
        return cls(part, fw.effective_clock_ns, fw.mul_impl, fw.io_type, coef, fw.dataflow, traits=fw.traits)

    def cycles(self, ns: float) -> int:
        """Register stages a combinational path of `ns` needs beyond the first cycle."""
        if self.smooth:
            return max(0.0, ns / self.clock_ns - 0.5)
        return max(0, math.ceil(ns / self.clock_ns - 1e-9) - 1)

    def count(self, value: float) -> int:
        """A coefficient that counts cycles, as a whole number (kept smooth while fitting)."""
        return value if self.smooth else round(value)

    def __getitem__(self, name: str) -> float:
        return self.coef[name]


# --- constant products ---------------------------------------------------------------------------------


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
    """The multiplications of a constant-weight matrix by data: counts by kind, and the sum per output."""

    dsp: int  # DSP slices of the distinct >= 3-digit products (when they go to DSPs)
    dsp_class: int  # distinct (input, weight) products of three or more digits
    shift_add_bits: float  # bits of the two-digit products (one adder each)
    fabric_digit_bits: float  # bits x (digits - 1) of the >= 3-digit products, if built in LUTs
    terms: np.ndarray  # terms of each output's sum (non-zero products and a non-zero bias)

    @property
    def adds(self) -> int:
        return int(np.maximum(self.terms - 1, 0).sum())

    @property
    def depth(self) -> int:
        top = int(self.terms.max()) if self.terms.size else 0
        return math.ceil(math.log2(top)) if top > 1 else 0


def _analyse(raw: np.ndarray, data_bits: int) -> tuple:
    """Per-row distinct non-zero weights of (n_in, n_out) raw integers: bits of the two-digit products, and
    {(digits, weight bit length): count} of the distinct products with three or more digits."""
    digits = csd_digits(raw)
    two_bits = 0.0
    multi: dict = {}
    for row, row_digits in zip(raw, digits):
        keep = row_digits >= 2
        if not keep.any():
            continue
        values, first = np.unique(row[keep], return_index=True)
        d = row_digits[keep][first]
        bitlen = np.floor(np.log2(np.maximum(np.abs(values), 1))).astype(np.int64) + 1
        two = d == 2
        two_bits += float((data_bits + bitlen[two]).sum())
        for key in zip(d[~two].tolist(), bitlen[~two].tolist()):
            multi[key] = multi.get(key, 0) + 1
    return two_bits, multi


def constant_products(layer: Layer, raw: np.ndarray, data_bits: int, bias_nonzero, target: Target) -> Products:
    """Map the products data[i] * W[i, j] of raw integer weights `raw` (n_in, n_out) to DSPs and LUTs (the
    analysis of the weights is kept on the layer: fitting evaluates the model many times)."""
    raw = np.asarray(raw, dtype=np.int64).reshape(raw.shape[0], -1)
    cache = layer.__dict__.setdefault("_products", {})
    key = (hash(raw.tobytes()), raw.shape, data_bits)
    if key not in cache:
        cache[key] = (_analyse(raw, data_bits), (raw != 0).sum(axis=0))
    (two_bits, multi), nonzero = cache[key]
    to_dsp = target.mul_impl == "dsp" or (target.mul_impl == "auto" and data_bits >= target["dsp_min_data_bits"])
    count = sum(multi.values())
    dsp = sum(n * dsp_per_product(data_bits, bits + 1, target.part) for (_, bits), n in multi.items()) if to_dsp else 0
    fabric = 0.0 if to_dsp else float(sum(n * (k - 1) * (data_bits + bits) for (k, bits), n in multi.items()))
    terms = nonzero + np.asarray(bias_nonzero, dtype=np.int64).reshape(-1)
    return Products(dsp, count, two_bits, fabric, terms)


def raw_weights(layer: Layer, prefix: str, type_key: str, config: dict | None = None) -> np.ndarray | None:
    """Raw integers of the layer's weight array whose variable starts with `prefix` (w, b, s, d, p)."""
    name = next((k for k in layer.weights if k.startswith(prefix) and k[len(prefix):].isdigit()), None)
    t = _type(layer, type_key, config)
    if name is None or t is None:
        return None
    cache = layer.__dict__.setdefault("_raw", {})  # kept: fitting and the design search ask many times
    if (name, t) not in cache:
        cache[(name, t)] = t.to_raw(layer.weights[name])
    return cache[(name, t)]


def _type(layer: Layer, key: str, config: dict | None = None):
    """The Fixed type a configuration typedef stands for (in nested configuration `config` when given)."""
    if config is not None and key in config.get("_types", {}):
        return config["_types"][key]
    return layer.types.get(key)


def width_of(t, default: int = 16) -> int:
    return t.width if t is not None else default


def data_bits_of(layer: Layer) -> int:
    return width_of(layer.input_types[0] if layer.input_types else None)


# --- pipelines ------------------------------------------------------------------------------------------


def cut_bits(terms: np.ndarray, accum_bits: int, mult_ns: float, stages: float, target: Target) -> float:
    """Bits the pipeline registers of adder trees hold: at each of `stages` clock edges, the partial sums of
    the highest tree level completed by then (the products themselves before the first level)."""
    if stages <= 0 or terms.size == 0:
        return 0.0
    top = int(terms.max())
    depth = math.ceil(math.log2(top)) if top > 1 else 0
    total = 0.0
    live = terms[terms > 0].astype(float)
    for k in range(1, math.ceil(stages) + 1):
        weight = min(1.0, stages - (k - 1))  # a fractional last stage while fitting
        t = k * target.clock_ns - mult_ns
        if target.smooth:
            level = 0.0 if t < 0 else min(depth, t / target["adder_ns"] + 0.5)
            total += weight * float((live / 2.0**level).clip(min=1).sum())
        else:
            level = 0 if t < 0 else min(depth, int(t / target["adder_ns"]) + 1)
            total += weight * float(np.ceil(live / 2.0**level).sum())
    return total * accum_bits


# --- memories -------------------------------------------------------------------------------------------

#: Block RAM shapes (depth, width) of one 18 Kb block.
BRAM_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))


def bram_blocks(depth: int, width: int) -> int:
    """18 Kb block RAMs of a memory of `depth` words of `width` bits (the best of the block's shapes)."""
    if depth <= 0 or width <= 0:
        return 0
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in BRAM_SHAPES)


def rom(depth: int, width: int, target: Target) -> Cost:
    """A ROM of constants: LUTs (64 bits each) when small, else block RAM."""
    if depth * width <= target["rom_lut_bits"]:
        return Cost(lut=math.ceil(depth / 64) * width)
    return Cost(bram_18k=bram_blocks(depth, width), lut=width / 8)


#: Block RAM shapes a FIFO uses (the tools do not build FIFOs in the 512 x 36 shape).
FIFO_SHAPES = BRAM_SHAPES[:-1]


def fifo(depth: int, width: int, target: Target) -> Cost:
    """A FIFO of `depth` words of `width` bits: registers when at most 2 deep, a shift register in LUTs up to
    `fifo_srl_depth` words, else block RAM (with its address and control logic)."""
    if depth <= 2:
        return Cost(lut=target["fifo_lut"] + 0.5 * width, ff=target["fifo_ff"], kind="fifo")
    if depth <= target["fifo_srl_depth"]:
        return Cost(lut=target["fifo_lut"] + width * math.ceil(depth / 32), ff=target["fifo_ff"] + 1, kind="fifo")
    blocks = min(math.ceil(depth / d) * math.ceil(width / w) for d, w in FIFO_SHAPES)
    return Cost(lut=target["fifo_lut"] + width + 25, ff=24 + 0.6 * width + 0.0135 * depth, bram_18k=blocks, kind="fifo")
