"""The integer emulator's building blocks (`hepfpga.csim.bitexact`): blocks of values of one fixed-point type,
per-thread workspaces, the products of a layer's inputs with its weights, the convolution windows, and the
registry of layer kinds (`emulates`, filled by `hepfpga.csim.emulated_layers`)."""

from __future__ import annotations

import numpy as np

from hepfpga.csim import kernels
from hepfpga.errors import HepfpgaError
from hepfpga.firmware import Layer
from hepfpga.fixed import Fixed

#: Largest magnitude, in bits, an intermediate value may reach in int64.
INT_BITS = 62


class NotCovered(HepfpgaError):
    """The project holds a layer (or a type) the emulator does not compute; use the compiled firmware."""


LAYERS: dict = {}


def emulates(*functions: str):
    """Register the decorated function as the emulation of hls4ml's nnet functions `functions`."""

    def wrap(fn):
        for name in functions:
            LAYERS[name] = fn
        return fn

    return wrap


class Value:
    """A block of values of one fixed-point type: raw integers (size, events) and the type."""

    __slots__ = ("raw", "type")

    def __init__(self, raw: np.ndarray, type_: Fixed):
        self.raw, self.type = raw, type_

    def to(self, target: Fixed) -> Value:
        """Assigned to `target` (`target_t y = x;`)."""
        return Value(target.cast_raw(self.raw, self.type.fraction, self.type), target)


class Workspace:
    """One thread's arrays, reused block after block: `array(key, rows, events, dtype)` returns the array
    last handed out under `key` if its shape and dtype fit, else a new one."""

    def __init__(self):
        self.arrays: dict = {}

    def array(self, key, rows: int, events: int, dtype) -> np.ndarray:
        a = self.arrays.get(key)
        if a is None or a.shape != (rows, events) or a.dtype != dtype:
            a = self.arrays[key] = np.empty((rows, events), dtype=dtype)
        return a


def require_fixed(t: Fixed | None, what: str, layer: Layer) -> Fixed:
    """`t`, or NotCovered when the layer's `what` has no fixed-point type."""
    if t is None:
        raise NotCovered(f"layer {layer.name} (nnet::{layer.function}): its {what} is not a fixed-point type")
    return t


def input_type(layer: Layer) -> Fixed:
    """The fixed-point type of the layer's first input."""
    return require_fixed(layer.input_types[0] if layer.input_types else None, "input", layer)


def bit_length(raw: np.ndarray) -> int:
    """Bits of the largest magnitude among the raw integers `raw`."""
    top = int(np.abs(raw).max()) if raw.size else 0
    return top.bit_length()


# --- the two kinds of sums: products of a layer's inputs with its weights, and the convolution windows ---


class MatrixProduct:
    """hls4ml's dense kernel for inputs of type `x_type`: products cast to `accum`, summed onto the cast bias
    input by input, cast to `result`. w_raw (n_in, n_out), b_raw (n_out,). Prepared once per layer; `gather`
    (pixels, n_in) runs it on every output pixel of a convolution (the rows of each pixel's inputs)."""

    def __init__(self, name: str, x_type: Fixed, w_raw: np.ndarray, w_type: Fixed, b_raw: np.ndarray,
                 b_type: Fixed, accum: Fixed, result: Fixed, gather: np.ndarray | None = None):
        w = np.asarray(w_raw, dtype=np.int64)
        n_in = w.shape[0]
        shift = x_type.fraction + w_type.fraction - accum.fraction
        if shift < 0:  # the accumulator has more fractional bits: the product is exact, shifted left
            w = w << -shift
        if x_type.width + bit_length(w) > INT_BITS:
            raise NotCovered(f"products of {x_type} and {w_type} exceed {INT_BITS} bits")
        if accum.width > INT_BITS or result.width > INT_BITS:
            raise NotCovered(f"types wider than {INT_BITS} bits ({accum}, {result})")
        # A wrapping accumulator is summed modulo 2**32 or 2**64 (its array's width) and wrapped once at the
        # end: arithmetic modulo 2**W of the same products, so the same result.
        self.wrap_at_end = accum.overflow == "WRAP"
        nonzero = w.T != 0  # by output, then input: each output's non-zero weights in input order
        self.starts = np.concatenate([[0], np.cumsum(nonzero.sum(axis=1))]).astype(np.int64)
        self.inputs = np.nonzero(nonzero)[1].astype(np.int64)
        self.weights = w.T[nonzero].astype(np.int32 if bit_length(w) <= 30 else np.int64)
        self.bias = accum.cast_raw(b_raw, b_type.fraction).astype(kernels.storage(accum))
        self.product = kernels.rounding_code(accum.rounding, max(shift, 0))
        self.accum = kernels.code(accum)
        self.result = kernels.cast_code(result, accum.fraction - result.fraction)
        self.dtype = kernels.storage(result)
        # exact: no sum can leave the accumulator's range (bias + products of the largest inputs, each
        # rounded up by at most one step) and the result holds every accumulator value: nothing to cast.
        x_top = max(abs(v) for v in x_type.raw_bounds())
        largest = np.abs(self.bias.astype(np.int64)) + (np.abs(w).sum(axis=0) * x_top >> max(shift, 0)) + n_in
        low, high = accum.raw_bounds()
        self.exact = bool(largest.max(initial=0) <= min(high, -low) and result.holds(accum)
                          and result.fraction == accum.fraction and self.dtype == self.bias.dtype)
        self.gather = gather if gather is not None else np.arange(n_in, dtype=np.int64)[None]
        self.name = name
        self.post = None  # (relu, cast code, dtype) of an activation fused into this product (`Emulator`)

    def __call__(self, x: np.ndarray, ws: Workspace) -> np.ndarray:
        """Raw results (pixels * n_out, events) of the result type for raw inputs x (size, events)."""
        n = x.shape[1]
        relu, post_cast, dtype = self.post or (False, self.result, self.dtype)
        out = ws.array((self.name, "out"), self.gather.shape[0] * len(self.bias), n, dtype)
        acc = ws.array((self.name, "acc"), 1, n, self.bias.dtype)[0]
        kernels.constant_product(x, self.gather, self.starts, self.inputs, self.weights, self.bias, self.product,
                                 self.accum, self.wrap_at_end, self.result, self.exact, self.post is not None, relu,
                                 post_cast, acc, out)
        return out


