"""Keras / QKeras model -> hls4ml project.

`hls_config` builds the per-layer hls4ml configuration; `convert` runs hls4ml and writes the project.
QKeras models keep their quantizer precisions. With an input quantizer they are converted with
`bit_exact=True`, which makes hls4ml propagate exact result and accumulator types through the graph;
hls4ml 1.3.0's bit-exact pass rejects a QKeras model whose input is not quantized ("unexpected input
layer chain"), so those get an input type from calibration and hls4ml's 'auto' type inference, whose
Dense/Conv accumulators are also wide enough to be exact (verified in C-sim by `hepfpga convert`).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from hepfpga.convert.precision import SOFTMAX_RESULT, SOFTMAX_TABLE_SIZE, align_lstm_types, softmax_config
from hepfpga.errors import ConfigError

DEFAULT_PART = "xcvu13p-flga2577-2-e"
#: Where in a project the converted Keras model is kept.
MODEL_FILE = "hepfpga/model.h5"
DEFAULT_BACKEND = "Vitis"
BACKENDS = ("Vitis", "Vivado")


def is_quantized(model) -> bool:
    """True if any layer of `model` is a QKeras layer."""
    return any(type(layer).__module__.startswith("qkeras") for layer in model.layers)


def softmax_layer_name(layer) -> str | None:
    """Name of the hls4ml layer computing `layer`'s softmax, if it has one.

    A Softmax/Activation('softmax') layer keeps its name; a Dense/Conv with activation='softmax' is split
    by hls4ml into "<name>" (linear) and "<name>_softmax".
    """
    kind = type(layer).__name__
    if kind == "Softmax":
        return layer.name
    if getattr(getattr(layer, "activation", None), "__name__", "") != "softmax":
        return None
    return layer.name if kind == "Activation" else f"{layer.name}_softmax"


def hls_config(model, backend: str = DEFAULT_BACKEND, trace_layers: Iterable[str] = (),
               softmax_table_size: int = SOFTMAX_TABLE_SIZE, reuse_factor: int = 1,
               strategy: str = "Latency") -> dict:
    """Per-layer (`granularity='name'`) hls4ml configuration for `model`.

    Layers named in `trace_layers` are traced (their firmware outputs can be read back in C-sim).
    Softmax layers get the table size `softmax_table_size` (a power of two, at most 2**16) and table and
    accumulator types from `hepfpga.convert.precision.softmax_config`.
    """
    import hls4ml

    from hepfpga.extensions import register as register_extensions

    register_extensions()  # hepfpga's custom HLS layers
    if softmax_table_size < 2 or softmax_table_size & (softmax_table_size - 1) or softmax_table_size > 2**16:
        raise ConfigError(f"softmax_table_size must be a power of two in [2, 65536], got {softmax_table_size}")
    config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=backend,
                                                   default_reuse_factor=reuse_factor)
    config["Model"]["Strategy"] = strategy
    layers = config["LayerName"]
    for name in trace_layers:
        if name not in layers:
            raise ConfigError(f"cannot trace layer {name!r}: the model has {', '.join(layers)}")
        layers[name]["Trace"] = True
    for layer in model.layers:
        target = softmax_layer_name(layer)
        if target in layers:
            n_classes = int(np.prod(layer.output_shape[1:]))
            entry = layers[target]
            for ignored in ("exp_table", "inv_table", "inv_inp", "accum"):  # set as *_t keys instead
                entry["Precision"].pop(ignored, None)
            entry.update(softmax_config(n_classes, softmax_table_size))
            entry["Precision"]["result"] = SOFTMAX_RESULT  # probabilities in [0, 1]
    return config


def _hls4ml_convert(model, output_dir, config: dict, bit_exact: bool, **kwargs):
    import hls4ml

    with warnings.catch_warnings():
        # Our softmax `accum_t`, recurrent `table_t` and integer-input types (hls4ml first takes the
        # Keras dtype, e.g. uint<16>) replace what hls4ml derives, on purpose.
        warnings.filterwarnings("ignore", message=r"Overriding attribute '(accum_t|table_t)' of layer")
        warnings.filterwarnings("ignore", message=r"Overriding attribute 'precision' of layer '[^']+' \(Input\)")
        return hls4ml.converters.convert_from_keras_model(
            model, output_dir=str(output_dir), hls_config=copy.deepcopy(config), bit_exact=True if bit_exact else None,
            **kwargs)


def convert(model, output_dir: str | Path, config: dict | None = None, backend: str = DEFAULT_BACKEND,
            part: str = DEFAULT_PART, clock_period: float = 5.0, io_type: str = "io_parallel",
            project_name: str = "myproject", input_data_tb: str | None = None,
            output_data_tb: str | None = None):
    """Convert `model` with hls4ml and write the HLS project into `output_dir`; return the ModelGraph.

    `config` defaults to `hls_config(model, backend)`. tfmot pruning wrappers are stripped first.
    `input_data_tb`/`output_data_tb` (.npy paths) become the testbench data in `tb_data/`.
    The Keras model is saved beside it as `hepfpga/model.h5`. The project is written but not compiled:
    see `hepfpga.csim`.
    """
    from hepfpga.compress.prune import strip
    from hepfpga.compress.quantize import bake_recurrent_quantizers, has_input_quantizer
    from hepfpga.extensions import register as register_extensions

    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if io_type not in ("io_parallel", "io_stream"):
        raise ConfigError(f"io_type must be io_parallel or io_stream, got {io_type!r}")
    register_extensions()  # hepfpga's custom HLS layers
    model = strip(model)  # a fresh copy: the caller's model is not changed
    bake_recurrent_quantizers(model)
    if config is None:
        config = hls_config(model, backend)
    align_lstm_types(model, config)
    exact = is_quantized(model) and has_input_quantizer(model)
    options = dict(project_name=project_name, backend=backend, part=part, clock_period=clock_period,
                   io_type=io_type, input_data_tb=input_data_tb, output_data_tb=output_data_tb)
    try:
        hls_model = _hls4ml_convert(model, output_dir, config, exact, **options)
    except NotImplementedError as err:
        if not exact or "produce_kif" not in str(err):
            raise
        # hls4ml 1.3.0's bit-exact pass lacks some layers (e.g. UpSampling's Resize): use its 'auto'
        # type inference instead; `hepfpga convert` still verifies the result in C-sim.
        hls_model = _hls4ml_convert(model, output_dir, config, False, **options)
    hls_model.write()
    # The model itself, loadable with QKeras layers (hls4ml's keras_model.keras copy is not, for QKeras).
    (Path(output_dir) / MODEL_FILE).parent.mkdir(exist_ok=True)
    model.save(Path(output_dir) / MODEL_FILE)
    return hls_model
