"""The resource and latency model of each hls4ml layer kind (registered with `hepfpga.estimate.model.estimator`
under the nnet functions that compute it). Each returns a `Cost` whose `kind` names the hardware it is
("dense", "dense_resource", "conv", ...): the calibration residuals of that kind are its uncertainty.

The loops modelled are those of hls4ml's `nnet_utils` (1.3, and the 0.5-0.8 versions the calibration projects
ship, where they differ the figures are fitted). Matrix products and convolutions are in
`hepfpga/estimate/products.py`; pooling, padding, element-wise layers, tables, softmax, batch norm, merges,
recurrent and custom layers here; an io_stream layer reads its input words one per cycle.
"""

from __future__ import annotations

import math

import numpy as np

from hepfpga.estimate.model import (
    ESTIMATORS,
    Cost,
    NotEstimated,
    Target,
    constant_products,
    data_bits_of,
    dsp_per_product,
    estimator,
    raw_weights,
    rom,
    width_of,
)
from hepfpga.estimate.products import geometry, product_cost, stream_words
from hepfpga.firmware import Layer

# --- pooling, padding, resizing ------------------------------------------------------------------------------


@estimator("pooling1d_cl", "pooling2d_cl", "global_pooling1d_cl", "global_pooling2d_cl")
def pooling(layer: Layer, target: Target) -> Cost:
    """Max/average pooling: a compare (or add) tree per output value; in a stream, line buffers and one
    input pixel per cycle."""
    g = geometry(layer.config)
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
    g = geometry(layer.config)
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


__all__ = ["layer_cost"]
