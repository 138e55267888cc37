"""`convert_model` on models trained here in the styles people publish, calibrated with N(0,1) inputs.

Targets (issue 3): argmax agreement >= 99 % on every model; QKeras models: pre-softmax outputs exact.
"""

import numpy as np
import pytest
import tensorflow as tf
from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu

from hepfpga.compress import prune
from hepfpga.data import JET_FEATURES, make_jets, random_inputs
from hepfpga.pipeline import ConvertOptions, convert_model
from hepfpga.train import fit

L = tf.keras.layers
pytestmark = pytest.mark.csim


@pytest.fixture(scope="module")
def jets():
    d = make_jets(12_000, seed=5)
    x = np.stack([d[f] for f in JET_FEATURES], 1)
    return ((x - x.mean(0)) / x.std(0)).astype(np.float32), d["label"]


@pytest.fixture(scope="module")
def images():
    """MNIST-like: 10 classes of fixed random 12x12 patterns plus noise."""
    rng = np.random.default_rng(1)
    templates = rng.random((10, 12, 12)) > 0.7
    y = rng.integers(0, 10, 6000)
    x = templates[y].astype(np.float32) + 0.6 * rng.standard_normal((6000, 12, 12)).astype(np.float32)
    return x, y


def _q():
    return dict(kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 0, alpha=1))


def _jet_mlp():
    return tf.keras.Sequential([L.Input(16), L.Dense(64, activation="relu"), L.Dense(32, activation="relu"),
                                L.Dense(32, activation="relu"), L.Dense(5, activation="softmax")], name="jet_mlp")


def _build(kind):
    if kind == "float_mlp":
        return _jet_mlp()
    if kind == "batchnorm_mlp":
        return tf.keras.Sequential([L.Input(16), L.Dense(32), L.BatchNormalization(), L.Activation("relu"),
                                    L.Dense(32), L.BatchNormalization(), L.Activation("relu"),
                                    L.Dense(5, activation="softmax")], name="jet_bn")
    if kind == "conv1d":
        return tf.keras.Sequential([L.Input((16, 1)), L.Conv1D(8, 3, activation="relu"), L.MaxPooling1D(2),
                                    L.Conv1D(8, 3, activation="relu"), L.Flatten(), L.Dense(16, activation="relu"),
                                    L.Dense(5, activation="softmax")], name="jet_conv1d")
    if kind == "conv2d":
        return tf.keras.Sequential([L.Input((4, 4, 1)), L.Conv2D(8, 2, activation="relu"),
                                    L.Conv2D(8, 2, activation="relu"), L.Flatten(), L.Dense(16, activation="relu"),
                                    L.Dense(5, activation="softmax")], name="jet_conv2d")
    if kind == "qkeras_dense":
        return tf.keras.Sequential([L.Input(144), QDense(64, name="fc1", **_q()), QActivation(quantized_relu(6), name="r1"),
                                    QDense(32, name="fc2", **_q()), QActivation(quantized_relu(6), name="r2"),
                                    QDense(10, name="out", **_q()), L.Activation("softmax", name="softmax")],
                                   name="qmnist_dense")
    if kind == "qkeras_cnn":
        return tf.keras.Sequential([L.Input((12, 12, 1)), QConv2D(4, 3, name="c1", **_q()),
                                    QActivation(quantized_relu(6), name="r1"), L.MaxPooling2D(2),
                                    QConv2D(8, 3, name="c2", **_q()), QActivation(quantized_relu(6), name="r2"),
                                    L.Flatten(), QDense(10, name="out", **_q()), L.Activation("softmax", name="softmax")],
                                   name="qmnist_cnn")
    raise ValueError(kind)


def _train(kind, jets, images):
    x, y = images if kind.startswith("qkeras") else jets
    model = _build(kind)
    x = x.reshape((len(x), *model.input_shape[1:]))
    fit(model, x[:-1000], y[:-1000], x[-1000:], y[-1000:], epochs=4, batch_size=256, verbose=0)
    return model


@pytest.mark.parametrize("kind", ["float_mlp", "batchnorm_mlp", "conv1d", "conv2d", "qkeras_dense", "qkeras_cnn"])
def test_convert_trained_model_with_random_calibration(kind, jets, images, tmp_path):
    model = _train(kind, jets, images)
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
    from hepfpga.convert.load import load_model

    x, y = jets
    model = _jet_mlp()
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
    library = next((tmp_path / "prj" / "firmware").glob("*.so"))
    stamp = library.stat().st_mtime_ns

    def no_rebuild(*args, **kwargs):
        raise AssertionError("the unchanged model was compiled again")

    monkeypatch.setattr(emulate, "run", no_rebuild)
    messages = []
    second = convert_model(model, tmp_path / "prj", x[:500], log=messages.append)
    assert second == first and library.stat().st_mtime_ns == stamp
    assert "reusing the build" in messages[0]
    # A changed option is a different build: without --force it must not replace the project.
    from hepfpga.errors import ProjectExistsError

    with pytest.raises(ProjectExistsError):
        convert_model(model, tmp_path / "prj", x[:500], options=ConvertOptions(reuse_factor=2), log=lambda *a: None)
