"""A converted project's firmware traced through da4ml: every value a da4ml fixed-point variable, every hls4ml
layer the integer operations its `nnet_utils` template makes, in the order it makes them (the semantics of
the integer emulator, `hepfpga.csim.emulated_layers`, which the RTL is checked against). da4ml turns the trace
into pipelined Verilog in which dense and convolution products are constant-matrix multiplications built
from adders (no DSP) and tables are LUT logic.

da4ml's casts know TRN and RND rounding and WRAP, SAT and SAT_SYM overflow. A cast is written with the
modes it needs: none where the values already fit (da4ml tracks every value's range and step), the type's
otherwise; RND_CONV (round half to even, which QKeras-derived types use) is rewritten exactly as RND plus a
correction looked up from the dropped bits. Other modes where they matter, and layer kinds not traced here,
are refused by name (`NotTraceable`, exit 2) before anything is written.

Written here because da4ml's own front end reads HGQ2/Keras-3 models, not hls4ml projects: this one reads
the project as the HLS tool compiles it.
"""

from __future__ import annotations

import math

import numpy as np

from hepfpga.csim.values import Windows
from hepfpga.errors import ConfigError
from hepfpga.fixed import Fixed

#: Why the layer kinds hepfpga converts but this does not trace are refused (docs/rtl.md lists them).
REFUSED = {
    "sigmoid": "hls4ml's sigmoid looks up a table indexed by a scaled and clipped input: not traced yet",
    "tanh": "hls4ml's tanh looks up a table indexed by a scaled and clipped input: not traced yet",
    "softsign": "a table activation: not traced yet",
    "elu": "a table activation: not traced yet",
    "selu": "a table activation: not traced yet",
    "lstm": "a recurrent layer (state carried over time steps): not traced",
    "gru": "a recurrent layer (state carried over time steps): not traced",
    "garnet": "GarNet divides by the hit count, a variable: not traced",
    "garnet_stack": "GarNet divides by the hit count, a variable: not traced",
    "resize_nearest": "upsampling: not traced yet",
    "dense_da": "hls4ml's distributed-arithmetic kernel keeps no weights in the project: convert with --strategy "
                "Latency for the RTL path (it builds the same adder graphs)",
}


class NotTraceable(ConfigError):
    """The project holds a layer kind or a cast da4ml cannot express exactly (exit 2)."""


def kif(t: Fixed) -> tuple[int, int, int]:
    """da4ml's (sign bit, integer bits without the sign, fractional bits) of a Fixed type."""
    return int(t.signed), t.integer - int(t.signed), t.fraction


def span(v) -> tuple[float, float, float]:
    """(lowest value, highest value, finest step) of da4ml array `v`."""
    low, high, step = (np.asarray(a, dtype=np.float64) for a in v.lhs)
    return float(low.min()), float(high.max()), float(step.min())


def cast(v, dst: Fixed, where: str):
    """`dst_t y = x;` for every value of da4ml array `v`, exact for every value `v` can take."""
    low, high, step = span(v)
    raw_low, raw_high = dst.raw_bounds()
    rounds = step < dst.step
    overflows = low < raw_low * dst.step or high > raw_high * dst.step
    rounding = dst.rounding if rounds else "TRN"
    overflow = dst.overflow if overflows else "WRAP"
    if overflow not in ("WRAP", "SAT", "SAT_SYM"):
        raise NotTraceable(f"{where}: overflow mode {overflow} of {dst}: da4ml saturates with SAT and SAT_SYM only")
    if rounding in ("TRN", "RND"):
        return v.quantize(*kif(dst), overflow, rounding)
    if rounding == "RND_CONV":
        return _round_half_even(v, dst, overflow, step)
    raise NotTraceable(f"{where}: rounding mode {rounding} of {dst}: da4ml rounds with TRN and RND (RND_CONV is "
                       "rewritten)")


def _round_half_even(v, dst: Fixed, overflow: str, step: float):
    """RND_CONV as RND with a correction: at an exact tie RND goes up to floor(x/s) + 1, round half to even
    comes back down a step when floor(x/s) is even. The tie and the parity are both in the low bits of x (the
    target's last bit and the ones dropped), so the correction is a table of those bits."""
    k, i, f = kif(dst)
    s = dst.step
    f_src = int(round(-math.log2(step)))
    low, high, _ = span(v)
    wide = max(i, math.ceil(math.log2(max(abs(low), abs(high)) + 2 * s)) + 1)
    up = (v + s / 2).quantize(1, wide, f, "WRAP", "TRN")  # floor(x/s + 1/2) s, without overflow
    bits = v.quantize(0, 1 - f, f_src, "WRAP", "TRN")  # x mod 2s

    def correction(x):  # x in [0, 2s), a multiple of 2^-f_src: the arithmetic below is exact
        last = np.floor(x / s)
        return np.where((x - last * s == s / 2) & (last == 0), -s, 0.0)

    fix = bits.apply(correction).quantize(1, 0, f, "WRAP", "TRN")
    return (up + fix).quantize(k, i, f, overflow, "TRN")