class Windows:
    """Kernel windows of a channels-last input of `size` rows: `index` (out_pixels, kernel positions *
    channels) holds the row of each window position in hls4ml's order (kernel row, kernel column, channel);
    padded positions point past the input, to the rows `padded` appends (holding `pad_value`)."""

    def __init__(self, layer: Layer, dims: int, pad_value: int = 0):
        cfg = layer.config
        self.channels = cfg.get("n_chan") or cfg.get("n_filt")
        if dims == 1:
            h, kh, sh, pt, oh = 1, 1, 1, 0, 1
            w = cfg.get("in_width") or cfg.get("n_in")
            kw = cfg.get("filt_width") or cfg.get("pool_width")
            sw, pl = cfg.get("stride_width", 1), cfg.get("pad_left", 0)
            ow = cfg.get("out_width") or cfg.get("n_out")
        else:
            h, w = cfg["in_height"], cfg["in_width"]
            kh = cfg.get("filt_height") or cfg.get("pool_height")
            kw = cfg.get("filt_width") or cfg.get("pool_width")
            sh, sw = cfg.get("stride_height", 1), cfg.get("stride_width", 1)
            pt, pl = cfg.get("pad_top", 0), cfg.get("pad_left", 0)
            oh, ow = cfg["out_height"], cfg["out_width"]
        rows = (np.arange(oh) * sh)[:, None, None, None] + np.arange(kh)[None, None, :, None] - pt
        cols = (np.arange(ow) * sw)[None, :, None, None] + np.arange(kw)[None, None, None, :] - pl
        inside = (rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)
        pixel = np.where(inside, rows * w + cols, h * w)  # pixel h*w: the padding value
        chan = np.arange(self.channels)
        self.index = (pixel[..., None] * self.channels + chan).reshape(oh * ow, kh * kw * self.channels)
        self.inside = np.broadcast_to(inside[..., None], (oh, ow, kh, kw, self.channels)).reshape(oh * ow, -1)
        self.pad_value, self.size = pad_value, h * w * self.channels
        self.pads = not inside.all()
        self.name = layer.name

    def padded(self, raw: np.ndarray, ws: Workspace) -> np.ndarray:
        """raw (size, events) with the padding rows appended (where padded positions point)."""
        if not self.pads:
            return raw
        out = ws.array((self.name, "padded"), len(raw) + self.channels, raw.shape[1], raw.dtype)
        kernels.pad_rows(raw, self.channels, self.pad_value, out)
        return out

    def by_output(self) -> np.ndarray:
        """The rows of each output (pixel, channel) of a pooling: (out_pixels * channels, kernel positions)."""
        pixels = self.index.shape[0]
        return np.ascontiguousarray(self.index.reshape(pixels, -1, self.channels).transpose(0, 2, 1)
                                    .reshape(pixels * self.channels, -1))
