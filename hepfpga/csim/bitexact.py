"""Compile-free, bit-exact emulation of hls4ml firmware: blocks of events at once, in integer arithmetic.

Reads a converted project as the HLS tool does (`hepfpga.firmware`: the layer calls, their configurations,
types and weights) and computes every value as the raw integer of its `ap_fixed`/`ap_ufixed` type, with the
casts hls4ml's `nnet_utils` templates make, in the order they make them:

* Dense (Latency and Resource strategies; `nnet_dense_latency.h`): each product `data * weight` in full
  precision, assigned to `accum_t` (rounded/saturated there if its modes say so), summed onto the bias
  (cast to `accum_t`) input by input, the sum cast to the result type. Convolutions (1D/2D, io_parallel and
  io_stream) are the same product per output pixel over the (padded) kernel window.
* Batch normalisation: `data * scale + bias` exactly, cast to the result type.
* ReLU / linear / quantized ReLU: a compare and the cast to the result type.
* Softmax (`stable` and `latency`): the max, `x_max - x` cast to `inp_norm_t`, the exp table indexed by the
  top log2(size) bits, the sum as a balanced tree of `accum_t` additions (hls4ml's `reduce`), the inverse
  table indexed by the top bits of `inv_inp_t`, the products cast to the result type. The tables are built as
  hls4ml builds them: float `expf` and `1/x` of the table's bin values, assigned to the table types.
* Pooling (max, average with hls4ml's truncating division), zero padding, nearest-neighbour upsampling,
  merges (add, subtract, multiply, average, maximum, minimum, concatenation), reshapes and stream copies.

The casts follow the ap_fixed headers for every rounding and overflow mode (`hepfpga.fixed.Fixed`, checked
against ap_fixed in tests/test_fixed.py; the compiled loops in `kernels` against Fixed in
tests/test_emulator.py). Values are int32 where their type has at most 31 bits, else int64: a layer whose
products would need more than 62 bits is not covered. A project with any layer not covered is refused
(`NotCovered`) so callers fall back to the compiled firmware. Written here because no library emulates
hls4ml's firmware without compiling it: apytypes computes ap_fixed-like arrays, but not hls4ml's cast
points and tables, and at 1/100 of this speed on a Dense layer (docs/benchmarks.md).
"""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from hepfpga.csim import kernels
from hepfpga.data import as_model_input, check_finite, per_input
from hepfpga.errors import DataError, HepfpgaError
from hepfpga.firmware import Firmware, Layer, read_firmware
from hepfpga.fixed import Fixed
from hepfpga.project import read_config

#: Largest magnitude, in bits, an intermediate value may reach in int64.
INT_BITS = 62


class NotCovered(HepfpgaError):
    """The project holds a layer (or a type) the emulator does not compute; use the compiled firmware."""


_LAYERS: dict = {}


def emulates(*functions: str):
    """Register the decorated function as the emulation of hls4ml's nnet functions `functions`."""

    def wrap(fn):
        for name in functions:
            _LAYERS[name] = fn
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


