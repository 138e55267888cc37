"""The resource and latency model of hls4ml's matrix products: dense layers and convolutions (plain,
pointwise, depthwise, separable), in io_parallel and io_stream, Latency and Resource strategies. Registered with
`hepfpga.estimate.model.estimator` like every layer model (`hepfpga/estimate/layers.py` holds the others).

A Latency-strategy product is unrolled over constant weights; a Resource-strategy product runs `reuse_factor`
cycles on shared multipliers; a stream convolution takes each input pixel through line buffers (pipelined at
II = reuse factor for the Latency strategy, one Resource-strategy product per pixel otherwise).
"""

from __future__ import annotations

import math

import numpy as np

from hepfpga.estimate.model import (
    Cost,
    NotEstimated,
    Target,
    _type,
    bram_blocks,
    constant_products,
    cut_bits,
    data_bits_of,
    dsp_per_product,
    estimator,
    raw_weights,
    rom,
    width_of,
)
from hepfpga.firmware import Layer

#: hls4ml documents 4096 multiplications as the limit of a fully unrolled Latency-strategy layer; beyond it the
#: HLS tool pipelines the input loop, this many inputs per cycle (one calibration layer, 196x56).
UNROLL_LIMIT = 4096
INPUTS_PER_CYCLE_BEYOND_LIMIT = 4


# --- matrix products ---------------------------------------------------------------------------------------


