"""`hepfpga compress` on models and data hepfpga never made: a functional CNN with a skip connection and batch
normalisation, a regression MLP, an HGQ run, and the bad data refused before any training."""

import json

import numpy as np
import pytest
import tensorflow as tf

from hepfpga.cli import main
from hepfpga.compress import graph, qat, structured
from hepfpga.compress.steps import check_data
from hepfpga.errors import DataError


def shapes(n: int, seed: int):
    """16x16 images of four shapes at random places (blob, ring, horizontal bar, vertical bar) with noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:16, 0:16]
    x, y = np.zeros((n, 16, 16, 1), np.float32), rng.integers(0, 4, n)
    for i in range(n):
        cy, cx = rng.uniform(4, 12, 2)
        r = rng.uniform(2, 4)
        d = np.hypot(yy - cy, xx - cx)
        kinds = [np.exp(-d**2 / r**2), np.exp(-(d - r) ** 2), np.exp(-(yy - cy) ** 2) * (abs(xx - cx) < r + 2),
                 np.exp(-(xx - cx) ** 2) * (abs(yy - cy) < r + 2)]
        x[i, :, :, 0] = kinds[y[i]] + rng.normal(0, 0.15, (16, 16))
    return x, y


def pair_masses(n: int, seed: int):
    """Two massless particles (pT, eta, cos phi, sin phi each) and their invariant mass: a regression."""
    rng = np.random.default_rng(seed)
    pt, eta, phi = rng.exponential(1.0, (n, 2)) + 0.5, rng.uniform(-2, 2, (n, 2)), rng.uniform(-np.pi, np.pi, (n, 2))
    mass2 = 2 * pt[:, 0] * pt[:, 1] * (np.cosh(eta[:, 0] - eta[:, 1]) - np.cos(phi[:, 0] - phi[:, 1]))
    return np.concatenate([pt, eta, np.cos(phi), np.sin(phi)], axis=1).astype(np.float32), np.sqrt(mass2)


@pytest.fixture(scope="module")
def cnn(tmp_path_factory):
    """A trained functional CNN: conv-BN-relu, a residual block with a skip, pooling, dense; and its data."""
    folder = tmp_path_factory.mktemp("cnn")
    tf.keras.utils.set_random_seed(1)
    x, y = shapes(1500, 1)
    inp = tf.keras.Input((16, 16, 1), name="image")
    h = tf.keras.layers.Conv2D(8, 3, padding="same", name="c1")(inp)
    h = tf.keras.layers.BatchNormalization(name="bn1")(h)
    h = tf.keras.layers.MaxPooling2D(2, name="p1")(tf.keras.layers.Activation("relu", name="r1")(h))
    g = tf.keras.layers.Conv2D(8, 3, padding="same", name="c2")(h)
    g = tf.keras.layers.Activation("relu", name="r2")(tf.keras.layers.BatchNormalization(name="bn2")(g))
    h = tf.keras.layers.MaxPooling2D(2, name="p2")(tf.keras.layers.Add(name="skip")([h, g]))
    h = tf.keras.layers.Dense(24, activation="relu", name="d1")(tf.keras.layers.Flatten(name="flat")(h))
    model = tf.keras.Model(inp, tf.keras.layers.Dense(4, activation="softmax", name="out")(h), name="shapes_cnn")
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=30, batch_size=64, verbose=0)
    model.save(folder / "cnn.h5")
    np.savez(folder / "train.npz", x=x, y=y)
    unseen = shapes(1000, 2)[0]
    np.save(folder / "unseen.npy", unseen)
    return folder, model, x, y


def test_folding_and_mapping_keep_the_function(cnn):
    _, model, x, _ = cnn
    folded, names = graph.fold_batchnorm(model)
    assert names == ["bn1", "bn2"] and "BatchNormalization" not in graph.layer_classes(folded)
    np.testing.assert_allclose(folded.predict(x[:64], verbose=0), model.predict(x[:64], verbose=0), atol=1e-5)
    qmodel, notes = qat.to_qkeras(model, x[:500], weight_bits=10, activation_bits=10)
    assert {"QConv2D", "QDense", "QActivation"} <= graph.layer_classes(qmodel)
    assert qmodel.layers[1].name == "image_quantizer" and notes["batchnorm_folded"] == ["bn1", "bn2"]
    agree = np.mean(qmodel.predict(x[:300], verbose=0).argmax(1) == model.predict(x[:300], verbose=0).argmax(1))
    assert agree > 0.95  # 10 bits: close to float before any fine-tuning
    hmodel, hnotes = qat.to_hgq(model)
    assert {"HConv2D", "HDense", "HAdd", "HQuantize"} <= graph.layer_classes(hmodel)
    assert hnotes["softmax_left_out"] == ["out"]


def test_compress_cnn_skip_batchnorm(cnn, tmp_path, capsys):
    """50 % magnitude pruning and 6-bit QKeras from the command line: firmware within 1 pp of float, the
    project's C-sim agreeing with the compressed model on unseen images, its logits exact."""
    folder, _, _, _ = cnn
    out = tmp_path / "prj"
    assert main(["compress", str(folder / "cnn.h5"), "--data", str(folder / "train.npz"), "--output", str(out),
                 "--sparsity", "0.5", "--weight-bits", "6", "--epochs", "12"]) == 0
    report = json.loads((out / "hepfpga" / "report.json").read_text())
    metrics = report["metrics"]
    assert report["task"] == "classification" and set(metrics) == {"float", "pruned", "quantized", "firmware"}
    assert metrics["float"] - metrics["firmware"] <= 1.0 and report["passed"]
    assert all(abs(s - 0.5) < 0.02 for s in report["sparsity"].values()), report["sparsity"]
    assert {"float.h5", "pruned.h5", "model.h5", "report.md", "compression.png"} <= {
        p.name for p in (out / "hepfpga").iterdir()}
    convert = json.loads((out / "hepfpga" / "convert.json").read_text())
    assert convert["pre_softmax"]["mismatching_values"] == 0  # QKeras logits bit-exact
    assert main(["csim", str(out), "--data", str(folder / "unseen.npy")]) == 0  # >= 99 % argmax agreement
    from hepfpga.csim.simulate import csim_project

    unseen = np.load(folder / "unseen.npy")
    assert csim_project(out, unseen)["agreement"]["argmax_agreement"] >= 0.99


