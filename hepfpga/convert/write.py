"""Keras / QKeras model -> hls4ml HLS project folder (written, not compiled: see `hepfpga.csim`).

QKeras models keep their quantizer precisions. With an input quantizer they are converted with
`bit_exact=True`, which makes hls4ml propagate exact result and accumulator types through the graph;
hls4ml 1.3.0's bit-exact pass rejects a QKeras model whose input is not quantized ("unexpected input
layer chain"), so those get an input type from calibration and hls4ml's 'auto' type inference, whose
Dense/Conv accumulators are also wide enough to be exact (verified in C-sim by `convert_model`).
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

from hepfpga.convert.config import base_config
from hepfpga.convert.layers import is_quantized
from hepfpga.convert.rules import align_lstm_types
from hepfpga.errors import ConfigError
from hepfpga.options import BACKEND, BACKENDS, CLOCK_NS, IO_TYPE, IO_TYPES, PART
from hepfpga.project import MODEL_FILE


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


def write_project(model, output_dir: str | Path, config: dict | None = None, backend: str = BACKEND,
                  part: str = PART, clock_period: float = CLOCK_NS, io_type: str = IO_TYPE,
                  project_name: str = "myproject", input_data_tb: str | None = None,
                  output_data_tb: str | None = None):
    """Convert `model` with hls4ml and write the HLS project into `output_dir`; return the ModelGraph.

    `config` defaults to `base_config(model, backend)` (LSTM types aligned). tfmot pruning wrappers are
    stripped first. `clock_period` is in ns. `input_data_tb`/`output_data_tb` (.npy paths) become the
    testbench data in `tb_data/`. The Keras model is saved beside it as `hepfpga/model.h5`.
    """
    from hepfpga.compress.quantize import bake_recurrent_quantizers, has_input_quantizer
    from hepfpga.extensions import register as register_extensions
    from hepfpga.models.load import strip

    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if io_type not in IO_TYPES:
        raise ConfigError(f"io_type must be io_parallel or io_stream, got {io_type!r}")
    register_extensions()  # hepfpga's custom HLS layers
    model = strip(model)  # a fresh copy: the caller's model is not changed
    bake_recurrent_quantizers(model)
    if config is None:
        config = base_config(model, backend)
        align_lstm_types(model, config)
    exact = is_quantized(model) and has_input_quantizer(model)
    options = dict(project_name=project_name, backend=backend, part=part, clock_period=clock_period,
                   io_type=io_type, input_data_tb=input_data_tb, output_data_tb=output_data_tb)
    try:
        hls_model = _hls4ml_convert(model, output_dir, config, exact, **options)
    except (NotImplementedError, ValueError, KeyError, AssertionError, AttributeError) as err:
        if not exact:
            raise
        # hls4ml 1.3.0's bit-exact pass lacks some layers (e.g. UpSampling's Resize: "produce_kif") and
        # rejects some graphs ("unexpected input layer chain"): use its 'auto' type inference instead,
        # which `convert_model` verifies in C-sim like any other conversion, and say so in the report.
        hls_model = _hls4ml_convert(model, output_dir, config, False, **options)
        hls_model.bit_exact_fallback = f"hls4ml's bit-exact pass refused the model ({type(err).__name__}: " \
                                       f"{str(err)[:200]}); its 'auto' types were used instead"
    hls_model.write()
    # The model itself, loadable with QKeras layers (hls4ml's keras_model.keras copy is not, for QKeras).
    (Path(output_dir) / MODEL_FILE).parent.mkdir(exist_ok=True)
    model.save(Path(output_dir) / MODEL_FILE)
    return hls_model
