"""`convert_model` on models trained here in the styles people publish, calibrated with N(0,1) inputs.

Targets (issue 3): argmax agreement >= 99 % on every model; QKeras models: pre-softmax outputs exact.
"""

import pytest
import reference_models as ref
import tensorflow as tf

from hepfpga.compress import prune
from hepfpga.convert import ConvertOptions, convert_model
from hepfpga.data import random_inputs
from hepfpga.train import fit

L = tf.keras.layers
pytestmark = pytest.mark.csim


@pytest.fixture(scope="module")
def jets():
    return ref.jets()


@pytest.fixture(scope="module")
def images():
    return ref.images()


@pytest.mark.parametrize("kind", ref.KINDS)
def test_convert_trained_model_with_random_calibration(kind, jets, images, tmp_path):
    model = ref.train(kind, jets, images)
    calibration = random_inputs(model.input_shape[1:], 2000)
    report = convert_model(model, tmp_path / kind, calibration, options=ConvertOptions(max_events=2000),
                           log=lambda *a: None)
    assert report["agreement"]["argmax_agreement"] >= 0.99, report["first_divergence"]
    assert report["passed"] and report["first_divergence"] is None
    if kind.startswith("qkeras"):
        assert report["pre_softmax"]["mismatching_values"] == 0
    else:  # float: logits within a small fraction of their range
        assert report["pre_softmax"]["max_abs_diff"] < 0.05 * max(r["keras_max"] for r in report["layers"])
    assert (tmp_path / kind / "hepfpga" / "precision_profile.png").is_file()


def test_pruned_model_with_wrappers_from_file(jets, tmp_path):
    """A tfmot-pruned model saved with its wrappers: loaded, stripped, converted, verified on real data."""
    from hepfpga.models.load import load_model

    x, y = jets
    model = ref.jet_mlp()
    fit(model, x[:8000], y[:8000], x[8000:9000], y[8000:9000], epochs=3, batch_size=256, verbose=0)
    pruned = prune.prune(model, 0.75, end_step=60)
    fit(pruned, x[:8000], y[:8000], x[8000:9000], y[8000:9000], epochs=3, batch_size=256,
        callbacks=prune.pruning_callbacks(), early_stopping=False, verbose=0)
    pruned.save(tmp_path / "pruned.h5")
    loaded = load_model(tmp_path / "pruned.h5")
    assert not any("Prune" in type(layer).__name__ for layer in loaded.layers)
    assert min(prune.sparsity(loaded).values()) >= 0.74
    report = convert_model(loaded, tmp_path / "prj", random_inputs((16,), 2000), validation=x[9000:],
                           log=lambda *a: None)
    assert report["evaluated_on"] == "validation" and report["events"] == 3000
    assert report["agreement"]["argmax_agreement"] >= 0.99


def test_unchanged_conversion_is_reused(jets, tmp_path, monkeypatch):
    from hepfpga.csim import emulate

    x, y = jets
    model = tf.keras.Sequential([L.Input(16), L.Dense(8, activation="relu"), L.Dense(5, activation="softmax")])
    first = convert_model(model, tmp_path / "prj", x[:500], log=lambda *a: None)
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "prj").rglob("*")}
    # compiled in the staging folder, the library would read weights from a folder that is gone: removed
    assert not list((tmp_path / "prj").rglob("*.so"))

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the unchanged model was compiled again")

    monkeypatch.setattr(emulate, "run", no_rebuild)
    messages = []
    second = convert_model(model, tmp_path / "prj", x[:500], log=messages.append)
    assert second == first and {p: p.stat().st_mtime_ns for p in (tmp_path / "prj").rglob("*")} == stamps
    assert "reusing the build" in messages[0]
    # A changed option is a different build: without --force it must not replace the project.
    from hepfpga.errors import ProjectExistsError

    with pytest.raises(ProjectExistsError):
        convert_model(model, tmp_path / "prj", x[:500], options=ConvertOptions(reuse_factor=2), log=lambda *a: None)
