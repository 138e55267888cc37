"""Golden regression: rebuilt firmware must reproduce the stored outputs bit for bit.

A failure means hls4ml, the compiler flags or hepfpga's precision choices changed what the firmware
computes. Find out why; regenerate with `python models/make_golden.py` only if the change is intended.
"""

from pathlib import Path

import numpy as np
import pytest
from golden import REFERENCES

MODELS = Path(__file__).resolve().parents[1] / "models"


@pytest.mark.csim
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_firmware_matches_golden(name, reference_projects):
    golden = np.load(MODELS / "golden" / f"{name}_firmware.npy")
    out = np.load(reference_projects / name / "hepfpga" / "predictions.npy")
    assert out.shape == golden.shape
    np.testing.assert_array_equal(out, golden)
