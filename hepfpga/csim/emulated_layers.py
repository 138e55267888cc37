"""The emulation of each hls4ml layer kind, registered under the nnet functions that compute it
(`hepfpga.csim.bitexact.emulates`). Each registered function prepares a layer once and returns its step:
step(ins, ws) -> Value, for the layer's input Values and the calling thread's Workspace."""

from __future__ import annotations

import math
import threading

import numpy as np

from hepfpga.csim import kernels
from hepfpga.csim.values import (
    INT_BITS,
    MatrixProduct,
    NotCovered,
    Value,
    Windows,
    bit_length,
    emulates,
    input_type,
    require_fixed,
)
from hepfpga.firmware import Layer
from hepfpga.fixed import Fixed


def _with(step, **attributes):
    """`step` with attributes the Emulator reads to fuse an activation into the product before it."""
    for key, value in attributes.items():
        setattr(step, key, value)
    return step


def _weights(layer: Layer, prefix: str, key: str) -> tuple[np.ndarray, Fixed]:
    name = next((k for k in layer.weights if k.startswith(prefix)), None)
    t = layer.types.get(key)
    if name is None or t is None:
        raise NotCovered(f"layer {layer.name}: no {key} weights")
    return t.to_raw(layer.weights[name]), t


@emulates("dense", "dense_latency", "dense_resource")
def dense(layer: Layer):
    n_in, n_out = layer.get("n_in"), layer.get("n_out")
    w_raw, w_type = _weights(layer, "w", "weight_t")
    b_raw, b_type = _weights(layer, "b", "bias_t")
    accum = require_fixed(layer.types.get("accum_t"), "accumulator", layer)
    if str(layer.get("strategy")) == "resource":
        if accum.overflow != "WRAP":
            raise NotCovered(f"layer {layer.name}: Resource strategy with a saturating accumulator (other order)")
        w_raw = w_raw.reshape(n_out, n_in).T  # hls4ml stores the Resource strategy's weights transposed
    result = require_fixed(layer.output_type, "result", layer)
    product = MatrixProduct(layer.name, input_type(layer), w_raw.reshape(n_in, n_out), w_type, b_raw, b_type, accum,
                            result)
    return _with(lambda ins, ws: Value(product(ins[0].raw, ws), result), product=product)


@emulates("conv_1d_cl", "conv_2d_cl", "pointwise_conv_1d_cl", "pointwise_conv_2d_cl")
def conv(layer: Layer):
    dims = 1 if "1d" in layer.function else 2
    mult = layer.get("mult_config") or {}
    w_raw, w_type = _weights(layer, "w", "weight_t")
    b_raw, b_type = _weights(layer, "b", "bias_t")
    accum = require_fixed(layer.types.get("accum_t"), "accumulator", layer)
    if accum.overflow != "WRAP":
        raise NotCovered(f"layer {layer.name}: convolution with a saturating accumulator")
    result = require_fixed(layer.output_type, "result", layer)
    n_out = mult.get("n_out") or layer.get("n_filt")
    windows = Windows(layer, dims)
    product = MatrixProduct(layer.name, input_type(layer), w_raw.reshape(-1, n_out), w_type, b_raw, b_type, accum,
                            result, windows.index)
    return _with(lambda ins, ws: Value(product(windows.padded(ins[0].raw, ws), ws), result), product=product)


@emulates("normalize")
def batchnorm(layer: Layer):
    """`data * scale + bias` (in full precision), cast to the result type."""
    s_raw, s_type = _weights(layer, "s", "scale_t")
    b_raw, b_type = _weights(layer, "b", "bias_t")
    x_type, result = input_type(layer), require_fixed(layer.output_type, "result", layer)
    fraction = x_type.fraction + s_type.fraction
    shift = fraction - b_type.fraction
    if x_type.width + bit_length(s_raw) + 1 > INT_BITS or shift < 0 or bit_length(b_raw) + shift + 1 > INT_BITS:
        raise NotCovered(f"layer {layer.name}: batch-norm product exceeds {INT_BITS} bits")

    def step(ins, ws):
        x = ins[0].raw.astype(np.int64)
        rows = np.arange(x.shape[0])
        total = x * s_raw[rows % len(s_raw), None] + (b_raw[rows % len(b_raw)] << shift)[:, None]
        return Value(result.cast_raw(total, fraction), result)

    return step


