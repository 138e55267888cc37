"""Keras / QKeras model -> hls4ml HLS project, with precisions chosen so the firmware computes what Keras computes.

Modules, in the order a conversion uses them: `supported` (which layers hls4ml converts), `layers` (Keras
layers as hls4ml sees them), `softmax` and `rules` (precision rules per layer kind), `config` (hls4ml
configuration), `write` (hls4ml writes the project), `verified` (`convert_model`: the whole verified
conversion). Project folders themselves are `hepfpga.project`.
"""

from hepfpga.convert.config import base_config
from hepfpga.convert.supported import check_supported
from hepfpga.convert.verified import convert_model
from hepfpga.convert.write import write_project
from hepfpga.options import ConvertOptions

__all__ = ["ConvertOptions", "base_config", "check_supported", "convert_model", "write_project"]