def input_port(size: int, t: Fixed):
    """A firmware input of `size` values of type `t` (the values given to the RTL are on its grid)."""
    from da4ml.trace import FixedVariableArrayInput, HWConfig

    return FixedVariableArrayInput(size, HWConfig(1, -1, -1)).quantize(*kif(t), "WRAP", "TRN")


def _array(items, like):
    """A da4ml array of FixedVariables (or constants)."""
    from da4ml.trace import FixedVariableArray

    return FixedVariableArray(np.array(items, dtype=object), like.solver_options)


def _constants(values, like):
    """Constant values as a da4ml array (e.g. the zeros of padding)."""
    return _array([float(v) for v in np.ravel(values)], like)


# --- layers -----------------------------------------------------------------------------------------------


def _values(layer, prefix: str, key: str) -> tuple[np.ndarray, Fixed]:
    """A weight array of `layer` (by variable-name prefix) as its type holds it, and the type."""
    name = next((k for k in layer.weights if k.startswith(prefix)), None)
    t = layer.types.get(key)
    if name is None or t is None:
        raise NotTraceable(f"layer {layer.name}: no fixed-point {key} weights")
    return t.from_raw(t.to_raw(np.asarray(layer.weights[name], dtype=np.float64))), t


def _fraction(values: np.ndarray) -> int:
    """The fractional bits the binary fractions `values` need."""
    f, v = 0, np.abs(np.asarray(values, dtype=np.float64))
    while f < 64 and np.any(v != np.floor(v)):
        v, f = v * 2, f + 1
    return f


def dense_kernel(layer, rows, w: np.ndarray, b: np.ndarray, b_type: Fixed):
    """hls4ml's dense kernel on each row of da4ml array `rows` (n_rows, n_in): products cast to accum_t, summed
    onto the bias cast to accum_t, the sum cast to the result. Returns (n_rows, n_out)."""
    accum, result = layer.type_of("accum_t"), layer.output_type
    if accum is None or result is None:
        raise NotTraceable(f"layer {layer.name}: its accumulator or result is not fixed-point")
    bias = accum.from_raw(accum.cast_raw(b_type.to_raw(b), b_type.fraction))
    low, high, step = span(rows)
    if accum.overflow != "WRAP":
        bound = float(np.abs(w).sum(axis=0).max() * max(abs(low), abs(high)) + np.abs(bias).max())
        if bound >= accum.top:
            raise NotTraceable(f"layer {layer.name}: its accumulator {accum} saturates on some inputs; hls4ml "
                               "saturates each partial sum in its order, which the adder graph does not keep")
        accum = accum.with_modes(overflow="WRAP")  # never reached: the same values
    # A wrapping sum is modular: summed exactly and wrapped once, it equals hls4ml's sum wrapped at every step.
    if step * 2.0 ** -_fraction(w) >= accum.step:  # every product exact in accum_t: one constant-matrix product
        acc = rows @ w + bias
    else:  # each product rounded into accum_t first (`mult[i] = data * weight`), then summed
        out = []
        for r in range(rows.shape[0]):
            row = rows[r]
            for j in range(w.shape[1]):
                total = float(bias[j])
                for k in np.flatnonzero(w[:, j]):
                    total = cast(row[k:k + 1] * float(w[k, j]), accum, layer.name)[0] + total
                out.append(total)
        acc = _array(out, rows).reshape(rows.shape[0], w.shape[1])
    return cast(cast(acc, accum, layer.name), result, layer.name)


def dense(layer, ins):
    n_in, n_out = int(layer.get("n_in")), int(layer.get("n_out"))
    w, _ = _values(layer, "w", "weight_t")
    b, b_type = _values(layer, "b", "bias_t")
    if str(layer.get("strategy")) == "resource":
        w = w.reshape(n_out, n_in).T  # hls4ml stores the Resource strategy's weights transposed
    return dense_kernel(layer, ins[0].reshape(1, n_in), w.reshape(n_in, n_out), b, b_type).ravel()


def conv(layer, ins):
    dims = 1 if "1d" in layer.function else 2
    mult = layer.get("mult_config") or {}
    n_out = int(mult.get("n_out") or layer.get("n_filt"))
    w, _ = _values(layer, "w", "weight_t")
    b, b_type = _values(layer, "b", "bias_t")
    windows = Windows(layer, dims)
    x = ins[0].ravel()
    size = x.shape[0]
    rows = int(windows.index.max()) + 1
    padded = x if rows <= size else _array(list(x._vars) + [0.0] * (rows - size), x)
    gathered = _array([padded._vars[k] for k in windows.index.ravel()], x).reshape(*windows.index.shape)
    return dense_kernel(layer, gathered, w.reshape(-1, n_out), b, b_type).ravel()