@emulates("relu", "linear")
def elementwise(layer: Layer):
    """ReLU (data > 0 ? data : 0, cast to the result) and linear (the cast alone)."""
    x_type, result = input_type(layer), require_fixed(layer.output_type, "result", layer)
    relu = layer.function == "relu"
    if not relu and result.holds(x_type) and result.fraction == x_type.fraction:
        return lambda ins, ws: Value(ins[0].raw, result)  # nothing to round or bring into range
    code, dtype = kernels.cast_code(result, x_type.fraction - result.fraction), kernels.storage(result)

    def step(ins, ws):
        x = ins[0].raw
        out = ws.array((layer.name, "out"), x.shape[0], x.shape[1], dtype)
        kernels.cast_rows(x, code, relu, out)
        return Value(out, result)

    return _with(step, activation=(relu, code, dtype), result=result)


def _bin_values(t: Fixed, size: int) -> np.ndarray:
    """hls4ml's softmax_real_val_from_idx for every index, as float32: the index in the top bits of `t`."""
    n = math.ceil(math.log2(size))
    raw = np.arange(size, dtype=np.int64) << (t.width - n)
    if t.signed:
        raw = np.where(raw >= 1 << (t.width - 1), raw - (1 << t.width), raw)
    return t.from_raw(raw).astype(np.float32)


def _table(values32: np.ndarray, t: Fixed) -> np.ndarray:
    """Raw integers of float values assigned to table type `t` (ap_fixed from double; inf as 2**1024)."""
    v = np.asarray(values32, dtype=np.float64)
    raw = t.to_raw(np.where(np.isfinite(v), v, 0.0))
    if np.isinf(v).any():  # ap_fixed reads inf as a huge value: the largest raw when saturating, else 0 (wrap)
        low, high = t.raw_bounds()
        big = high if t.overflow in ("SAT", "SAT_SYM") else 0
        raw = np.where(np.isposinf(v), big, np.where(np.isneginf(v), low if t.saturate else 0, raw))
    return raw


_TABLES: dict = {}
_TABLES_LOCK = threading.Lock()


def softmax_tables(norm: Fixed, exp_t: Fixed, exp_size: int, inv_inp: Fixed, inv_t: Fixed, inv_size: int,
                   negative: bool) -> tuple[np.ndarray, np.ndarray]:
    """hls4ml's init_exp_table and init_invert_table as raw integers (float expf and 1/x, as the C++)."""
    key = (norm, exp_t, exp_size, inv_inp, inv_t, inv_size, negative)
    with _TABLES_LOCK:
        if key not in _TABLES:
            x = _bin_values(norm, exp_size) * np.float32(1.0)
            if negative:
                x = -x
            expf = np.exp(x.astype(np.float64)).astype(np.float32)  # a correctly rounded expf
            with np.errstate(divide="ignore"):
                inv = np.float32(1.0) / _bin_values(inv_inp, inv_size)
            _TABLES[key] = (_table(expf, exp_t), _table(inv, inv_t))
        return _TABLES[key]


def reduce_tree(n: int) -> np.ndarray:
    """hls4ml's balanced-tree `reduce` over n values (split at pow2(floorlog2(n - 1))) as rows (left,
    right, destination) of slot numbers: slots 0..n-1 hold the values, n.. the partial sums, in the order
    they are computed; the last row's destination is the total."""
    rows: list = []

    def walk(first: int, count: int) -> int:
        if count == 1:
            return first
        left = 1 if count == 2 else 2 ** math.floor(math.log2(count - 1))
        a, b = walk(first, left), walk(first + left, count - left)
        rows.append((a, b, n + len(rows)))
        return rows[-1][2]

    walk(0, n)
    return np.array(rows, dtype=np.int64).reshape(-1, 3)


