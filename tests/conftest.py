"""Shared fixtures. TensorFlow is made quiet and deterministic before any test imports it."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.experimental.enable_op_determinism()  # same seed, same trained model

from hepfpga.data import write_jets_root  # noqa: E402


@pytest.fixture(autouse=True)
def _same_random_state():
    """Each test trains from the same random state, whichever tests ran before it."""
    tf.keras.utils.set_random_seed(20261123)


@pytest.fixture(scope="session")
def jets_root(tmp_path_factory):
    """A ROOT file of 3000 synthetic jets (tree 'jets'), written once per session."""
    return write_jets_root(tmp_path_factory.mktemp("data") / "jets.root", 3000, seed=7)


@pytest.fixture(scope="session")
def reference_projects(tmp_path_factory):
    """The models/ references converted once per session as golden.py converts them (calibrated
    precisions); the folder holds one project per name of golden.REFERENCES."""
    from pathlib import Path

    from golden import REFERENCES, firmware_outputs

    folder = tmp_path_factory.mktemp("references")
    for name in REFERENCES:
        firmware_outputs(name, Path(__file__).resolve().parents[1] / "models", folder / name)
    return folder


#: (family, form, io type) -> outcome, filled by the C-sim tests through the `support` fixture.
SUPPORT: dict[tuple[str, str, str], str] = {}


def outcome(result) -> str:
    """One support-matrix cell from a `convert_model` report, the error a conversion raised, or a text."""
    if isinstance(result, str):
        return result
    if isinstance(result, BaseException):
        reason = str(result).strip().splitlines()[0] if str(result).strip() else type(result).__name__
        return f"does not convert ({type(result).__name__}: {reason[:90]})"
    a = result["agreement"]
    if result["pre_softmax"] is not None:
        cell = f"{100 * a['argmax_agreement']:.1f} % argmax"
        if result["pre_softmax"]["mismatching_values"] == 0:
            cell += ", logits exact"
    elif a["max_abs_diff"] == 0:
        cell = "outputs identical"
    else:
        cell = f"max \\|Δ\\| {100 * a['relative_max_abs_diff']:.2f} % of range"
    return ("✅ " if result["passed"] else "❌ ") + cell


@pytest.fixture
def support():
    """record(family, form, io_type, report or exception): one cell of the support matrix (docs/support-matrix.md)."""
    def record(family: str, form: str, io_type: str, result) -> None:
        SUPPORT[(family, form, io_type)] = outcome(result)

    return record


def pytest_sessionfinish(session):
    """With HEPFPGA_SUPPORT_MATRIX=path, write the recorded cells as JSON (tools/support_matrix.py)."""
    path = os.environ.get("HEPFPGA_SUPPORT_MATRIX")
    if path and SUPPORT:
        import json

        rows = [dict(family=f, form=m, io_type=i, outcome=o) for (f, m, i), o in SUPPORT.items()]
        with open(path, "w") as f:
            json.dump(rows, f, indent=1, ensure_ascii=False)
