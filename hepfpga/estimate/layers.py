"""The resource and latency model of each hls4ml layer kind (registered with `hepfpga.estimate.model.estimator`
under the nnet functions that compute it). Each returns a `Cost` whose `kind` names the hardware it is
("dense", "dense_resource", "conv", ...): the calibration residuals of that kind are its uncertainty.

The loops modelled are those of hls4ml's `nnet_utils` (1.3, and the 0.5-0.8 versions the calibration projects
ship, where they differ the figures are fitted): a Latency-strategy product is unrolled over constant weights;
a Resource-strategy product runs `reuse_factor` cycles on shared multipliers; an io_stream layer reads its
input words one per cycle; a stream convolution or pooling takes each input pixel through line buffers
(pipelined at II = reuse factor for the Latency strategy, one Resource-strategy product per pixel otherwise).
"""

from __future__ import annotations

import math

import numpy as np

from hepfpga.estimate.model import (
    ESTIMATORS,
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


def _geometry(c: dict) -> dict:
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
    g = _geometry(layer.config)
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
    g = _geometry(layer.config)
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
    g_dw, g_pw = _geometry(dw), _geometry(pw)
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


# --- pooling, padding, resizing ------------------------------------------------------------------------------


@estimator("pooling1d_cl", "pooling2d_cl", "global_pooling1d_cl", "global_pooling2d_cl")
def pooling(layer: Layer, target: Target) -> Cost:
    """Max/average pooling: a compare (or add) tree per output value; in a stream, line buffers and one
    input pixel per cycle."""
    g = _geometry(layer.config)
    if layer.function.startswith("global"):
        g["kernel"], g["out_px"] = g["in_px"], 1
    bits = data_bits_of(layer)
    channels = g["n_chan"]
    levels = math.ceil(math.log2(max(g["kernel"], 2)))
    if target.io_type == "io_stream":
        window = g["kernel"] * channels * bits
        line = (g["filt_height"] - 1) * g["in_width"] * channels * bits
        latency = (target.count(g["in_px"] * target["pool_cycles_per_pixel"])
                   + target.cycles(levels * target["adder_ns"]) + 2)
        return Cost(latency, latency, 0,
                    target["pool_lut_bit"] * (g["kernel"] - 1) * channels * bits + target["lut_window_bit"] * window
                    + target["lut_line_bit"] * line + target["lut_stream_layer"],
                    target["ff_window_bit"] * window + target["ff_stream_layer"], kind="pooling")
    outputs = g["out_px"] * channels
    latency = target.cycles(levels * target["adder_ns"])
    return Cost(latency, 1, 0, target["pool_lut_bit"] * (g["kernel"] - 1) * outputs * bits,
                latency * outputs * bits * target["ff_cut_bit"], kind="pooling")


@estimator("zeropad1d_cl", "zeropad2d_cl", "cropping1d_cl", "cropping2d_cl", "resize_nearest", "transpose",
           "transpose_2d", "transpose_3d", "repack_stream", "clone_stream", "broadcast_stream", "flatten")
def wiring(layer: Layer, target: Target) -> Cost:
    """Layers that only move values: free in io_parallel; in io_stream one output word per cycle (padding,
    resizing and cropping write every output pixel, a copy every input word)."""
    if target.io_type != "io_stream":
        return Cost(kind="wiring")
    g = _geometry(layer.config)
    if layer.function.startswith(("zeropad", "cropping", "resize")):
        words = max(g["out_px"], 1)
        if layer.function == "resize_nearest" and g["out_px"] <= 1:
            words = int(layer.get("new_height") or 1) * int(layer.get("new_width") or 1)
    else:
        words = stream_words(layer, int(layer.get("n_in") or layer.get("in_width") or 1))
    bits = data_bits_of(layer) * max(1, layer.sizes.get("pack", 1))
    return Cost(words + 2, words + 2, 0, target["lut_wiring"] + bits * target["lut_cast_bit"] / 2,
                target["ff_wiring"] + bits * target["ff_cast_bit"], kind="wiring")


# --- element-wise layers, tables, softmax --------------------------------------------------------------------


def _cast_bits(layer: Layer) -> int:
    t_in = layer.input_types[0] if layer.input_types else None
    t_out = layer.output_type
    bits = width_of(t_in)
    if t_out is not None:
        bits += t_out.width * ((t_out.rounding != "TRN") + (t_out.overflow != "WRAP"))
    return bits


def _elementwise(layer: Layer, target: Target, n: int, extra_ns: float = 0.0, kind: str = "activation") -> Cost:
    """Per element a compare and the output cast; in a stream, one word of `pack` values per cycle."""
    bits = _cast_bits(layer)
    latency = target.cycles(target["adder_ns"] + extra_ns)
    if target.io_type == "io_stream":
        pack = max(1, layer.sizes.get("pack", 1))
        words = math.ceil(n / pack)
        io_bits = pack * (data_bits_of(layer) + width_of(layer.output_type))
        return Cost(latency + words + 1, words + 1, 0,
                    target["lut_cast_bit"] * pack * bits + target["lut_stream_layer"] / 3,
                    target["ff_cast_bit"] * io_bits + target["ff_stream_layer"] / 3, kind=kind)
    return Cost(latency, 1, 0, target["lut_cast_bit"] * n * bits,
                latency * n * (data_bits_of(layer) + width_of(layer.output_type)) * target["ff_cut_bit"], kind=kind)


def _n(layer: Layer) -> int:
    return int(layer.get("n_in") or layer.get("n_elem") or 1)


@estimator("relu", "linear", "relu6", "relu1", "hard_sigmoid", "hard_tanh", "leaky_relu", "thresholded_relu",
           "binary_tanh", "ternary_tanh", "normalize_binary_tanh", "normalize_ternary_tanh")
def elementwise(layer: Layer, target: Target) -> Cost:
    return _elementwise(layer, target, _n(layer))


@estimator("sigmoid", "tanh", "elu", "selu", "softplus", "softsign", "prelu", "unary_lut")
def table_activation(layer: Layer, target: Target) -> Cost:
    """A table-driven activation: an index per element, one ROM per two parallel lookups (dual-port)."""
    n = _n(layer)
    size = int(layer.get("table_size") or 1024)
    width = width_of(layer.types.get("table_t"), 18)
    lookups = n if target.io_type == "io_parallel" else max(1, layer.sizes.get("pack", 1))
    table = rom(size, width, target)
    copies = math.ceil(lookups / 2) if table.bram_18k else lookups
    cost = _elementwise(layer, target, n, extra_ns=target["table_extra_ns"], kind="table_activation")
    cost.bram_18k = copies * table.bram_18k
    cost.lut += copies * table.lut
    return cost


@estimator("softmax")
def softmax(layer: Layer, target: Target) -> Cost:
    """Stable softmax: max tree, differences, exp table per class, sum tree, inverse table, n products
    (io_parallel); in a stream one class after another through one table of each kind and one multiplier."""
    n = int(layer.get("n_in") or layer.get("n_slice") or 1)
    in_bits = data_bits_of(layer)
    exp_bits = width_of(layer.types.get("exp_table_t"), 18)
    inv_bits = width_of(layer.types.get("inv_table_t"), 18)
    size = int(layer.get("exp_table_size") or layer.get("table_size") or 1024)
    on_dsp = target.mul_impl != "fabric" and min(exp_bits, inv_bits) >= target["res_min_bits"]
    table = rom(size, max(exp_bits, inv_bits), target)
    if target.io_type == "io_stream":
        latency = target.count(target["softmax_stream_cycles"] * n) + target.cycles(target["softmax_fixed_ns"]) + 2
        return Cost(latency, latency, 1 if on_dsp else 0,
                    target["softmax_lut_class_bit"] * n * in_bits / 2 + 2 * table.lut + target["lut_stream_layer"],
                    target["softmax_ff_class_bit"] * n * in_bits / 2 + target["ff_stream_layer"],
                    2 * table.bram_18k, kind="softmax")
    tree = math.ceil(math.log2(max(n, 2)))
    # stable: max tree, differences, exp table, sum tree, inverse table; latency/legacy: no max, no differences
    levels = 2 * tree + 2 if str(layer.get("implementation", "stable")) == "stable" else tree + 1
    latency = target.cycles(levels * target["adder_ns"] + target["softmax_fixed_ns"]
                            + (target["softmax_dsp_ns"] if on_dsp else 0)) + 1
    dsp = n * dsp_per_product(exp_bits, inv_bits, target.part) if on_dsp else 0
    lut = target["softmax_lut_class_bit"] * n * in_bits + (0 if on_dsp else n * target["lut_fabric_mult_bit2"]
                                                           * exp_bits * inv_bits)
    lut += (n + 1) * table.lut
    ff = target["softmax_ff_class_bit"] * n * in_bits * max(1, latency) / 8
    return Cost(latency, 1, dsp, lut, ff, n * table.bram_18k + table.bram_18k * 0, kind="softmax")


@estimator("normalize")
def batchnorm(layer: Layer, target: Target) -> Cost:
    """y = x * scale + bias per element: a diagonal constant product (io_parallel); in a stream one word per
    II = n_in / multiplier_limit cycles on multiplier_limit shared multipliers."""
    scale = raw_weights(layer, "s", "scale_t")
    if scale is None:
        raise NotEstimated("batch normalisation without readable scale")
    n = int(layer.get("n_in") or scale.size)
    data_bits = data_bits_of(layer)
    out_bits = width_of(layer.output_type)
    bias = raw_weights(layer, "b", "bias_t")
    if target.io_type == "io_stream":
        pack = max(1, layer.sizes.get("pack", 1))
        words = math.ceil(n / pack)
        limit = int(layer.get("multiplier_limit") or pack)
        ii = max(1, n // max(limit, 1)) if layer.get("multiplier_limit") else 1
        mults = min(pack, limit)
        on_dsp = min(data_bits, width_of(layer.types.get("scale_t"))) >= target["res_min_bits"]
        return Cost(words * ii + target.cycles(target["dsp_mult_ns"] + target["adder_ns"]) + 1, words * ii,
                    mults if on_dsp else 0,
                    mults * target["lut_mux_bit"] * data_bits * 3 + pack * out_bits * target["lut_cast_bit"]
                    + target["lut_stream_layer"],
                    pack * (data_bits + out_bits) * target["ff_cast_bit"] + target["ff_stream_layer"], kind="normalize")
    diag = np.diag(np.resize(scale, n))
    p = constant_products(layer, diag, data_bits, np.zeros(n), target)
    adds = int(np.count_nonzero(bias)) if bias is not None else 0
    latency = target.cycles((target["dsp_mult_ns"] if p.dsp else 0) + target["adder_ns"]) if (p.dsp or adds) else 0
    lut = (target["lut_shift_add_bit"] * p.shift_add_bits + target["lut_fabric_digit_bit"] * p.fabric_digit_bits
           + target["lut_sum_bit"] * adds * out_bits)
    return Cost(latency, 1, p.dsp, lut, latency * n * out_bits * target["ff_cut_bit"], kind="normalize")


@estimator("add", "subtract", "average", "maximum", "minimum", "multiply", "concatenate1d", "concatenate2d",
           "concatenate3d", "dot1d")
def merge(layer: Layer, target: Target) -> Cost:
    """Element-wise merges: an adder/comparator (or a multiplier) per element; concatenation is wiring."""
    n = int(layer.get("n_elem") or layer.get("n_elem1_0") or layer.get("n_in") or 1)
    bits = width_of(layer.output_type)
    stream = target.io_type == "io_stream"
    pack = max(1, layer.sizes.get("pack", 1)) if stream else n
    words = math.ceil(n / pack)
    if layer.function.startswith("concatenate"):
        return Cost(words if stream else 0, words if stream else 1, 0, target["lut_stream_layer"] if stream else 0,
                    target["ff_stream_layer"] if stream else 0, kind="merge")
    if layer.function in ("multiply", "dot1d"):
        a, b = (width_of(t) for t in (layer.input_types + [None, None])[:2])
        latency = target.cycles(target["dsp_mult_ns"]) + 1
        cost = Cost(latency, 1, pack * dsp_per_product(a, b, target.part), pack * bits, pack * bits, kind="merge")
    else:
        latency = target.cycles(target["adder_ns"])
        cost = Cost(latency, 1, 0, target["lut_sum_bit"] * pack * bits, latency * pack * bits, kind="merge")
    if stream:
        cost.latency += words + 1
        cost.interval = words
        cost.lut += target["lut_stream_layer"]
        cost.ff += target["ff_stream_layer"]
    return cost


@estimator("embedding")
def embedding(layer: Layer, target: Target) -> Cost:
    """A lookup of n_in indices in a vocab_size x n_out table: one ROM per two parallel lookups (io_parallel),
    one lookup per input word (io_stream)."""
    n_in, n_out = int(layer.get("n_in") or 1), int(layer.get("n_out") or 1)
    vocab = int(layer.get("vocab_size") or 1)
    width = n_out * width_of(layer.types.get("embeddings_t") or layer.output_type)
    table = rom(vocab, width, target)
    lookups = n_in if target.io_type == "io_parallel" else 1
    copies = math.ceil(lookups / 2) if table.bram_18k else lookups
    latency = (1 if table.bram_18k else 0) + (n_in + 1 if target.io_type == "io_stream" else 0)
    return Cost(latency, max(1, latency), 0, copies * table.lut + 20 * n_in, n_in * width * target["ff_cast_bit"],
                copies * table.bram_18k, kind="embedding")


# --- recurrent layers ----------------------------------------------------------------------------------------


@estimator("lstm", "gru", "lstm_stack", "gru_stack", "simple_rnn")
def recurrent(layer: Layer, target: Target) -> Cost:
    """LSTM/GRU/SimpleRNN: per time step an input and a recurrent matrix product into the gates (in parallel),
    table activations of the gates, the state update's variable products; the steps run one after another."""
    gates = {"lstm": 4, "gru": 3}.get(layer.function.split("_")[0], 1)
    units = int(layer.get("n_state") or layer.get("n_out") or 1)
    steps = int(layer.get("n_sequence") or layer.get("n_timesteps") or 1)
    mult_x = layer.get("mult_config1") or layer.get("mult_config_x")
    mult_h = layer.get("mult_config2") or layer.get("mult_config_h")
    if not isinstance(mult_x, dict):
        mult_x = {"n_in": layer.get("n_in"), "n_out": gates * units, "reuse_factor": layer.get("reuse_factor"),
                  "strategy": layer.get("strategy")}
    raw_x = raw_weights(layer, "w", "weight_t", mult_x)
    if raw_x is None:
        raise NotEstimated("recurrent layer without readable weights")
    n_in = int(mult_x.get("n_in") or max(1, raw_x.size // (gates * units)))
    accum = width_of(layer.types.get("accum_t"))
    data_bits = data_bits_of(layer)
    wbits = width_of(layer.types.get("weight_t"), 8)
    zeros = np.zeros(gates * units, dtype=bool)

    def product(mult, raw, n, bits):
        return product_cost(layer, target, n, gates * units, raw[: n * gates * units], zeros, bits, accum, wbits,
                            int(mult.get("reuse_factor") or layer.get("reuse_factor") or 1),
                            mult.get("multiplier_limit"),
                            str(mult.get("strategy") or layer.get("strategy") or "latency"))

    step = product(mult_x, raw_x, n_in, data_bits)
    raw_h = raw_weights(layer, "wr", "weight_t", mult_h if isinstance(mult_h, dict) else None)
    if raw_h is not None and raw_h.size >= units * gates * units:
        h = product(mult_h if isinstance(mult_h, dict) else mult_x, raw_h, units, accum)
        step = Cost(max(step.latency, h.latency), max(step.interval, h.interval), step.dsp + h.dsp, step.lut + h.lut,
                    step.ff + h.ff, step.bram_18k + h.bram_18k)
    size = int(layer.get("table_size") or 1024)
    table = rom(size, 18, target)
    tables = (gates + (1 if gates > 1 else 0)) * units
    per_step = step.latency + target.count(target["rnn_step_cycles"]) + 2 * target.cycles(target["table_extra_ns"])
    latency = steps * per_step + 2
    # the state update's variable products (GRU: r*h, z*h, (1-z)*h~; LSTM: f*c, i*g, o*tanh(c))
    # (narrow types: `1 - z` widens one operand, so only the state update's product reaches a DSP)
    gate_products = (3 if gates > 1 else 0) * units
    on_dsp = gate_products if accum >= target["res_min_bits"] else min(gate_products, units)
    gate_lut = (gate_products - on_dsp) * target["lut_fabric_mult_bit2"] * accum * accum
    return Cost(latency, latency, step.dsp + on_dsp * dsp_per_product(accum + 1, accum, target.part),
                step.lut + gate_lut + target["rnn_lut_per_state_bit"] * units * accum + tables * table.lut,
                step.ff + units * accum * 4, step.bram_18k + math.ceil(tables / 2) * table.bram_18k, kind="recurrent")


# --- hepfpga's custom layers and GarNet ------------------------------------------------------------------------


@estimator("self_attention", "message_passing", "layernorm_wide", "garnet", "garnet_stack", "layernormalize")
def custom(layer: Layer, target: Target) -> Cost:
    """hepfpga's custom layers and hls4ml's GarNet: every weight a constant product per token/node (the
    projections), plus one variable product per score/message on DSPs; a rough count, no calibration data."""
    tokens = layer.get("n_tokens") or layer.get("n_nodes") or layer.get("n_vertices") or layer.get("seq_len") or 1
    data_bits = data_bits_of(layer)
    total = Cost(kind="custom")
    for name, values in layer.weights.items():
        if values.size < 2:
            continue
        key = f"{name.rstrip('0123456789')}_t"
        t = layer.types.get(key) or layer.types.get("weight_t") or next(iter(layer.types.values()), None)
        if t is None:
            continue
        raw = t.to_raw(values)
        rows = int(round(math.sqrt(raw.size))) if raw.ndim == 1 else raw.shape[0]
        if raw.size % max(rows, 1):
            continue
        p = constant_products(layer, raw.reshape(rows, -1), data_bits, np.zeros(raw.size // rows), target)
        total.dsp += tokens * p.dsp
        total.lut += tokens * (target["lut_shift_add_bit"] * p.shift_add_bits + target["lut_sum_bit"] * p.adds
                               * data_bits + target["lut_fabric_digit_bit"] * p.fabric_digit_bits)
        total.ff += tokens * p.adds * data_bits
    pairs = tokens * tokens
    total.dsp += pairs
    total.lut += pairs * data_bits * 4
    total.ff += pairs * data_bits * 2
    total.latency = (target.cycles(8 * target["adder_ns"] + 3 * target["dsp_mult_ns"])
                     + 2 * math.ceil(math.log2(max(tokens, 2))) + 4)
    return total


def layer_cost(layer: Layer, target: Target) -> Cost:
    """The Cost of one layer; NotEstimated for kinds the model does not cover."""
    fn = ESTIMATORS.get(layer.function)
    if fn is None:
        raise NotEstimated(f"no model for hls4ml function nnet::{layer.function}")
    return fn(layer, target)


__all__ = ["layer_cost", "product_cost", "bram_blocks"]
