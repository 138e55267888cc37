"""hepfpga: neural networks from a physicist's Keras notebook to FPGA firmware, through hls4ml.

The top-level API (imported on first use, so `import hepfpga` stays light)::

    import hepfpga
    model = hepfpga.build("mlp", quantized=True, weight_bits=6)          # Keras/QKeras builders
    report = hepfpga.convert_model(model, "hls_projects/tagger", x_cal)  # verified HLS project
    hepfpga.csim_project("hls_projects/tagger", x_test)                  # C-sim against Keras
    hepfpga.demo()                                                       # the whole jet-tagging chain
    hepfpga.estimate_project("hls_projects/tagger")                      # resources, latency: no vendor tool
    hepfpga.scan_designs(hepfpga.expand(hepfpga.DEFAULT_SPACE), "hls_projects/scan")  # on Dask
    hepfpga.compress_model(model, x, y, "hls_projects/tagger_q")         # prune, QAT, convert: any model
    hepfpga.rtl_project("hls_projects/tagger", synth=True)               # Verilog, Verilator, Yosys

Stages, one package each, in the order data flows: `data` (ROOT via uproot, synthetic data, scaler),
`models` (builders), `train`, `compress` (tfmot pruning, QKeras QAT), `convert` (hls4ml project),
`csim` (firmware emulation), `estimate` (resources, latency), `rtl` (open RTL), `synthesis` (Vivado/Vitis
HLS), `report`; `chain` composes them into the jet-tagging chain, `compression` into the compress flow for
any model, `scan` explores designs, `cli` is the `hepfpga` command.
See docs/layout.md.
"""

from importlib import import_module

__version__ = "0.1.0"

_API = {
    "build": "hepfpga.models",
    "load_model": "hepfpga.models.load",
    "ConvertOptions": "hepfpga.options",
    "convert_model": "hepfpga.convert.verified",
    "compress_model": "hepfpga.compression",
    "CompressOptions": "hepfpga.options",
    "write_project": "hepfpga.convert.write",
    "base_config": "hepfpga.convert.config",
    "csim_project": "hepfpga.csim.simulate",
    "JetTaggingOptions": "hepfpga.chain",
    "jet_tagging": "hepfpga.chain",
    "demo": "hepfpga.chain",
    "Fixed": "hepfpga.fixed",
    "estimate_project": "hepfpga.estimate",
    "rtl_project": "hepfpga.rtl",
    "scan_designs": "hepfpga.scan",
    "ScanOptions": "hepfpga.scan",
    "expand": "hepfpga.scan",
    "read_space": "hepfpga.scan",
    "DEFAULT_SPACE": "hepfpga.scan",
}
__all__ = sorted(_API)


def __getattr__(name: str):
    """Load an API name from its stage module on first use (TensorFlow is imported only then)."""
    if name not in _API:
        raise AttributeError(f"module 'hepfpga' has no attribute {name!r}")
    return getattr(import_module(_API[name]), name)


def __dir__():
    return sorted([*globals(), *_API])
