"""The resource and latency model of each hls4ml layer kind (registered with `hepfpga.estimate.model.estimator`
under the nnet functions that compute it)."""

from __future__ import annotations

import math

import numpy as np

from hepfpga.estimate import coefficients as coef
from hepfpga.estimate.model import (
    ESTIMATORS,
    Cost,
    NotEstimated,
    Target,
    constant_products,
    dsp_per_product,
    estimator,
    raw_weights,
    rom_bram,
    rom_lut,
    width_of,
)
from hepfpga.firmware import Layer


def dense_cost(n_in: int, n_out: int, raw: np.ndarray, bias_nonzero, data_bits: int, accum_bits: int,
               rf: int, limit: int, strategy: str, target: Target, weight_bits: int) -> Cost:
    """A matrix-vector product n_in -> n_out (hls4ml's dense_latency / dense_resource kernels)."""
    if strategy == "resource" and rf > 1:
        return _dense_resource(n_in, n_out, raw, data_bits, accum_bits, rf, target, weight_bits)
    p = constant_products(raw.reshape(n_in, n_out), data_bits, bias_nonzero, target)
    mult_ns = coef.DSP_MULT_NS if p.dsp else coef.FABRIC_MULT_NS
    latency = max(1, target.cycles(mult_ns + p.depth * coef.ADDER_NS))
    if n_in * n_out > coef.UNROLL_LIMIT:
        latency = math.ceil(n_in / coef.INPUTS_PER_CYCLE_BEYOND_LIMIT)
    dsp = p.dsp
    if rf > 1 and limit and limit <= p.dsp_class:  # the ALLOCATION pragma binds: products queue
        mode = "dsp" if p.dsp else "fabric"
        latency = max(latency, math.ceil(p.dsp_class / limit) + coef.LIMIT_EXTRA_CYCLES[mode])
        dsp = min(dsp, limit * (p.dsp // max(p.dsp_class, 1) or 1)) if p.dsp else 0
    interval = min(rf, latency + 1)
    lut = coef.LUT_PER_SUM_BIT * p.adds * accum_bits + p.lut
    ff = (coef.FF_PER_SUM_BIT * p.adds * accum_bits + coef.FF_PER_INPUT_BIT_STAGE * n_in * data_bits
          * min(latency, 4)) / (1 + coef.FF_SAVING_AT_II * (interval > 1))
    return Cost(latency, interval, dsp, lut, ff)


def _dense_resource(n_in, n_out, raw, data_bits, accum_bits, rf, target: Target, weight_bits) -> Cost:
    """Resource strategy: ceil(n_in*n_out / rf) multipliers, weights in a ROM of rf words."""
    mults = math.ceil(n_in * n_out / rf)
    per = dsp_per_product(data_bits, weight_bits, target.part)
    on_dsp = target.mul_impl == "dsp" or (target.mul_impl == "auto" and min(data_bits, weight_bits) >= 5)
    dsp = mults * per if on_dsp else 0
    fabric = 0 if on_dsp else mults * coef.LUT_PER_FABRIC_MULT_BIT2 * data_bits * weight_bits
    lut = mults * accum_bits * coef.LUT_PER_SUM_BIT + fabric + rom_lut(rf, mults * weight_bits)
    ff = mults * accum_bits * 2 + n_out * accum_bits
    latency = rf + target.cycles(coef.DSP_MULT_NS + coef.ADDER_NS) + 2
    return Cost(latency, rf, dsp, lut, ff, rom_bram(rf, mults * weight_bits))


@estimator("dense", "dense_latency", "dense_resource")
def dense(layer: Layer, target: Target) -> Cost:
    n_in, n_out = layer.get("n_in"), layer.get("n_out")
    raw = raw_weights(layer, "w", "weight_t")
    if raw is None or n_in is None or n_out is None:
        raise NotEstimated("dense layer without readable weights or sizes")
    bias = raw_weights(layer, "b", "bias_t")
    bias_nonzero = (bias != 0) if bias is not None else np.zeros(n_out, dtype=bool)
    data_bits = width_of(layer.input_types[0] if layer.input_types else None)
    cost = dense_cost(n_in, n_out, raw, bias_nonzero, data_bits, width_of(layer.types.get("accum_t")),
                      int(layer.get("reuse_factor", 1)), layer.get("multiplier_limit"),
                      str(layer.get("strategy", "latency")), target, width_of(layer.types.get("weight_t"), 8))
    if target.io_type == "io_stream":  # the stream is read into an array first, then written out
        cost.latency += math.ceil(n_in / max(1, layer.sizes.get("pack", 1))) + 1
    return cost


@estimator("normalize")
def batchnorm(layer: Layer, target: Target) -> Cost:
    """y = x * scale + bias per element: a diagonal constant product."""
    scale = raw_weights(layer, "s", "scale_t")
    n = layer.get("n_in") or (scale.size if scale is not None else 0)
    if scale is None:
        raise NotEstimated("batch normalisation without readable scale")
    bias = raw_weights(layer, "b", "bias_t")
    data_bits = width_of(layer.input_types[0] if layer.input_types else None)
    raw = np.diag(scale[:n]) if scale.size >= n else np.diag(np.resize(scale, n))
    p = constant_products(raw, data_bits, np.zeros(n), target)
    adds = int(np.count_nonzero(bias)) if bias is not None else 0
    out_bits = width_of(layer.output_type)
    latency = target.cycles((coef.DSP_MULT_NS if p.dsp else 0) + coef.ADDER_NS) if (p.dsp or adds) else 0
    return Cost(latency, 1, p.dsp, p.lut + coef.LUT_PER_SUM_BIT * adds * out_bits, latency * n * out_bits)


def _elementwise(layer: Layer, target: Target, extra_ns: float = 0.0) -> Cost:
    """An element-wise cast/compare (ReLU, linear, clipping): per element a compare and the output cast."""
    n = layer.get("n_in") or 1
    t_in = layer.input_types[0] if layer.input_types else None
    t_out = layer.output_type
    bits = width_of(t_in)
    if t_out is not None:
        bits += t_out.width * ((t_out.rounding != "TRN") + (t_out.overflow != "WRAP"))
    latency = target.cycles(coef.ADDER_NS + extra_ns)
    if target.io_type == "io_stream":  # one stream word (pack values) per cycle
        pack = max(1, layer.sizes.get("pack", 1))
        words = math.ceil(n / pack)
        return Cost(latency + words, words, 0, coef.LUT_PER_CAST_BIT * pack * bits,
                    (latency + 1) * pack * (width_of(t_in) + width_of(t_out)))
    return Cost(latency, 1, 0, coef.LUT_PER_CAST_BIT * n * bits, latency * n * (width_of(t_in) + width_of(t_out)))


@estimator("relu", "linear", "relu6", "relu1", "hard_sigmoid", "hard_tanh", "leaky_relu", "thresholded_relu",
           "binary_tanh", "ternary_tanh")
def elementwise(layer: Layer, target: Target) -> Cost:
    return _elementwise(layer, target)


@estimator("sigmoid", "tanh", "elu", "selu", "softplus", "softsign", "prelu")
def table_activation(layer: Layer, target: Target) -> Cost:
    """A table-driven activation: an index per element, one ROM copy per parallel lookup."""
    n = layer.get("n_in") or 1
    size = int(layer.get("table_size") or 1024)
    width = width_of(layer.types.get("table_t"), 18)
    copies = n if target.io_type == "io_parallel" else max(1, layer.sizes.get("pack", 1))
    cost = _elementwise(layer, target, extra_ns=coef.ADDER_NS)
    cost.bram_18k = copies * rom_bram(size, width)
    cost.lut += copies * rom_lut(size, width)
    cost.latency += 1 if cost.bram_18k else 0
    return cost


@estimator("softmax")
def softmax(layer: Layer, target: Target) -> Cost:
    """Stable softmax: max tree, differences, exp table per class, sum tree, inverse table, n products."""
    n = layer.get("n_in") or layer.get("n_slice") or 1
    in_bits = width_of(layer.input_types[0] if layer.input_types else None)
    exp_bits = width_of(layer.types.get("exp_table_t"), 18)
    inv_bits = width_of(layer.types.get("inv_table_t"), 18)
    size = int(layer.get("exp_table_size") or layer.get("table_size") or 1024)
    on_dsp = target.mul_impl != "fabric"
    levels = 2 * math.ceil(math.log2(max(n, 2))) + 2
    latency = target.cycles(levels * coef.ADDER_NS + coef.SOFTMAX_FIXED_NS + (coef.SOFTMAX_DSP_NS if on_dsp else 0)) + 1
    dsp = n * dsp_per_product(exp_bits, inv_bits, target.part) if on_dsp else 0
    lut = coef.SOFTMAX_LUT_PER_CLASS_BIT * n * in_bits + (0 if on_dsp else n * coef.LUT_PER_FABRIC_MULT_BIT2 * exp_bits
                                                       * inv_bits)
    lut += (n + 1) * rom_lut(size, max(exp_bits, inv_bits))
    ff = coef.SOFTMAX_FF_PER_CLASS_BIT * n * in_bits * max(1, latency) / 8
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
    raw = raw_weights(layer, "w", "weight_t")
    if raw is None or not mult:
        raise NotEstimated("convolution without readable weights or mult_config")
    n_in, n_out = mult.get("n_in"), mult.get("n_out")
    bias = raw_weights(layer, "b", "bias_t")
    bias_nonzero = (bias != 0) if bias is not None else np.zeros(n_out, dtype=bool)
    data_bits = width_of(layer.input_types[0] if layer.input_types else None)
    rf = int(layer.get("reuse_factor", 1))
    pixel = dense_cost(n_in, n_out, raw, bias_nonzero, data_bits, width_of(layer.types.get("accum_t")), rf,
                       mult.get("multiplier_limit"), str(layer.get("strategy", "latency")), target,
                       width_of(layer.types.get("weight_t"), 8))
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
    bits = width_of(layer.input_types[0] if layer.input_types else None)
    levels = math.ceil(math.log2(max(kernel, 2)))
    outputs = out_px * channels
    if target.io_type == "io_stream":
        return Cost(in_px + target.cycles(levels * coef.ADDER_NS) + 1, in_px, 0,
                    coef.LUT_PER_SUM_BIT * (kernel - 1) * channels * bits * 1.5, channels * bits * (kernel + 1), 0)
    latency = target.cycles(levels * coef.ADDER_NS)
    return Cost(latency, 1, 0, coef.LUT_PER_SUM_BIT * (kernel - 1) * outputs * bits * 1.5,
                latency * outputs * bits, 0)


@estimator("add", "subtract", "average", "maximum", "minimum", "multiply", "concatenate1d", "concatenate2d",
           "concatenate3d", "dot1d")
def merge(layer: Layer, target: Target) -> Cost:
    """Element-wise merges: an adder/comparator (or a multiplier) per element; concatenation is wiring."""
    n = layer.get("n_elem") or layer.get("n_elem1_0") or layer.get("n_in") or 1
    bits = width_of(layer.output_type)
    if layer.function.startswith("concatenate"):
        return Cost(0, 1, 0, 0, 0)
    if layer.function in ("multiply", "dot1d"):
        a, b = (width_of(t) for t in (layer.input_types + [None, None])[:2])
        return Cost(target.cycles(coef.DSP_MULT_NS) + 1, 1, n * dsp_per_product(a, b, target.part), n * bits, n * bits)
    latency = target.cycles(coef.ADDER_NS)
    return Cost(latency, 1, 0, coef.LUT_PER_SUM_BIT * n * bits, latency * n * bits)


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
    raw_w, raw_r = raw_weights(layer, "w", "weight_t"), raw_weights(layer, "wr", "recurrent_weight_t")
    if raw_w is None:
        raise NotEstimated("recurrent layer without readable weights")
    units = layer.get("n_out") or layer.get("n_state") or 1
    gates = 4 if layer.function.startswith("lstm") else 3
    n_in = layer.get("n_in") or max(1, raw_w.size // (gates * units))
    steps = layer.get("n_sequence") or layer.get("n_timesteps") or 1
    data_bits = width_of(layer.input_types[0] if layer.input_types else None)
    accum = width_of(layer.types.get("accum_t"))
    zeros = np.zeros(gates * units, dtype=bool)
    step = dense_cost(n_in, gates * units, raw_w, zeros, data_bits, accum, 1, None, "latency", target, 8)
    if raw_r is not None:
        step_r = dense_cost(units, gates * units, raw_r, zeros, accum, accum, 1, None, "latency", target, 8)
        step = Cost(max(step.latency, step_r.latency), 1, step.dsp + step_r.dsp, step.lut + step_r.lut,
                    step.ff + step_r.ff)
    size = int(layer.get("table_size") or 1024)
    tables = (gates + 1) * units
    per_step = step.latency + 2 * (target.cycles(coef.ADDER_NS) + 1) + target.cycles(coef.DSP_MULT_NS) + 1
    return Cost(steps * per_step, steps * per_step, step.dsp + 2 * units, step.lut + tables * rom_lut(size, 18),
                step.ff + units * accum * 4, tables * rom_bram(size, 18))


@estimator("self_attention", "message_passing", "layernorm_wide", "garnet", "garnet_stack")
def custom(layer: Layer, target: Target) -> Cost:
    """hepfpga's custom layers and hls4ml's GarNet: every weight a constant product per token/node (the
    projections), plus one variable product per score/message on DSPs; a rough count, see docs."""
    tokens = layer.get("n_tokens") or layer.get("n_nodes") or layer.get("n_vertices") or layer.get("seq_len") or 1
    data_bits = width_of(layer.input_types[0] if layer.input_types else None)
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
        total.lut += tokens * (p.lut + coef.LUT_PER_SUM_BIT * p.adds * data_bits)
        total.ff += tokens * p.adds * data_bits
    pairs = tokens * tokens
    total.dsp += pairs
    total.lut += pairs * data_bits * 4
    total.ff += pairs * data_bits * 2
    total.latency = (target.cycles(8 * coef.ADDER_NS + 3 * coef.DSP_MULT_NS)
                     + 2 * math.ceil(math.log2(max(tokens, 2))) + 4)
    return total


def layer_cost(layer: Layer, target: Target) -> Cost:
    """The Cost of one layer; NotEstimated for kinds the model does not cover."""
    fn = ESTIMATORS.get(layer.function)
    if fn is None:
        raise NotEstimated(f"no model for hls4ml function nnet::{layer.function}")
    return fn(layer, target)
