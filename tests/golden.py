"""How golden firmware outputs are made: shared by tests/test_golden.py and models/make_golden.py."""

from pathlib import Path

import numpy as np

from hepfpga.convert import ConvertOptions, convert_model
from hepfpga.models.load import load_model

#: Reference models in models/: the jet tagger of `hepfpga demo`, float and pruned + 6-bit QAT.
REFERENCES = {"jet_tagger_float": "jet_tagger_float.h5", "jet_tagger_qat": "jet_tagger_qat.h5"}


def firmware_outputs(name: str, models_dir: Path, project_dir: Path) -> np.ndarray:
    """Convert reference `name` (precisions calibrated on the golden inputs) and return its firmware outputs."""
    model = load_model(models_dir / REFERENCES[name])
    x = np.load(models_dir / "golden" / "jet_inputs.npy")
    convert_model(model, project_dir, x, options=ConvertOptions(max_events=len(x)), log=lambda *a: None)
    return np.load(project_dir / "hepfpga" / "predictions.npy")
