"""Firmware emulation (g++) against Keras, on the whole jet-tagging chain and on bad input."""

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from hepfpga.chain import JetTaggingOptions, jet_tagging
from hepfpga.convert import write_project
from hepfpga.convert.softmax import SOFTMAX_RANGE_BITS, SOFTMAX_TABLE_SIZE
from hepfpga.csim import emulate
from hepfpga.data import write_jets_root
from hepfpga.errors import CompilerError, DataError
from hepfpga.models import build

SMALL = dict(hidden=[16, 8], epochs=8, prune_epochs=6, qat_epochs=6, batch_size=256)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """The whole chain on 20k synthetic jets with a small MLP, run once for the module."""
    base = tmp_path_factory.mktemp("chain")
    root = write_jets_root(base / "jets.root", 20_000, seed=11)
    report = jet_tagging(root, base / "prj", JetTaggingOptions(**SMALL), log=lambda *a: None)
    return base / "prj", report


@pytest.mark.csim
def test_chain_logits_exact_and_targets(chain):
    prj, report = chain
    logits = report["agreement"]["logits"]
    assert logits["events"] == 5000
    assert logits["mismatching_values"] == 0 and logits["max_abs_diff"] == 0.0
    assert report["agreement"]["softmax"]["max_abs_diff"] < 0.01
    assert min(report["sparsity"].values()) >= 0.70
    assert report["accuracy"]["float"] > 0.6  # the small model learns the task
    # Every softmax argmax disagreement is a tie of the firmware's exp table: the firmware gives both
    # classes the same probability and their Keras logits are closer than the table's bin width.
    out = np.load(prj / "hepfpga" / "test_outputs.npz")
    fw, keras_logits = out["firmware"], out["qat_logits"]
    bin_width = 2.0**SOFTMAX_RANGE_BITS / SOFTMAX_TABLE_SIZE
    for i in np.flatnonzero(fw.argmax(1) != out["qat"].argmax(1)):
        a, b = fw[i].argmax(), out["qat"][i].argmax()
        assert fw[i, a] == fw[i, b], (i, fw[i])
        assert abs(keras_logits[i, a] - keras_logits[i, b]) <= bin_width, (i, keras_logits[i])
    # Softmax agreement is reported against one step of its tables: the exp bin (8 / 4096), the inverse
    # bin (the sum's type ufixed<W, 4> for 5 classes, over 4096 entries), the two tables' value steps (18-bit
    # tables: 2^-17 each) and the result's (ufixed<36,2>: 2^-34); every firmware probability is within that.
    softmax = report["agreement"]["softmax"]
    step = bin_width + 2.0**4 / SOFTMAX_TABLE_SIZE + 2 * 2.0**-17 + 2.0**-34
    assert softmax["tolerance"] == pytest.approx(step)
    assert softmax["beyond_tolerance"] == int(np.count_nonzero(np.abs(fw - out["qat"]) > step)) == 0
    assert softmax["mismatching_values"] > 0  # the tables do round: the plain count is not the measure


@pytest.mark.csim
def test_chain_outputs_on_disk(chain):
    prj, report = chain
    for name in ("hepfpga/test_outputs.npz", "firmware/myproject.cpp", "build_prj.tcl", "myproject_test.cpp",
                 "tb_data/tb_input_features.dat",
                 "hepfpga/report.json", "hepfpga/report.md", "hepfpga/roc.png", "hepfpga/model.h5",
                 "hepfpga/scaler.json"):
        assert (prj / name).is_file(), name
    assert json.loads((prj / "hepfpga/report.json").read_text())["agreement"] == report["agreement"]
    assert not [p for p in prj.parent.iterdir() if "staging" in p.name]
    assert "| logits" in (prj / "hepfpga/report.md").read_text()


@pytest.mark.csim
def test_chain_refuses_existing_project(chain, tmp_path):
    prj, _ = chain
    before = sorted(p.name for p in prj.iterdir())
    from hepfpga.errors import ProjectExistsError

    with pytest.raises(ProjectExistsError):
        jet_tagging(prj.parent / "jets.root", prj, JetTaggingOptions(**SMALL))
    assert sorted(p.name for p in prj.iterdir()) == before


@pytest.fixture(scope="module")
def tiny_project(tmp_path_factory):
    model = build("mlp", quantized=True, hidden=(4,), n_inputs=3, n_classes=2)
    return write_project(model, tmp_path_factory.mktemp("tiny") / "prj"), model


def _fake_compiler(folder):
    fake = folder / "g++"
    fake.write_text("#!/bin/sh\necho 'fatal error: simulated compiler failure' >&2\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return folder


@pytest.mark.csim
def test_compile_error_shows_log_tail(tiny_project, tmp_path, monkeypatch):
    hls_model, _ = tiny_project
    monkeypatch.setenv("PATH", f"{_fake_compiler(tmp_path)}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(CompilerError, match="(?s)simulated compiler failure.*Full log: .*hepfpga_compile.log") as err:
        emulate.run(hls_model, np.zeros((2, 3)), log=lambda *a: None)
    log_path = str(err.value).rsplit("Full log: ", 1)[1].strip()
    assert "simulated compiler failure" in Path(log_path).read_text()


def test_missing_compiler(tiny_project, tmp_path, monkeypatch):
    hls_model, _ = tiny_project
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(CompilerError, match="g\\+\\+ was not found on PATH.*apt-get install g\\+\\+"):
        emulate.run(hls_model, np.zeros((2, 3)))


def test_bad_firmware_input(tiny_project):
    hls_model, _ = tiny_project
    with pytest.raises(DataError, match=r"shape \(N, 3\), got \(2, 4\)"):
        emulate.run(hls_model, np.zeros((2, 4)))
    x = np.zeros((2, 3))
    x[1, 2] = np.inf
    with pytest.raises(DataError, match="1 NaN/inf"):
        emulate.run(hls_model, x)