@emulates("softmax")
def softmax(layer: Layer):
    implementation = str(layer.get("implementation", "stable"))
    if implementation not in ("stable", "latency"):
        raise NotCovered(f"layer {layer.name}: softmax implementation {implementation}")
    if (layer.get("n_outer") or 1) != 1 or (layer.get("n_inner") or 1) != 1:
        raise NotCovered(f"layer {layer.name}: softmax over an inner axis")
    if float(layer.get("exp_scale", 1.0) or 1.0) != 1.0:
        raise NotCovered(f"layer {layer.name}: softmax with exp_scale != 1")
    t = layer.types
    accum, inv_inp, exp_t, inv_t = (require_fixed(t.get(k), k, layer) for k in ("accum_t", "inv_inp_t", "exp_table_t",
                                                                         "inv_table_t"))
    x_type, result = input_type(layer), require_fixed(layer.output_type, "result", layer)
    if max(accum.width + inv_t.width, x_type.width + 1) > INT_BITS:
        raise NotCovered(f"layer {layer.name}: softmax products exceed {INT_BITS} bits")
    exp_size = int(layer.get("exp_table_size") or layer.get("table_size"))
    inv_size = int(layer.get("inv_table_size") or layer.get("table_size"))
    stable = implementation == "stable"
    norm = require_fixed(t.get("inp_norm_t"), "inp_norm_t", layer) if stable else x_type
    exp_table, inv_table = softmax_tables(norm, exp_t, exp_size, inv_inp, inv_t, inv_size, stable)
    exp_table = accum.cast_raw(exp_table, exp_t.fraction)  # exp_res[i] (accum_t) = exp_table[index]
    n = int(layer.get("n_in"))
    arguments = (stable, kernels.cast_code(norm, x_type.fraction - norm.fraction), norm.width,
                 math.ceil(math.log2(exp_size)), exp_table, reduce_tree(n), kernels.code(accum),
                 kernels.cast_code(inv_inp, accum.fraction - inv_inp.fraction), inv_inp.width,
                 math.ceil(math.log2(inv_size)), inv_table,
                 kernels.cast_code(result, accum.fraction + inv_t.fraction - result.fraction))
    tree_rows, dtype = len(arguments[5]), kernels.storage(result)

    def step(ins, ws):
        x = ins[0].raw
        slots = ws.array((layer.name, "slots"), n + tree_rows, x.shape[1], np.int64)
        out = ws.array((layer.name, "out"), n, x.shape[1], dtype)
        kernels.table_softmax(x, *arguments, slots, out)
        return Value(out, result)

    return step


