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

from hepfpga.firmware import Firmware, Layer

# --- coefficients, calibrated on Vitis HLS 2021.1 reports of 24 projects (docs/estimates.md) -----------
#: Delay the scheduler assigns one adder level, a DSP multiplication, a LUT constant multiplication (ns).
ADDER_NS = 3.3
DSP_MULT_NS = 2.1
FABRIC_MULT_NS = 2.0
#: LUTs per accumulator bit per adder of a sum; per bit of a two-digit (one-adder) constant product; per
#: bit per extra digit of a constant product built in fabric.
LUT_PER_SUM_BIT = 1.18
LUT_PER_SHIFT_ADD_BIT = 1.0
LUT_PER_FABRIC_DIGIT_BIT = 1.6
#: Flip-flops per accumulator bit per adder (pipeline registers of the sums); per input bit per stage.
FF_PER_SUM_BIT = 1.48
FF_PER_INPUT_BIT_STAGE = 0.13
#: Share of registers saved when a layer starts a new input only every II > 1 cycles.
FF_SAVING_AT_II = 0.36
#: Cycles a queue on an allocation-limited multiplier adds (DSP / fabric).
LIMIT_EXTRA_CYCLES = {"dsp": 2, "fabric": 1}
#: Products of a constant weight with data at least this wide go to DSPs when the tool chooses (assumed:
#: the calibration set forces the choice; hls4ml's own DSP objective uses 9 bits).
DSP_MIN_DATA_BITS = 10
#: hls4ml documents 4096 multiplications as the limit of a fully unrolled Latency-strategy layer; beyond it
#: the HLS tool pipelines the input loop, this many inputs per cycle (one calibration layer, 196x56).
UNROLL_LIMIT = 4096
INPUTS_PER_CYCLE_BEYOND_LIMIT = 4
#: Element-wise casts (ReLU, linear): LUTs per bit of the input, of a rounding output, of a saturating one.
LUT_PER_CAST_BIT = 1.34
#: Softmax: fixed delay (ns) of its two table reads and, with a DSP, its final multiplication; LUTs and
#: flip-flops per class and input bit.
SOFTMAX_FIXED_NS = 14.5
SOFTMAX_DSP_NS = 8.5
SOFTMAX_LUT_PER_CLASS_BIT = 5.5
SOFTMAX_FF_PER_CLASS_BIT = 7.0
#: A 18x18 multiplication in fabric (LUTs), for variable x variable products not on a DSP.
LUT_PER_FABRIC_MULT_BIT2 = 1.1
#: ROMs up to this many bits stay in LUTs (64 bits per LUT); larger ones take 18 Kb block RAMs.
ROM_LUT_BITS = 4096
#: Block RAM shapes (depth, width) of one 18 Kb block.
BRAM_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
#: FIFOs up to this many bits are shift registers in LUTs (32 bits per LUT), larger ones block RAM.
FIFO_LUT_BITS = 8192


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


def layer_cost(layer: Layer, target: Target) -> Cost:
    """The Cost of one layer; NotEstimated for kinds the model does not cover."""
    fn = ESTIMATORS.get(layer.function)
    if fn is None:
        raise NotEstimated(f"no model for hls4ml function nnet::{layer.function}")
    return fn(layer, target)


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
    to_dsp = target.mul_impl == "dsp" or (target.mul_impl == "auto" and data_bits >= DSP_MIN_DATA_BITS)
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
                lut += LUT_PER_SHIFT_ADD_BIT * bits
            else:
                dsp_class += 1
                if to_dsp:
                    dsp += dsp_per_product(data_bits, abs(w).bit_length() + 1, target.part)
                else:
                    lut += LUT_PER_FABRIC_DIGIT_BIT * (k - 1) * bits
    terms = (raw != 0).sum(axis=0) + np.asarray(bias_nonzero, dtype=np.int64).reshape(-1)
    return Products(dsp, dsp_class, lut, terms)


def _weights(layer: Layer, prefix: str, type_key: str) -> np.ndarray | None:
    """Raw integers of the layer's weight array whose variable starts with `prefix` (w, b, s)."""
    name = next((k for k in layer.weights if k.startswith(prefix)), None)
    t = layer.types.get(type_key)
    if name is None or t is None:
        return None
    return t.to_raw(layer.weights[name])


def _width(t, default: int = 16) -> int:
    return t.width if t is not None else default


def rom_bram(depth: int, width: int) -> int:
    """18 Kb block RAMs of a ROM of `depth` words of `width` bits (the best of the block's shapes)."""
    if depth * width <= ROM_LUT_BITS:
        return 0
    return min(math.ceil(depth / d) * math.ceil(width / w) for d, w in BRAM_SHAPES)