def test_compress_regression_mlp(tmp_path):
    """A regression MLP through the API with the defaults (50 % sparsity, 6 bits): MSE within 10 % of float."""
    from hepfpga import CompressOptions, compress_model

    tf.keras.utils.set_random_seed(2)
    x, y = pair_masses(6000, 1)
    model = tf.keras.Sequential([tf.keras.Input((8,)), tf.keras.layers.Dense(32, activation="relu", name="h1"),
                                 tf.keras.layers.Dense(32, activation="relu", name="h2"),
                                 tf.keras.layers.Dense(1, name="mass")], name="mass_mlp")
    model.compile("adam", "mse")
    model.fit(x, y, epochs=40, batch_size=128, verbose=0)
    report = compress_model(model, x, y, tmp_path / "prj", CompressOptions(), log=lambda *a: None)
    assert report["task"] == "regression" and report["metric"] == "MSE"
    assert report["metrics"]["firmware"] <= 1.1 * report["metrics"]["float"] and report["passed"], report["metrics"]
    assert report["estimate"]["total"]["dsp"] >= 0 and "agreement" in report


def test_compress_hgq_and_neurons(tmp_path):
    """HGQ's learned bit widths (the firmware gives logits, equal to HGQ's proxy), and whole-neuron pruning with
    QKeras, on a small classifier."""
    from hepfpga import CompressOptions, compress_model

    tf.keras.utils.set_random_seed(3)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3000, 10)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] + x[:, 2] > 0)
    model = tf.keras.Sequential([tf.keras.Input((10,)), tf.keras.layers.Dense(24, activation="relu", name="h"),
                                 tf.keras.layers.Dense(4, activation="softmax", name="out")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=20, batch_size=64, verbose=0)
    report = compress_model(model, x, y, tmp_path / "hgq", CompressOptions(method="hgq", pruning="none", beta=1e-6),
                            log=lambda *a: None)
    assert report["quantization"]["softmax_left_out"] == ["out"] and "logits" in report["note"]
    assert report["passed"] and report["agreement"]["mismatching_values"] == 0
    report = compress_model(model, x, y, tmp_path / "neurons", CompressOptions(pruning="neurons", epochs=5),
                            log=lambda *a: None)
    assert report["pruning"]["removed"] == {"h": 12}
    assert "static const unsigned n_out = 12;" in (tmp_path / "neurons" / "firmware" / "parameters.h").read_text()
    narrow, removed = structured.remove_units(model, 0.25)
    assert removed == {"h": 6} and narrow.get_layer("h").units == 18


def test_bad_data_refused_before_training(cnn, tmp_path, capsys):
    folder, model, x, y = cnn
    with pytest.raises(DataError, match="labels run from 0 to 7"):
        check_data(model, x, np.arange(len(x)) % 8, "classification")
    with pytest.raises(DataError, match="shape"):
        check_data(model, x[:, :8], y, "classification")
    bad = x.copy()
    bad[3, 2, 2, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        check_data(model, bad, y, "classification")
    with pytest.raises(DataError, match="targets"):
        check_data(model, x, y[:-5], "classification")
    onehot = np.eye(4)[y]
    assert np.array_equal(check_data(model, x, onehot, "classification")[1], y)
    np.savez(tmp_path / "nolabels.npz", x=x)
    np.savez(tmp_path / "badlabels.npz", x=x, y=np.full(len(x), 9))
    for data, message in (("nolabels.npz", "targets as an array named y"), ("badlabels.npz", "labels run from 9"),
                          ("missing.npz", "not found")):
        assert main(["compress", str(folder / "cnn.h5"), "--data", str(tmp_path / data), "--output",
                     str(tmp_path / "out")]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / "out").exists()


def test_scan_of_a_users_model(tmp_path, capsys):
    """`scan --model` over three points (4 and 6 bits, HGQ): every point compressed, emulated and estimated,
    the table, both Pareto plots and a recommended project; a space that names the jet tagger's builder fields,
    or layers the model lacks, is refused before any work."""
    import yaml

    tf.keras.utils.set_random_seed(5)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3000, 10)).astype(np.float32)
    y = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] + x[:, 2] > 0)
    model = tf.keras.Sequential([tf.keras.Input((10,)), tf.keras.layers.Dense(16, activation="relu", name="h"),
                                 tf.keras.layers.Dense(4, activation="softmax", name="out")], name="toy")
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=10, batch_size=64, verbose=0)
    model.save(tmp_path / "toy.h5")
    np.savez(tmp_path / "data.npz", x=x, y=y)
    space = {"base": {"weight_bits": 6, "sparsity": 0.5},
             "grids": [{"weight_bits": [4, 6]}, {"method": ["hgq"], "beta": [1e-6], "sparsity": [0.0]}]}
    (tmp_path / "space.yml").write_text(yaml.safe_dump(space))
    args = ["scan", "--model", str(tmp_path / "toy.h5"), "--data", str(tmp_path / "data.npz"), "--space",
            str(tmp_path / "space.yml"), "--output", str(tmp_path / "scan"), "--workers", "2", "--prune-epochs", "4",
            "--qat-epochs", "6"]
    assert main(args) == 0
    summary = json.loads((tmp_path / "scan" / "results.json").read_text())
    assert [r["status"] for r in summary["points"]] == ["ok"] * 3, [r.get("error") for r in summary["points"]]
    assert all(r["agreement"] >= 0.99 and r["lut"] > 0 and 0 < r["accuracy"] <= 1 for r in summary["points"])
    assert {"results.csv", "report.md", "pareto_resources.png", "pareto_latency.png", "recommended"} <= {
        p.name for p in (tmp_path / "scan").iterdir()}
    assert (tmp_path / "scan" / "recommended" / "firmware" / "parameters.h").is_file()
    for bad, message in (({"base": {"hidden": [8]}}, "belong to the jet tagger's builder"),
                         ({"base": {"weight_bits": {"nope": 4}}}, "names layer\\(s\\) nope")):
        (tmp_path / "bad.yml").write_text(yaml.safe_dump(bad))
        assert main([*args[:5], "--space", str(tmp_path / "bad.yml"), "--output", str(tmp_path / "bad")]) == 2
        assert __import__("re").search(message, capsys.readouterr().err)
        assert not (tmp_path / "bad").exists()