def product_cost(layer: Layer, target: Target, n_in: int, n_out: int, raw: np.ndarray, bias_nonzero, data_bits: int,
                 accum_bits: int, weight_bits: int, rf: int, limit, strategy: str, window: bool = False) -> Cost:
    """A matrix-vector product n_in -> n_out: hls4ml's dense_latency (constant products, unrolled) or
    dense_resource (general multipliers shared over `rf` cycles)."""
    if strategy.startswith("resource") and rf > 1:
        return _resource_product(target, n_in, n_out, data_bits, accum_bits, weight_bits, rf, window)
    p = constant_products(layer, raw.reshape(n_in, n_out), data_bits, bias_nonzero, target)
    fabric_ns = target["fabric_mult_levels"] * target["adder_ns"]
    mult_ns = target["dsp_mult_ns"] if p.dsp else (fabric_ns if p.dsp_class or p.shift_add_bits else 0)
    latency = target.cycles(mult_ns + p.depth * target["adder_ns"])
    stages = latency
    if n_in * n_out > UNROLL_LIMIT:
        latency = math.ceil(n_in / INPUTS_PER_CYCLE_BEYOND_LIMIT)
    dsp = p.dsp
    if rf > 1 and limit and limit <= p.dsp_class:  # the ALLOCATION pragma binds: products queue
        latency = max(latency, math.ceil(p.dsp_class / limit) + (2 if p.dsp else 1))
        dsp = min(dsp, limit * (p.dsp // max(p.dsp_class, 1) or 1)) if p.dsp else 0
    interval = min(rf, latency + 1) if rf > 1 else 1
    lut = (target["lut_sum_bit"] * p.adds * accum_bits + target["lut_shift_add_bit"] * p.shift_add_bits
           + target["lut_fabric_digit_bit"] * p.fabric_digit_bits)
    ff = (target["ff_cut_bit"] * cut_bits(p.terms, accum_bits, mult_ns, min(stages, p.depth + 2), target)
          + target["ff_in_bit_stage"] * n_in * data_bits * min(latency, 4))
    ff /= 1 + target["ff_saving_at_ii"] * (interval > 1)  # registers shared when inputs come every II > 1 cycles
    return Cost(latency, interval, dsp, lut, ff, kind="dense")


def _resource_product(target: Target, n_in, n_out, data_bits, accum_bits, weight_bits, rf, window: bool) -> Cost:
    """Resource strategy: ceil(n_in*n_out / rf) multipliers (the block factor), each selecting its input of
    the cycle from min(rf, n_in) inputs when the tool resolves hls4ml's run-time index, from all n_in when it
    does not (the reports show both; `mux_exponent`, and `conv_mux_exponent` for a convolution's kernel
    `window`, interpolate between them); weights in a ROM of rf words; interval = rf."""
    rf = min(rf, n_in * n_out)
    mults = math.ceil(n_in * n_out / rf)
    on_dsp = target.mul_impl == "dsp" or (target.mul_impl == "auto"
                                          and min(data_bits, weight_bits) >= target["res_min_bits"])
    exponent = target["conv_mux_exponent" if window else "mux_exponent"]
    sources = min(rf, n_in) * (n_in / min(rf, n_in)) ** min(1.0, exponent)
    dsp = mults * dsp_per_product(data_bits, weight_bits, target.part) if on_dsp else 0
    fabric = 0.0 if on_dsp else mults * target["lut_fabric_mult_bit2"] * data_bits * weight_bits
    latency = rf + target.cycles(target["dsp_mult_ns"] + target["adder_ns"]) + target.count(target["res_extra_cycles"])
    lut = mults * (target["lut_res_acc_bit"] * accum_bits + target["lut_mux_bit"] * data_bits * max(sources - 1, 0) / 3)
    lut += target["lut_res_layer"]
    ff = target["ff_res_bit"] * mults * accum_bits + n_out * accum_bits + target["ff_res_layer"]
    weights = rom(rf, mults * weight_bits, target) if "rom_bram" not in target.traits else \
        Cost(bram_18k=bram_blocks(rf, mults * weight_bits), lut=mults * weight_bits / 8)
    return Cost(latency, rf, dsp, lut + fabric + weights.lut, ff, weights.bram_18k, kind="dense_resource")


def _mult_inputs(layer: Layer, mult: dict, prefix: str = "w", bias_prefix: str = "b"):
    """(raw weights, bias non-zero flags, data bits, accumulator bits, weight bits, reuse factor, limit, strategy)
    of a product configured by `mult` (the layer's own configuration or a nested mult_config)."""
    raw = raw_weights(layer, prefix, "weight_t", mult)
    if raw is None:
        raise NotEstimated(f"{layer.function} without readable weights")
    n_out = int(mult.get("n_out") or 1)
    bias = raw_weights(layer, bias_prefix, "bias_t", mult)
    bias_nonzero = (bias[:n_out] != 0) if bias is not None and bias.size >= n_out else np.zeros(n_out, dtype=bool)
    accum = _type(layer, "accum_t", mult) or layer.types.get("accum_t")
    weight = _type(layer, "weight_t", mult)
    return (raw, bias_nonzero, data_bits_of(layer), width_of(accum), width_of(weight, 8),
            int(mult.get("reuse_factor") or layer.get("reuse_factor") or 1), mult.get("multiplier_limit"),
            str(mult.get("strategy") or layer.get("strategy") or "latency"))


def stream_words(layer: Layer, n: int) -> int:
    """Stream words of `n` values at the layer's input packing."""
    return math.ceil(n / max(1, layer.sizes.get("pack", 1)))


@estimator("dense", "dense_latency", "dense_resource")
def dense(layer: Layer, target: Target) -> Cost:
    n_in, n_out = layer.get("n_in"), layer.get("n_out")
    if n_in is None or n_out is None:
        raise NotEstimated("dense layer without sizes")
    raw, bias_nz, data_bits, accum, wbits, rf, limit, strategy = _mult_inputs(layer, layer.config)
    if layer.function == "dense_resource":
        strategy = "resource"
    cost = product_cost(layer, target, n_in, n_out, raw, bias_nz, data_bits, accum, wbits, rf, limit, strategy)
    if target.io_type == "io_stream":  # read the stream into an array, compute, write the outputs
        words_in = stream_words(layer, n_in)
        buffer = n_in * data_bits
        cost.latency += words_in + max(1, math.ceil(n_out / max(1, layer.sizes.get("pack_out", n_out)))) + 1
        cost.interval = cost.latency
        per_bit = target["ff_res_buffer_bit"] if cost.kind == "dense_resource" else target["ff_buffer_bit"]
        cost.ff += per_bit * buffer + target["ff_stream_layer"]
        cost.lut += target["lut_buffer_bit"] * buffer + target["lut_stream_layer"]
    return cost


# --- convolutions ------------------------------------------------------------------------------------------


def geometry(c: dict) -> dict:
    """Sizes of a 1D or 2D convolution/pooling configuration (1 where a dimension is absent)."""
    g = {k: int(c.get(k) or 1) for k in ("in_height", "in_width", "out_height", "out_width", "n_chan", "n_filt",
                                         "stride_height", "stride_width")}
    g["in_width"] = int(c.get("in_width") or c.get("n_in") or 1)
    g["out_width"] = int(c.get("out_width") or c.get("n_out") or 1)
    g["filt_height"] = int(c.get("filt_height") or c.get("pool_height") or 1)
    g["filt_width"] = int(c.get("filt_width") or c.get("pool_width") or 1)
    g["n_chan"] = int(c.get("n_chan") or c.get("n_filt") or 1)
    g["in_px"], g["out_px"] = g["in_height"] * g["in_width"], g["out_height"] * g["out_width"]
    g["kernel"] = g["filt_height"] * g["filt_width"]
    return g


def _pixel_product(layer: Layer, target: Target, mult: dict, prefix="w", bias_prefix="b") -> Cost:
    raw, bias_nz, data_bits, accum, wbits, rf, limit, strategy = _mult_inputs(layer, mult, prefix, bias_prefix)
    n_in, n_out = int(mult.get("n_in") or 1), int(mult.get("n_out") or 1)
    if raw.size < n_in * n_out:
        raise NotEstimated(f"{layer.function}: {raw.size} weights for a {n_in}x{n_out} product")
    return product_cost(layer, target, n_in, n_out, raw[: n_in * n_out], bias_nz, data_bits, accum, wbits, rf, limit,
                        strategy, window=True)


def stream_conv(layer: Layer, target: Target, g: dict, pixel: Cost, strategy: str, data_bits: int) -> Cost:
    """A convolution over a stream, one input pixel per iteration: pipelined at II = the product's interval
    (Latency strategy), or one whole Resource-strategy product per pixel; line buffers of (filt_height - 1)
    rows, a kernel window in registers."""
    if strategy.startswith("resource") and pixel.kind == "dense_resource":
        per_pixel = pixel.interval + target.count(target["conv_pixel_cycles"])
        latency = g["in_px"] * per_pixel + 2
        interval = latency
    else:
        ii = max(1, pixel.interval)
        latency = g["in_px"] * ii + pixel.latency + 2
        interval = g["in_px"] * ii
    window = g["kernel"] * g["n_chan"] * data_bits
    line = (g["filt_height"] - 1) * g["in_width"] * g["n_chan"] * data_bits
    cost = Cost(latency, interval, pixel.dsp, pixel.lut, pixel.ff, pixel.bram_18k, kind=f"conv_{pixel.kind}")
    cost.lut += (target["lut_window_bit"] * window + target["lut_line_bit"] * line + target["lut_stream_layer"])
    cost.ff += target["ff_window_bit"] * window + target["ff_stream_layer"]
    return cost


@estimator("conv_1d_cl", "conv_2d_cl", "pointwise_conv_1d_cl", "pointwise_conv_2d_cl", "conv_1d_latency_cl",
           "conv_2d_latency_cl", "conv_1d_resource_cl", "conv_2d_resource_cl")
def conv(layer: Layer, target: Target) -> Cost:
    """A convolution: its per-pixel matrix product (`mult_config`) built once and fed pixel by pixel
    (io_stream), or built `n_pixels` times and run `n_partitions` times (io_parallel)."""
    mult = layer.get("mult_config")
    if not isinstance(mult, dict):
        raise NotEstimated("convolution without a mult_config")
    g = geometry(layer.config)
    pixel = _pixel_product(layer, target, mult)
    strategy = str(mult.get("strategy") or layer.get("strategy") or "latency")
    if target.io_type == "io_stream":
        return stream_conv(layer, target, g, pixel, strategy, data_bits_of(layer))
    partitions = int(layer.get("n_partitions") or g["out_px"])
    copies = max(1, g["out_px"] // max(partitions, 1))
    interval = partitions * max(pixel.interval, 1)
    return Cost(interval + pixel.latency, interval, pixel.dsp * copies, pixel.lut * copies + 50 * copies,
                pixel.ff * copies, pixel.bram_18k, kind=f"conv_{pixel.kind}")


@estimator("depthwise_conv_1d_cl", "depthwise_conv_2d_cl")
def depthwise(layer: Layer, target: Target) -> Cost:
    """A depthwise convolution: per channel its own kernel (n_chan products of kernel x 1)."""
    g = geometry(layer.config)
    mult = layer.get("mult_config") if isinstance(layer.get("mult_config"), dict) else dict(layer.config)
    return _depthwise(layer, target, g, mult, "w", "b")


def _depthwise(layer: Layer, target: Target, g: dict, mult: dict, prefix: str, bias_prefix: str) -> Cost:
    raw = raw_weights(layer, prefix, "weight_t", mult)
    if raw is None:
        raise NotEstimated("depthwise convolution without readable weights")
    chans, kernel = g["n_chan"], g["kernel"]
    if raw.size < chans * kernel:
        raise NotEstimated(f"depthwise convolution: {raw.size} weights for {chans} channels x {kernel}")
    # each channel's kernel as its own column: a (kernel*chan) x chan block-diagonal product
    block = np.zeros((kernel * chans, chans), dtype=np.int64)
    w = raw[: kernel * chans].reshape(kernel, chans)
    for c in range(chans):
        block[c::chans, c] = w[:, c]
    accum = _type(layer, "accum_t", mult) or layer.types.get("accum_t")
    rf = int(mult.get("reuse_factor") or layer.get("reuse_factor") or 1)
    strategy = str(mult.get("strategy") or layer.get("strategy") or "latency")
    pixel = product_cost(layer, target, kernel * chans, chans, block, np.zeros(chans, dtype=bool), data_bits_of(layer),
                         width_of(accum), width_of(_type(layer, "weight_t", mult), 8), rf, mult.get("multiplier_limit"),
                         strategy, window=True)
    if target.io_type == "io_stream":
        return stream_conv(layer, target, g, pixel, strategy, data_bits_of(layer))
    return Cost(pixel.latency + g["out_px"], g["out_px"], pixel.dsp, pixel.lut, pixel.ff, kind=f"conv_{pixel.kind}")


@estimator("separable_conv_1d_cl", "separable_conv_2d_cl")
def separable(layer: Layer, target: Target) -> Cost:
    """A separable convolution: a depthwise convolution, a stream between them, a pointwise (1x1) one."""
    dw, pw = layer.get("depthwise_config"), layer.get("pointwise_config")
    if not isinstance(dw, dict) or not isinstance(pw, dict):
        raise NotEstimated("separable convolution without depthwise/pointwise configurations")
    prefixes = [k.rstrip("0123456789") for k in layer.weights]
    if not {"d", "p"} <= set(prefixes):
        raise NotEstimated("separable convolution without depthwise (d) and pointwise (p) weights")
    g_dw, g_pw = geometry(dw), geometry(pw)
    first = _depthwise(layer, target, g_dw, dw.get("mult_config") if isinstance(dw.get("mult_config"), dict) else dw,
                       "d", "z")
    pw_mult = pw.get("mult_config") if isinstance(pw.get("mult_config"), dict) else pw
    second_pixel = _pixel_product(layer, target, pw_mult, "p", "b")
    strategy = str(pw_mult.get("strategy") or "latency")
    second = stream_conv(layer, target, g_pw, second_pixel, strategy, data_bits_of(layer)) \
        if target.io_type == "io_stream" else second_pixel
    cost = Cost(max(first.latency, second.latency) + min(first.latency, second.latency) // 8,
                max(first.interval, second.interval), kind="separable")
    cost.add(first).add(second)
    return cost