class Emulator:
    """The firmware of an hls4ml project, emulated in integer arithmetic for whole blocks of events."""

    def __init__(self, project_dir: str | Path, fuse: bool = True):
        """Read and prepare the project; NotCovered if a layer is not emulated. With `fuse`, a ReLU or linear
        activation is computed by the Dense/Conv layer before it when nothing else reads that layer's output
        (the same values, one pass over memory less)."""
        self.firmware: Firmware = read_firmware(project_dir)
        fw = self.firmware
        from hepfpga.csim import emulated_layers  # noqa: F401  (registers every layer kind)

        missing = [f"{layer.name} (nnet::{layer.function})" for layer in fw.layers if layer.function not in _LAYERS]
        if missing:
            raise NotCovered(f"the emulator does not cover {', '.join(missing)}")
        self.steps = []
        for layer in fw.layers:
            try:
                self.steps.append((layer, _LAYERS[layer.function](layer)))
            except (KeyError, TypeError, ValueError) as err:  # a configuration this emulation does not know
                raise NotCovered(f"layer {layer.name} (nnet::{layer.function}): {type(err).__name__} {err}") from err
        written = {layer.output for layer in fw.layers}
        self.inputs = [(name, t) for name, t in fw.ports if name not in written and name not in fw.aliases]
        self.outputs = [(name, t) for name, t in fw.ports if name in written]
        if not self.inputs or not self.outputs or any(t is None for _, t in fw.ports):
            raise NotCovered(f"the top function of {fw.path} has ports the emulator cannot read")
        if fuse:
            self._fuse()
        config = read_config(project_dir)  # the shapes hls4ml's own predict reads
        self.input_shapes = [tuple(s) for s in config["InputShapes"].values()]
        if len(self.input_shapes) != len(self.inputs):
            raise NotCovered(f"{project_dir}: {len(self.input_shapes)} input shapes for {len(self.inputs)} ports")
        self._threads = threading.local()  # each thread's Workspace
        try:  # one event: the widest layer, and every kernel compiled (numba caches them on disk)
            values = self._values([np.zeros((1, *shape)) for shape in self.input_shapes])
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise NotCovered(f"{type(err).__name__} {err} running one event") from err
        widest = max(len(v.raw) for v in values.values())
        #: Events per block: the widest layer's values for a block (4 bytes each) stay within ~2 MiB of cache.
        self.block = 2 ** min(13, max(8, int(math.log2(2**19 / widest))))

    def _fuse(self) -> None:
        """Fold each activation into the product that alone feeds it (see __init__)."""
        readers: dict = {}
        for layer in self.firmware.layers:
            for v in layer.inputs:
                readers[self._resolve(v)] = readers.get(self._resolve(v), 0) + 1
        for name, _ in self.firmware.ports:
            readers[self._resolve(name)] = readers.get(self._resolve(name), 0) + 1
        producers = {layer.output: step for layer, step in self.steps}
        for k, (layer, step) in enumerate(self.steps):
            activation = getattr(step, "activation", None)
            source = self._resolve(layer.inputs[0]) if layer.inputs else None
            product = getattr(producers.get(source), "product", None)
            if activation is None or product is None or product.post is not None or readers.get(source) != 1:
                continue
            product.post = activation
            result = step.result
            self.steps[k] = (layer, lambda ins, ws, result=result: Value(ins[0].raw, result))

    def _resolve(self, name: str) -> str:
        seen = 0
        while name in self.firmware.aliases and seen < 100:
            name, seen = self.firmware.aliases[name], seen + 1
        return name

    def _values(self, xs: list[np.ndarray]) -> dict[str, Value]:
        """Every variable of the top function for inputs xs (one float array (N, ...) per input port). The
        arrays are the calling thread's, reused by its next call."""
        ws = getattr(self._threads, "workspace", None)
        if ws is None:
            ws = self._threads.workspace = Workspace()
        values = {}
        for (name, t), x in zip(self.inputs, xs):
            x = np.ascontiguousarray(x, dtype=np.float64).reshape(len(x), -1)
            dtype = kernels.storage(t)
            rows, raw = ws.array((name, "rows"), *x.shape, dtype), ws.array((name, "raw"), x.shape[1], len(x), dtype)
            kernels.quantize(x, t.fraction, t.rounding, kernels.code(t), rows, raw)
            values[name] = Value(raw, t)
        for layer, step in self.steps:
            values[layer.output] = step([values[self._resolve(v)] for v in layer.inputs], ws)
        return values

    def run(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        """Outputs (float64, (N, size) each) for inputs xs (one float array (N, ...) per input port)."""
        values = self._values(xs)
        outs = []
        for name, t in self.outputs:
            v = values[self._resolve(name)]
            outs.append(t.from_raw(t.cast_raw(v.raw, v.type.fraction, v.type)).T)
        return outs

    def predict(self, x, block: int | None = None, jobs: int | None = None, progress: bool | None = None):
        """What hls4ml's `predict` returns for float64 inputs `x` (N, *shape) or a list of arrays (several
        inputs): (N, n_out) float64 per output. Blocks of `block` events (default: `self.block`) run on `jobs`
        threads (default: every core); memory beyond the inputs and outputs stays that of a few blocks. A
        progress bar shows with `progress` (default: from 200,000 events on)."""
        from tqdm import tqdm

        block = block or self.block
        xs = per_input(x)
        if len(xs) != len(self.inputs):
            raise DataError(f"the firmware has {len(self.inputs)} inputs, got {len(xs)} arrays")
        n = len(xs[0])
        for a, shape in zip(xs, self.input_shapes):
            if len(a) != n or int(np.prod(a.shape[1:])) != int(np.prod(shape)):
                raise DataError(f"firmware input must have shape (N, {', '.join(map(str, shape))}), got {a.shape}")
            check_finite(a, "firmware inputs")
        if n == 0:
            return as_model_input(self.run([a[:0] for a in xs]))
        outs = None

        def one(s):
            return s, self.run([a[s:s + block] for a in xs])

        bar = tqdm(total=n, unit="event", desc="emulating the firmware", leave=False, unit_scale=True,
                   disable=not (n >= 200_000 if progress is None else progress))
        with bar, ThreadPoolExecutor(max_workers=jobs or os.cpu_count() or 1) as pool:
            for s, part in pool.map(one, range(0, n, block)):
                if outs is None:
                    outs = [np.empty((n, p.shape[1])) for p in part]
                for o, p in zip(outs, part):
                    o[s:s + len(p)] = p
                bar.update(len(part[0]))
        return as_model_input(outs)
