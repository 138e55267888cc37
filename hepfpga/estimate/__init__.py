"""Resource and latency estimates of hls4ml projects without vendor tools (`estimate_project`).

Modules: `parts` (FPGA part table), `model` (per-layer model), `project` (totals, shares of the part,
comparison with a vendor report); `hepfpga.firmware` reads the project as the HLS tool does.
"""

from hepfpga.estimate.project import estimate_project

__all__ = ["estimate_project"]