def rom_lut(depth: int, width: int) -> float:
    """LUTs of a ROM small enough to stay in fabric (64 bits per LUT)."""
    return 0.0 if depth * width > ROM_LUT_BITS else math.ceil(depth * width / 64)


def fifo(depth: int, width: int) -> Cost:
    """A stream FIFO: registers when shallow, shift-register LUTs, or block RAM when large."""
    bits = depth * width
    if depth <= 2:
        return Cost(ff=bits)
    if bits <= FIFO_LUT_BITS:
        return Cost(lut=math.ceil(depth / 32) * width + 20, ff=width + 10)
    return Cost(lut=40, ff=width + 20, bram_18k=rom_bram(depth, width) or 1)


# --- layer kinds -------------------------------------------------------------------------------------


def dense_cost(n_in: int, n_out: int, raw: np.ndarray, bias_nonzero, data_bits: int, accum_bits: int,
               rf: int, limit: int, strategy: str, target: Target, weight_bits: int) -> Cost:
    """A matrix-vector product n_in -> n_out (hls4ml's dense_latency / dense_resource kernels)."""
    if strategy == "resource" and rf > 1:
        return _dense_resource(n_in, n_out, raw, data_bits, accum_bits, rf, target, weight_bits)
    p = constant_products(raw.reshape(n_in, n_out), data_bits, bias_nonzero, target)
    mult_ns = DSP_MULT_NS if p.dsp else FABRIC_MULT_NS
    latency = max(1, target.cycles(mult_ns + p.depth * ADDER_NS))
    if n_in * n_out > UNROLL_LIMIT:
        latency = math.ceil(n_in / INPUTS_PER_CYCLE_BEYOND_LIMIT)
    dsp = p.dsp
    if rf > 1 and limit and limit <= p.dsp_class:  # the ALLOCATION pragma binds: products queue
        mode = "dsp" if p.dsp else "fabric"
        latency = max(latency, math.ceil(p.dsp_class / limit) + LIMIT_EXTRA_CYCLES[mode])
        dsp = min(dsp, limit * (p.dsp // max(p.dsp_class, 1) or 1)) if p.dsp else 0
    interval = min(rf, latency + 1)
    lut = LUT_PER_SUM_BIT * p.adds * accum_bits + p.lut
    ff = (FF_PER_SUM_BIT * p.adds * accum_bits + FF_PER_INPUT_BIT_STAGE * n_in * data_bits * min(latency, 4)) \
        / (1 + FF_SAVING_AT_II * (interval > 1))
    return Cost(latency, interval, dsp, lut, ff)


def _dense_resource(n_in, n_out, raw, data_bits, accum_bits, rf, target: Target, weight_bits) -> Cost:
    """Resource strategy: ceil(n_in*n_out / rf) multipliers, weights in a ROM of rf words."""
    mults = math.ceil(n_in * n_out / rf)
    per = dsp_per_product(data_bits, weight_bits, target.part)
    on_dsp = target.mul_impl == "dsp" or (target.mul_impl == "auto" and min(data_bits, weight_bits) >= 5)
    dsp = mults * per if on_dsp else 0
    lut = mults * accum_bits * LUT_PER_SUM_BIT + (0 if on_dsp else mults * LUT_PER_FABRIC_MULT_BIT2 * data_bits
                                                 * weight_bits) + rom_lut(rf, mults * weight_bits)
    ff = mults * accum_bits * 2 + n_out * accum_bits
    latency = rf + target.cycles(DSP_MULT_NS + ADDER_NS) + 2
    return Cost(latency, rf, dsp, lut, ff, rom_bram(rf, mults * weight_bits))


@estimator("dense", "dense_latency", "dense_resource")
def dense(layer: Layer, target: Target) -> Cost:
    n_in, n_out = layer.get("n_in"), layer.get("n_out")
    raw = _weights(layer, "w", "weight_t")
    if raw is None or n_in is None or n_out is None:
        raise NotEstimated("dense layer without readable weights or sizes")
    bias = _weights(layer, "b", "bias_t")
    bias_nonzero = (bias != 0) if bias is not None else np.zeros(n_out, dtype=bool)
    data_bits = _width(layer.input_types[0] if layer.input_types else None)
    cost = dense_cost(n_in, n_out, raw, bias_nonzero, data_bits, _width(layer.types.get("accum_t")),
                      int(layer.get("reuse_factor", 1)), layer.get("multiplier_limit"),
                      str(layer.get("strategy", "latency")), target, _width(layer.types.get("weight_t"), 8))
    if target.io_type == "io_stream":  # the stream is read into an array first, then written out
        cost.latency += math.ceil(n_in / max(1, layer.sizes.get("pack", 1))) + 1
    return cost


@estimator("normalize")
def batchnorm(layer: Layer, target: Target) -> Cost:
    """y = x * scale + bias per element: a diagonal constant product."""
    scale = _weights(layer, "s", "scale_t")
    n = layer.get("n_in") or (scale.size if scale is not None else 0)
    if scale is None:
        raise NotEstimated("batch normalisation without readable scale")
    bias = _weights(layer, "b", "bias_t")
    data_bits = _width(layer.input_types[0] if layer.input_types else None)
    raw = np.diag(scale[:n]) if scale.size >= n else np.diag(np.resize(scale, n))
    p = constant_products(raw, data_bits, np.zeros(n), target)
    adds = int(np.count_nonzero(bias)) if bias is not None else 0
    out_bits = _width(layer.output_type)
    latency = target.cycles((DSP_MULT_NS if p.dsp else 0) + ADDER_NS) if (p.dsp or adds) else 0
    return Cost(latency, 1, p.dsp, p.lut + LUT_PER_SUM_BIT * adds * out_bits, latency * n * out_bits)


def _elementwise(layer: Layer, target: Target, extra_ns: float = 0.0) -> Cost:
    """An element-wise cast/compare (ReLU, linear, clipping): per element a compare and the output cast."""
    n = layer.get("n_in") or 1
    t_in = layer.input_types[0] if layer.input_types else None
    t_out = layer.output_type
    bits = _width(t_in)
    if t_out is not None:
        bits += t_out.width * ((t_out.rounding != "TRN") + (t_out.overflow != "WRAP"))
    latency = target.cycles(ADDER_NS + extra_ns)
    if target.io_type == "io_stream":  # one stream word (pack values) per cycle
        pack = max(1, layer.sizes.get("pack", 1))
        words = math.ceil(n / pack)
        return Cost(latency + words, words, 0, LUT_PER_CAST_BIT * pack * bits,
                    (latency + 1) * pack * (_width(t_in) + _width(t_out)))
    return Cost(latency, 1, 0, LUT_PER_CAST_BIT * n * bits, latency * n * (_width(t_in) + _width(t_out)))


@estimator("relu", "linear", "relu6", "relu1", "hard_sigmoid", "hard_tanh", "leaky_relu", "thresholded_relu",
           "binary_tanh", "ternary_tanh")
def elementwise(layer: Layer, target: Target) -> Cost:
    return _elementwise(layer, target)


@estimator("sigmoid", "tanh", "elu", "selu", "softplus", "softsign", "prelu")
def table_activation(layer: Layer, target: Target) -> Cost:
    """A table-driven activation: an index per element, one ROM copy per parallel lookup."""
    n = layer.get("n_in") or 1
    size = int(layer.get("table_size") or 1024)
    width = _width(layer.types.get("table_t"), 18)
    copies = n if target.io_type == "io_parallel" else max(1, layer.sizes.get("pack", 1))
    cost = _elementwise(layer, target, extra_ns=ADDER_NS)
    cost.bram_18k = copies * rom_bram(size, width)
    cost.lut += copies * rom_lut(size, width)
    cost.latency += 1 if cost.bram_18k else 0
    return cost


@estimator("softmax")
def softmax(layer: Layer, target: Target) -> Cost:
    """Stable softmax: max tree, differences, exp table per class, sum tree, inverse table, n products."""
    n = layer.get("n_in") or layer.get("n_slice") or 1
    in_bits = _width(layer.input_types[0] if layer.input_types else None)
    exp_bits = _width(layer.types.get("exp_table_t"), 18)
    inv_bits = _width(layer.types.get("inv_table_t"), 18)
    size = int(layer.get("exp_table_size") or layer.get("table_size") or 1024)
    on_dsp = target.mul_impl != "fabric"
    levels = 2 * math.ceil(math.log2(max(n, 2))) + 2
    latency = target.cycles(levels * ADDER_NS + SOFTMAX_FIXED_NS + (SOFTMAX_DSP_NS if on_dsp else 0)) + 1
    dsp = n * dsp_per_product(exp_bits, inv_bits, target.part) if on_dsp else 0
    lut = SOFTMAX_LUT_PER_CLASS_BIT * n * in_bits + (0 if on_dsp else n * LUT_PER_FABRIC_MULT_BIT2 * exp_bits
                                                       * inv_bits)
    lut += (n + 1) * rom_lut(size, max(exp_bits, inv_bits))
    ff = SOFTMAX_FF_PER_CLASS_BIT * n * in_bits * max(1, latency) / 8
    return Cost(latency, 1, dsp, lut, ff, n * rom_bram(size, exp_bits))


def _conv_geometry(layer: Layer) -> tuple[int, int, int]:
    """(output pixels, input pixels, kernel positions) of a 1D or 2D convolution/pooling config."""
    out_px = (layer.get("out_height") or 1) * (layer.get("out_width") or 1)
    in_px = (layer.get("in_height") or 1) * (layer.get("in_width") or 1)
    kernel = (layer.get("filt_height") or layer.get("pool_height") or 1) * \
        (layer.get("filt_width") or layer.get("pool_width") or 1)
    return out_px, in_px, kernel


@estimator("conv_1d_cl", "conv_2d_cl", "pointwise_conv_1d_cl", "pointwise_conv_2d_cl")
def conv(layer: Layer, target: Target) -> Cost:
    """A convolution: its per-pixel matrix product (`mult_config`) built `n_pixels` times (io_parallel,
    `n_partitions` steps) or once and fed one pixel per cycle through line buffers (io_stream)."""
    mult = layer.get("mult_config") or {}
    raw = _weights(layer, "w", "weight_t")
    if raw is None or not mult:
        raise NotEstimated("convolution without readable weights or mult_config")
    n_in, n_out = mult.get("n_in"), mult.get("n_out")
    bias = _weights(layer, "b", "bias_t")
    bias_nonzero = (bias != 0) if bias is not None else np.zeros(n_out, dtype=bool)
    data_bits = _width(layer.input_types[0] if layer.input_types else None)
    rf = int(layer.get("reuse_factor", 1))
    pixel = dense_cost(n_in, n_out, raw, bias_nonzero, data_bits, _width(layer.types.get("accum_t")), rf,
                       mult.get("multiplier_limit"), str(layer.get("strategy", "latency")), target,
                       _width(layer.types.get("weight_t"), 8))
    out_px, in_px, _ = _conv_geometry(layer)
    if target.io_type == "io_stream":
        line = (layer.get("filt_height") or 1) - 1
        buffer_bits = line * (layer.get("in_width") or 1) * (layer.get("n_chan") or 1) * data_bits
        steps = in_px * max(pixel.interval, 1)
        return Cost(steps + pixel.latency + 2, steps, pixel.dsp, pixel.lut + buffer_bits / 32 + 200,
                    pixel.ff + n_in * data_bits, 0)
    partitions = int(layer.get("n_partitions") or out_px)
    copies = max(1, out_px // partitions)
    interval = partitions * max(pixel.interval, 1)
    return Cost(interval + pixel.latency, interval, pixel.dsp * copies, pixel.lut * copies + 50 * copies,
                pixel.ff * copies, 0)


@estimator("pooling1d_cl", "pooling2d_cl", "global_pooling1d_cl", "global_pooling2d_cl")
def pooling(layer: Layer, target: Target) -> Cost:
    """Max/average pooling: a compare (or add) tree per output value."""
    out_px, in_px, kernel = _conv_geometry(layer)
    if layer.function.startswith("global"):
        kernel, out_px = in_px, 1
    channels = layer.get("n_filt") or layer.get("n_chan") or 1
    bits = _width(layer.input_types[0] if layer.input_types else None)
    levels = math.ceil(math.log2(max(kernel, 2)))
    outputs = out_px * channels
    if target.io_type == "io_stream":
        return Cost(in_px + target.cycles(levels * ADDER_NS) + 1, in_px, 0,
                    LUT_PER_SUM_BIT * (kernel - 1) * channels * bits * 1.5, channels * bits * (kernel + 1), 0)
    latency = target.cycles(levels * ADDER_NS)
    return Cost(latency, 1, 0, LUT_PER_SUM_BIT * (kernel - 1) * outputs * bits * 1.5,
                latency * outputs * bits, 0)


@estimator("add", "subtract", "average", "maximum", "minimum", "multiply", "concatenate1d", "concatenate2d",
           "concatenate3d", "dot1d")
def merge(layer: Layer, target: Target) -> Cost:
    """Element-wise merges: an adder/comparator (or a multiplier) per element; concatenation is wiring."""
    n = layer.get("n_elem") or layer.get("n_elem1_0") or layer.get("n_in") or 1
    bits = _width(layer.output_type)
    if layer.function.startswith("concatenate"):
        return Cost(0, 1, 0, 0, 0)
    if layer.function in ("multiply", "dot1d"):
        a, b = (_width(t) for t in (layer.input_types + [None, None])[:2])
        return Cost(target.cycles(DSP_MULT_NS) + 1, 1, n * dsp_per_product(a, b, target.part), n * bits, n * bits)
    latency = target.cycles(ADDER_NS)
    return Cost(latency, 1, 0, LUT_PER_SUM_BIT * n * bits, latency * n * bits)


@estimator("zeropad1d_cl", "zeropad2d_cl", "cropping1d_cl", "cropping2d_cl", "transpose", "resize_nearest",
           "repack_stream", "clone_stream", "flatten")
def wiring(layer: Layer, target: Target) -> Cost:
    """Layers that only move values: free in io_parallel, one value per cycle in io_stream."""
    if target.io_type == "io_stream":
        n = layer.get("n_in") or layer.get("in_width") or 1
        return Cost(n, n, 0, 30, 30, 0)
    return Cost(0, 1, 0, 0, 0, 0)


@estimator("lstm", "gru", "lstm_stack", "gru_stack")
def recurrent(layer: Layer, target: Target) -> Cost:
    """LSTM/GRU: per time step an input and a recurrent matrix product into the gates, table activations;
    the steps run one after another."""
    raw_w, raw_r = _weights(layer, "w", "weight_t"), _weights(layer, "wr", "recurrent_weight_t")
    if raw_w is None:
        raise NotEstimated("recurrent layer without readable weights")
    units = layer.get("n_out") or layer.get("n_state") or 1
    gates = 4 if layer.function.startswith("lstm") else 3
    n_in = layer.get("n_in") or max(1, raw_w.size // (gates * units))
    steps = layer.get("n_sequence") or layer.get("n_timesteps") or 1
    data_bits = _width(layer.input_types[0] if layer.input_types else None)
    accum = _width(layer.types.get("accum_t"))
    zeros = np.zeros(gates * units, dtype=bool)
    step = dense_cost(n_in, gates * units, raw_w, zeros, data_bits, accum, 1, None, "latency", target, 8)
    if raw_r is not None:
        step_r = dense_cost(units, gates * units, raw_r, zeros, accum, accum, 1, None, "latency", target, 8)
        step = Cost(max(step.latency, step_r.latency), 1, step.dsp + step_r.dsp, step.lut + step_r.lut,
                    step.ff + step_r.ff)
    size = int(layer.get("table_size") or 1024)
    tables = (gates + 1) * units
    per_step = step.latency + 2 * (target.cycles(ADDER_NS) + 1) + target.cycles(DSP_MULT_NS) + 1
    return Cost(steps * per_step, steps * per_step, step.dsp + 2 * units, step.lut + tables * rom_lut(size, 18),
                step.ff + units * accum * 4, tables * rom_bram(size, 18))


@estimator("self_attention", "message_passing", "layernorm_wide", "garnet", "garnet_stack")
def custom(layer: Layer, target: Target) -> Cost:
    """hepfpga's custom layers and hls4ml's GarNet: every weight a constant product per token/node (the
    projections), plus one variable product per score/message on DSPs; a rough count, see docs."""
    tokens = layer.get("n_tokens") or layer.get("n_nodes") or layer.get("n_vertices") or layer.get("seq_len") or 1
    data_bits = _width(layer.input_types[0] if layer.input_types else None)
    total = Cost()
    for name, values in layer.weights.items():
        if values.size < 2:
            continue
        key = "weight_t" if f"{name.rstrip('0123456789')}_t" not in layer.types else f"{name.rstrip('0123456789')}_t"
        t = layer.types.get(key) or next(iter(layer.types.values()), None)
        if t is None:
            continue
        raw = t.to_raw(values)
        rows = int(round(math.sqrt(raw.size))) if raw.ndim == 1 else raw.shape[0]
        if raw.size % max(rows, 1):
            continue
        p = constant_products(raw.reshape(rows, -1), data_bits, np.zeros(raw.size // rows), target)
        total.dsp += tokens * p.dsp
        total.lut += tokens * (p.lut + LUT_PER_SUM_BIT * p.adds * data_bits)
        total.ff += tokens * p.adds * data_bits
    pairs = tokens * tokens
    total.dsp += pairs
    total.lut += pairs * data_bits * 4
    total.ff += pairs * data_bits * 2
    total.latency = target.cycles(8 * ADDER_NS + 3 * DSP_MULT_NS) + 2 * math.ceil(math.log2(max(tokens, 2))) + 4
    return total
