"""Regenerate the golden firmware outputs in models/golden/ — only on purpose, after checking why they changed.

For each reference model: convert with hepfpga (the same call tests/test_golden.py makes), C-simulate the
fixed inputs models/golden/jet_inputs.npy and store the firmware outputs bit for bit.

Usage: python models/make_golden.py
"""

import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from golden import REFERENCES, firmware_outputs  # noqa: E402

here = Path(__file__).parent
with tempfile.TemporaryDirectory() as tmp:
    for name in REFERENCES:
        out = firmware_outputs(name, here, Path(tmp) / name)
        np.save(here / "golden" / f"{name}_firmware.npy", out)
        print(f"{name}: {out.shape} written to models/golden/{name}_firmware.npy")