def batchnorm(layer, ins):
    """`data * scale + bias` in full precision, cast to the result (hls4ml's `normalize`)."""
    s, _ = _values(layer, "s", "scale_t")
    b, _ = _values(layer, "b", "bias_t")
    x = ins[0].ravel()
    n = x.shape[0]
    rows = np.arange(n)
    return cast(x * s[rows % len(s)] + b[rows % len(b)], layer.output_type, layer.name)


def elementwise(layer, ins):
    """ReLU (data > 0 ? data : 0) or linear, cast to the result."""
    x = ins[0].ravel()
    if layer.function == "relu":
        x = x.relu()
    return cast(x, layer.output_type, layer.name)


def pooling(layer, ins):
    """Max pooling: the largest value of each window, cast to accum_t and then to the result."""
    if str(layer.get("pool_op", "Max")) != "Max":
        raise NotTraceable(f"layer {layer.name}: average pooling divides with truncation toward zero; not traced "
                           "(max pooling is)")
    x = ins[0].ravel()
    accum, result = layer.type_of("accum_t"), layer.output_type
    channels = int(layer.get("n_filt"))
    if layer.function.startswith("global"):
        size = x.shape[0]
        index = np.arange(channels)[:, None] + channels * np.arange(size // channels)[None]
    else:
        windows = Windows(layer, 1 if "1d" in layer.function else 2)
        if windows.index.max() >= x.shape[0]:
            raise NotTraceable(f"layer {layer.name}: max pooling over padding; not traced")
        index = windows.by_output()
    out = []
    for row in index:
        best = x._vars[row[0]]
        for k in row[1:]:
            best = best.max_of(x._vars[k])
        out.append(best)
    pooled = _array(out, x)
    return cast(cast(pooled, accum, layer.name), result, layer.name) if accum is not None else \
        cast(pooled, result, layer.name)


def merge(layer, ins):
    a, b = (v.ravel() for v in ins)
    n = max(a.shape[0], b.shape[0])
    a = a if a.shape[0] == n else _array([a._vars[k % a.shape[0]] for k in range(n)], a)
    b = b if b.shape[0] == n else _array([b._vars[k % b.shape[0]] for k in range(n)], b)
    f = layer.function
    if f == "add":
        total = a + b
    elif f == "subtract":
        total = a - b
    elif f == "multiply":
        total = a * b
    elif f == "average":  # (a + b) * ap_ufixed<1,0>(0.5): exact
        total = (a + b) * 0.5
    elif f == "maximum":
        total = _array([x.max_of(y) for x, y in zip(a._vars, b._vars)], a)
    else:
        total = _array([x.min_of(y) for x, y in zip(a._vars, b._vars)], a)
    return cast(total, layer.output_type, layer.name)


def concatenate(layer, ins):
    parts = [cast(v.ravel(), layer.output_type, layer.name) for v in ins]
    return _array([x for p in parts for x in p._vars], parts[0])


def zeropad(layer, ins):
    c = layer.config
    ch = int(c["n_chan"])
    h, w = int(c.get("in_height", 1)), int(c["in_width"])
    oh, ow = int(c.get("out_height", 1)), int(c["out_width"])
    top, left = int(c.get("pad_top", 0)), int(c.get("pad_left", 0))
    rows, cols = np.meshgrid(np.arange(h) + top, np.arange(w) + left, indexing="ij")
    dest = ((rows * ow + cols)[..., None] * ch + np.arange(ch)).ravel()
    x = cast(ins[0].ravel(), layer.output_type, layer.name)
    out = [0.0] * (oh * ow * ch)
    for k, d in enumerate(dest):
        out[d] = x._vars[k]
    return _array(out, x)


def softmax(layer, ins):
    """hls4ml's stable/latency softmax: the max, x_max - x in inp_norm_t, the exp table by its top bits, the
    balanced-tree sum in accum_t, the inverse table by the top bits of the sum in inv_inp_t, the products."""
    from hepfpga.csim.emulated_layers import reduce_tree, softmax_tables

    implementation = str(layer.get("implementation", "stable"))
    if implementation not in ("stable", "latency") or (layer.get("n_outer") or 1) != 1 or \
            float(layer.get("exp_scale", 1.0) or 1.0) != 1.0:
        raise NotTraceable(f"layer {layer.name}: softmax implementation {implementation} (stable and latency are "
                           "traced)")
    t = layer.types
    accum, inv_inp, exp_t, inv_t = (t.get(k) for k in ("accum_t", "inv_inp_t", "exp_table_t", "inv_table_t"))
    x = ins[0].ravel()
    x_type = layer.input_types[0]
    stable = implementation == "stable"
    norm = t.get("inp_norm_t") if stable else x_type
    exp_size = int(layer.get("exp_table_size") or layer.get("table_size"))
    inv_size = int(layer.get("inv_table_size") or layer.get("table_size"))
    exp_raw, inv_raw = softmax_tables(norm, exp_t, exp_size, inv_inp, inv_t, inv_size, stable)
    exp_values = accum.from_raw(accum.cast_raw(exp_raw, exp_t.fraction))  # exp_res[i] (accum_t) = exp_table[.]
    inv_values = inv_t.from_raw(inv_raw)
    n = x.shape[0]
    if stable:
        top = x._vars[0]
        for v in x._vars[1:]:
            top = top.max_of(v)
        d = cast(_array([top - v for v in x._vars], x), norm, layer.name)
    else:
        d = x
    exp_res = _lookup(d, norm, exp_size, exp_values, accum, layer.name)
    slots = list(exp_res._vars)
    for a, b, _ in reduce_tree(n):
        slots.append(cast(_array([slots[a] + slots[b]], x), accum, layer.name)._vars[0])
    total = cast(_array([slots[-1]], x), inv_inp, layer.name)
    inverse = _lookup(total, inv_inp, inv_size, inv_values, inv_t, layer.name)._vars[0]
    return cast(_array([e * inverse for e in exp_res._vars], x), layer.output_type, layer.name)


def _lookup(v, t: Fixed, size: int, table: np.ndarray, out: Fixed, where: str):
    """hls4ml's table lookup by the top log2(size) bits of `v` (type `t`): the index truncates `v` to those bits
    (two's complement, as `softmax_idx_from_real_val` slices them), the entry is cast to `out`."""
    n = math.ceil(math.log2(size))
    drop = t.width - n  # bits below the index
    index = v.quantize(int(t.signed), t.integer - int(t.signed), t.fraction - drop, "WRAP", "TRN")

    def entry(values):
        raw = np.round(np.asarray(values) * 2.0 ** (t.fraction - drop)).astype(np.int64)
        idx = raw % (1 << n)  # the top n bits of the type, as an unsigned index
        return table[idx]

    return index.apply(entry).quantize(*kif(out), "WRAP", "TRN")


#: nnet function -> tracer (io_parallel and io_stream forms of a layer share the function name).
TRACERS = {
    **dict.fromkeys(("dense", "dense_latency", "dense_resource"), dense),
    **dict.fromkeys(("conv_1d_cl", "conv_2d_cl", "pointwise_conv_1d_cl", "pointwise_conv_2d_cl"), conv),
    "normalize": batchnorm,
    **dict.fromkeys(("relu", "linear"), elementwise),
    "softmax": softmax,
    **dict.fromkeys(("pooling1d_cl", "pooling2d_cl", "global_pooling1d_cl", "global_pooling2d_cl"), pooling),
    **dict.fromkeys(("add", "subtract", "multiply", "average", "maximum", "minimum"), merge),
    "concatenate1d": concatenate,
    **dict.fromkeys(("zeropad1d_cl", "zeropad2d_cl"), zeropad),
}


def check_traceable(firmware) -> None:
    """NotTraceable naming every layer of `firmware` (`hepfpga.firmware.Firmware`) this module cannot trace."""
    missing = [layer for layer in firmware.layers if layer.function not in TRACERS]
    if missing:
        lines = [f"  {layer.name} (nnet::{layer.function}): "
                 f"{REFUSED.get(layer.function, 'not traced (docs/rtl.md lists what is)')}" for layer in missing]
        raise NotTraceable(f"the RTL path cannot express {len(missing)} layer(s) of {firmware.path} exactly:\n"
                           + "\n".join(lines))


def trace_firmware(emulator) -> tuple[list, list, dict]:
    """The firmware of an `hepfpga.csim.bitexact.Emulator` (made with fuse=False) traced through da4ml:
    (input port arrays, output arrays (cast to the output ports' types), {layer name: its output array})."""
    check_traceable(emulator.firmware)
    values, ports = {}, []
    for (name, t), shape in zip(emulator.inputs, emulator.input_shapes):
        values[name] = input_port(int(np.prod(shape)), t)
        ports.append(values[name])
    layers = {}
    for layer, _ in emulator.steps:
        ins = [values[emulator.resolve(v)] for v in layer.inputs]
        values[layer.output] = layers[layer.name] = TRACERS[layer.function](layer, ins).ravel()
    outputs = [cast(values[emulator.resolve(name)], t, f"output {name}") for name, t in emulator.outputs]
    return ports, outputs, layers
