"""Design scans: a space of designs trained, converted, emulated and estimated on Dask (docs/scan.md)."""

from hepfpga.scan.options import ScanOptions
from hepfpga.scan.run import scan
from hepfpga.scan.space import DEFAULT_SPACE, Point, expand, read_space

#: `hepfpga.scan_designs`: the package attribute `hepfpga.scan` is this subpackage once it is imported.
scan_designs = scan

__all__ = ["DEFAULT_SPACE", "Point", "ScanOptions", "expand", "read_space", "scan", "scan_designs"]
