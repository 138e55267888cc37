"""hepfpga: neural networks from a physicist's Keras notebook to FPGA firmware, through hls4ml.

Stages, one module each: `hepfpga.data` (ROOT via uproot, synthetic data, scaler), `hepfpga.models`
(Keras/QKeras builders), `hepfpga.train`, `hepfpga.compress` (tfmot pruning, QKeras QAT),
`hepfpga.convert` (hls4ml project), `hepfpga.csim` (firmware emulation), `hepfpga.report`.
`hepfpga.pipeline` composes them; `hepfpga.cli` is the `hepfpga` command.
"""

__version__ = "0.1.0"
