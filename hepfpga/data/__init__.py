"""Data in: ROOT files through uproot, synthetic datasets, and the feature scaler."""

from hepfpga.data.arrays import (
    as_model_input,
    head,
    load_inputs,
    load_labelled,
    load_model_inputs,
    load_testbench,
    n_events,
    per_input,
    random_inputs,
)
from hepfpga.data.root import read_features, read_root, split
from hepfpga.data.scaler import Scaler, check_finite
from hepfpga.data.synthetic import (
    IMAGE_BRANCH,
    JET_CLASSES,
    JET_FEATURES,
    PARTICLE_BRANCHES,
    make_constituents,
    make_jet_images,
    make_jets,
    write_constituents_root,
    write_jet_images_root,
    write_jets_root,
)

__all__ = [
    "as_model_input", "head", "load_inputs", "load_labelled", "load_model_inputs", "load_testbench", "n_events",
    "per_input", "random_inputs", "read_features", "read_root",
    "split", "Scaler", "check_finite",
    "IMAGE_BRANCH", "JET_CLASSES", "JET_FEATURES", "PARTICLE_BRANCHES", "make_constituents", "make_jet_images",
    "make_jets", "write_constituents_root", "write_jet_images_root", "write_jets_root",
]
