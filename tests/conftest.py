"""Shared fixtures. TensorFlow is made quiet and deterministic before any test imports it."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.experimental.enable_op_determinism()  # same seed, same trained model

from hepfpga.data import write_jets_root  # noqa: E402


@pytest.fixture(scope="session")
def jets_root(tmp_path_factory):
    """A ROOT file of 3000 synthetic jets (tree 'jets'), written once per session."""
    return write_jets_root(tmp_path_factory.mktemp("data") / "jets.root", 3000, seed=7)
