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

from hepfpga.csim import emulated_layers, kernels  # noqa: F401  (importing emulated_layers registers the layer kinds)
from hepfpga.csim.values import LAYERS, NotCovered, Value, Workspace
from hepfpga.data import as_model_input, check_finite, per_input
from hepfpga.errors import DataError
from hepfpga.firmware import Firmware, read_firmware
from hepfpga.project import read_config


class Emulator:
    """The firmware of an hls4ml project, emulated in integer arithmetic for whole blocks of events."""

    def __init__(self, project_dir: str | Path, fuse: bool = True):
        """Read and prepare the project; NotCovered if a layer is not emulated. With `fuse`, a ReLU or linear
        activation is computed by the Dense/Conv layer before it when nothing else reads that layer's output
        (the same values, one pass over memory less)."""
        self.firmware: Firmware = read_firmware(project_dir)
        fw = self.firmware
        missing = [f"{layer.name} (nnet::{layer.function})" for layer in fw.layers if layer.function not in LAYERS]
        if missing:
            raise NotCovered(f"the emulator does not cover {', '.join(missing)}")
        self.steps = []
        for layer in fw.layers:
            try:
                self.steps.append((layer, LAYERS[layer.function](layer)))
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
                readers[self.resolve(v)] = readers.get(self.resolve(v), 0) + 1
        for name, _ in self.firmware.ports:
            readers[self.resolve(name)] = readers.get(self.resolve(name), 0) + 1
        producers = {layer.output: step for layer, step in self.steps}
        for k, (layer, step) in enumerate(self.steps):
            activation = getattr(step, "activation", None)
            source = self.resolve(layer.inputs[0]) if layer.inputs else None
            product = getattr(producers.get(source), "product", None)
            if activation is None or product is None or product.post is not None or readers.get(source) != 1:
                continue
            product.post = activation
            result = step.result
            self.steps[k] = (layer, lambda ins, ws, result=result: Value(ins[0].raw, result))

    def resolve(self, name: str) -> str:
        """The variable `name` stands for (following the aliases of layers hls4ml compiled away)."""
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
            values[layer.output] = step([values[self.resolve(v)] for v in layer.inputs], ws)
        return values

    def run(self, xs: list[np.ndarray]) -> list[np.ndarray]:
        """Outputs (float64, (N, size) each) for inputs xs (one float array (N, ...) per input port)."""
        values = self._values(xs)
        outs = []
        for name, t in self.outputs:
            v = values[self.resolve(name)]
            outs.append(t.from_raw(t.cast_raw(v.raw, v.type.fraction, v.type)).T)
        return outs

    def trace(self, x) -> dict[str, np.ndarray]:
        """Every layer's output for inputs `x` (as `predict` takes them), by hls4ml layer name: (N, size) float64
        each, what hls4ml's `trace` gives for layers configured with `Trace: True`. Needs an emulator made
        with `fuse=False` (fused activations leave no separate value for the product before them)."""
        xs = per_input(x)
        values = self._values([np.asarray(a, dtype=np.float64) for a in xs])
        traces = {}
        for layer, _ in self.steps:
            v = values[layer.output]
            traces[layer.name] = v.type.from_raw(v.raw).T.copy()
        return traces

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