@emulates("pooling1d_cl", "pooling2d_cl", "global_pooling1d_cl", "global_pooling2d_cl")
def pooling(layer: Layer):
    x_type = input_type(layer)
    accum = require_fixed(layer.types.get("accum_t"), "accumulator", layer)
    result = require_fixed(layer.output_type, "result", layer)
    op = str(layer.get("pool_op", "Max"))
    if op not in ("Max", "Average"):
        raise NotCovered(f"layer {layer.name}: pooling {op}")
    channels = layer.get("n_filt")
    if layer.function.startswith("global"):
        size = layer.get("n_in") * channels if "1d" in layer.function else (
            layer.get("in_height") * layer.get("in_width") * channels)
        index = (np.arange(channels)[:, None] + channels * np.arange(size // channels)[None]).astype(np.int64)
        counts = np.full(channels, size // channels)
        padded = None
    else:
        pad = 1 << (x_type.width - 1)  # hls4ml's pad_val for Max: the sign bit set (a large value if unsigned)
        pad = pad - (1 << x_type.width) if x_type.signed else pad
        windows = Windows(layer, 1 if "1d" in layer.function else 2, pad if op == "Max" else 0)
        index, padded = windows.by_output(), windows.padded
        inside = windows.inside.reshape(windows.inside.shape[0], -1, channels).transpose(0, 2, 1).reshape(
            len(index), -1)
        counts = np.full(len(index), index.shape[1]) if layer.get("count_pad") else inside.sum(axis=1)
    to_accum = kernels.cast_code(accum, x_type.fraction - accum.fraction)
    to_result = kernels.cast_code(result, accum.fraction - result.fraction)
    accum_code, counts, dtype = kernels.code(accum), counts.astype(np.int64), kernels.storage(result)
    exact = all(t.holds(s) and t.fraction == s.fraction for t, s in ((accum, x_type), (result, accum)))

    def step(ins, ws):
        x = padded(ins[0].raw, ws) if padded else ins[0].raw
        out = ws.array((layer.name, "out"), len(index), x.shape[1], dtype)
        if op == "Max":
            kernels.max_pool(x, index, to_accum, to_result, exact, out)
        else:
            acc = ws.array((layer.name, "acc"), 1, x.shape[1], np.int64)[0]
            kernels.average_pool(x, index, counts, to_accum, accum_code, to_result, acc, out)
        return Value(out, result)

    return step


@emulates("add", "subtract", "multiply", "average", "maximum", "minimum")
def merge(layer: Layer):
    result = require_fixed(layer.output_type, "result", layer)

    def step(ins, ws):
        a, b = ins
        n = max(a.raw.shape[0], b.raw.shape[0])
        ar = a.raw[np.arange(n) % a.raw.shape[0]].astype(np.int64)
        br = b.raw[np.arange(n) % b.raw.shape[0]].astype(np.int64)
        if layer.function == "multiply":
            return Value(result.cast_raw(ar * br, a.type.fraction + b.type.fraction), result)
        f = max(a.type.fraction, b.type.fraction)
        ar, br = ar << (f - a.type.fraction), br << (f - b.type.fraction)
        if layer.function == "add":
            total = ar + br
        elif layer.function == "subtract":
            total = ar - br
        elif layer.function == "average":  # (a + b) * ap_ufixed<1,0>(0.5): one more fractional bit, exact
            total, f = ar + br, f + 1
        elif layer.function == "maximum":
            total = np.maximum(ar, br)
        else:
            total = np.minimum(ar, br)
        return Value(result.cast_raw(total, f), result)

    return step


@emulates("zeropad1d_cl", "zeropad2d_cl")
def zeropad(layer: Layer):
    """Zero padding (channels last): each input value cast to the result type at its shifted position."""
    c = layer.config
    ch = int(c["n_chan"])
    h, w = int(c.get("in_height", 1)), int(c["in_width"])
    oh, ow = int(c.get("out_height", 1)), int(c["out_width"])
    top, left = int(c.get("pad_top", 0)), int(c.get("pad_left", 0))
    rows, cols = np.meshgrid(np.arange(h) + top, np.arange(w) + left, indexing="ij")
    dest = ((rows * ow + cols)[..., None] * ch + np.arange(ch)).ravel()
    x_type, result = input_type(layer), require_fixed(layer.output_type, "result", layer)
    dtype = kernels.storage(result)

    def step(ins, ws):
        x = ins[0].raw
        out = ws.array((layer.name, "out"), oh * ow * ch, x.shape[1], dtype)
        out[:] = 0
        out[dest] = result.cast_raw(x, x_type.fraction, x_type)
        return Value(out, result)

    return step


@emulates("resize_nearest")
def resize_nearest(layer: Layer):
    """UpSampling by repetition: hls4ml's nearest-neighbour index arithmetic (16-bit fixed-point ratios)."""
    c = layer.config
    h, w, ch, nh, nw = (int(c[k]) for k in ("height", "width", "n_chan", "new_height", "new_width"))
    y_ratio, x_ratio = (h << 16) // nh + 1, (w << 16) // nw + 1
    rows = (np.arange(nh) * y_ratio) >> 16
    cols = (np.arange(nw) * x_ratio) >> 16
    index = ((rows[:, None, None] * w + cols[None, :, None]) * ch + np.arange(ch)[None, None, :]).ravel()
    return lambda ins, ws: Value(np.ascontiguousarray(ins[0].raw[index]), ins[0].type)


@emulates("concatenate1d")
def concatenate(layer: Layer):
    result = require_fixed(layer.output_type, "result", layer)
    return lambda ins, ws: Value(np.concatenate([v.to(result).raw for v in ins]), result)


# --- the whole project -----------------------------------------------------------------------------------


