"""`hepfpga convert` from the command line: model formats, calibration inputs and every bad input."""

import json
import os
import stat
import warnings
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from hepfpga.cli import main
from hepfpga.data import write_jets_root
from hepfpga.errors import DataError
from hepfpga.models.load import load_model

L = tf.keras.layers


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small trained-looking float model in every supported format, plus calibration files."""
    base = tmp_path_factory.mktemp("models")
    tf.keras.utils.set_random_seed(3)
    # Layer names fixed: Keras numbers unnamed layers per process, so they would depend on earlier tests.
    model = tf.keras.Sequential([L.Input(16), L.Dense(8, activation="relu", name="dense"), L.Dropout(0.2),
                                 L.Dense(5, activation="softmax", name="output")], name="tagger")
    model.save(base / "tagger.h5")
    model.save(base / "tagger.keras")
    model.save(base / "tagger_savedmodel")
    (base / "tagger.json").write_text(model.to_json())
    model.save_weights(base / "tagger_weights.h5")
    x = np.random.default_rng(0).standard_normal((600, 16)).astype(np.float32)
    np.save(base / "cal.npy", x)
    np.savez(base / "cal.npz", x=x, y=np.zeros(600))
    return base, model, x


@pytest.mark.parametrize("name", ["tagger.h5", "tagger.keras", "tagger_savedmodel", "tagger.json"])
def test_every_model_format_loads(saved, name):
    base, model, x = saved
    weights = base / "tagger_weights.h5" if name.endswith(".json") else None
    loaded = load_model(base / name, weights)
    np.testing.assert_array_equal(loaded.predict(x[:20], verbose=0), model.predict(x[:20], verbose=0))


KERAS3 = Path(__file__).parent / "fixtures" / "keras3"


@pytest.mark.parametrize("name, inputs", [("sequential", "x"), ("functional", "img"), ("qkeras", "x")])
def test_keras3_files_load_into_keras2(name, inputs):
    """Models saved by Keras 3.15.1 (`batch_shape`, dtype policies, call-argument inbound nodes, weights keyed
    by class-derived names) load into the installed Keras 2 and compute what Keras 3 computed."""
    reference = np.load(KERAS3 / "k3_outputs.npz")
    model = load_model(KERAS3 / f"k3_{name}.keras")
    np.testing.assert_allclose(model.predict(reference[inputs], verbose=0), reference[name], rtol=0, atol=1e-6)
    if name == "qkeras":
        assert [type(layer).__name__ for layer in model.layers] == ["QDense", "QActivation", "QDense", "Activation"]


def test_keras3_file_that_cannot_be_translated(tmp_path):
    """A Keras 3 file whose layer Keras 2 has no form for: refused naming the Keras version that wrote it and
    what to do."""
    import zipfile

    bad = tmp_path / "custom.keras"
    with zipfile.ZipFile(KERAS3 / "k3_sequential.keras") as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            if item == "config.json":
                data = data.replace(b'"Dense"', b'"EinsumDense"', 1)
            dst.writestr(item, data)
    with pytest.raises(DataError, match=r"written by Keras 3\.15\.1; hepfpga runs Keras 2\.14.*tf_keras"):
        load_model(bad)


@pytest.mark.csim
def test_keras3_qkeras_model_converts_bit_exact(tmp_path, capsys):
    reference = np.load(KERAS3 / "k3_outputs.npz")
    np.save(tmp_path / "x.npy", reference["x"])
    assert main(["convert", str(KERAS3 / "k3_qkeras.keras"), "--calibration", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "prj")]) == 0
    report = json.loads((tmp_path / "prj" / "hepfpga" / "convert.json").read_text())
    assert report["passed"] and report["pre_softmax"]["mismatching_values"] == 0


def test_qkeras_loads_without_custom_objects(tmp_path):
    from qkeras import QActivation, QDense, quantized_bits, quantized_relu

    m = tf.keras.Sequential([L.Input(4), QDense(3, kernel_quantizer=quantized_bits(4, 0, alpha=1)),
                             QActivation(quantized_relu(4))])
    m.save(tmp_path / "q.h5")
    assert type(load_model(tmp_path / "q.h5").layers[0]).__name__ == "QDense"


@pytest.mark.csim
def test_convert_cli_end_to_end(saved, tmp_path, capsys):
    base, model, x = saved
    out, preds = tmp_path / "prj", tmp_path / "fw.npy"
    code = main(["convert", str(base / "tagger.h5"), "--calibration", str(base / "cal.npz"), "--output", str(out),
                 "--predictions-out", str(preds)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "argmax agreement" in text and "Layer by layer" in text
    assert "Estimate (no vendor tool) for xcvu13p-flga2577-2-e" in text and "fits xcvu13p" in text
    fw = np.load(preds)
    keras_out = model.predict(x, verbose=0)
    assert fw.shape == keras_out.shape
    assert np.mean(fw.argmax(1) == keras_out.argmax(1)) >= 0.99
    for name in ("hepfpga/convert.json", "hepfpga/report.md", "hepfpga/hls4ml_config.yml",
                 "hepfpga/precision_profile.png", "firmware/myproject.cpp", "build_prj.tcl"):
        assert (out / name).is_file(), name
    # The written configuration is re-runnable: feeding it back gives the same firmware types.
    again = tmp_path / "again"
    assert main(["convert", str(base / "tagger.h5"), "--calibration", str(base / "cal.npy"), "--output", str(again),
                 "--config", str(out / "hepfpga/hls4ml_config.yml")]) == 0
    assert (again / "firmware/defines.h").read_text() == (out / "firmware/defines.h").read_text()


@pytest.mark.csim
def test_convert_from_root_calibration(saved, tmp_path):
    base, _, _ = saved
    root = write_jets_root(tmp_path / "jets.root", 500)
    from hepfpga.data import JET_FEATURES

    assert main(["convert", str(base / "tagger.h5"), "--calibration", str(root), "--tree", "jets",
                 "--branches", ",".join(JET_FEATURES), "--output", str(tmp_path / "prj"),
                 "--min-agreement", "0.0"]) == 0


@pytest.mark.csim
def test_hls4ml_project_yaml_in_and_out(saved, tmp_path, monkeypatch, capsys):
    """--hls4ml-config: hls4ml's project YAML (old-style KerasH5, paths beside the YAML, run from elsewhere)
    gives the model, folder, part, clock and a layer's weight type; hepfpga chooses the rest. The YAML that
    convert writes rebuilds the same firmware through hls4ml's own convert_from_config."""
    import shutil

    import hls4ml
    import yaml

    base, model, x = saved
    users = tmp_path / "users"
    users.mkdir()
    shutil.copy(base / "tagger.h5", users / "tagger.h5")
    np.savetxt(users / "tb_input_features.dat", x[:300], fmt="%.7g")
    np.savetxt(users / "tb_output_predictions.dat", model.predict(x[:300], verbose=0), fmt="%.7g")
    (users / "project.yml").write_text(yaml.safe_dump({
        "KerasH5": "tagger.h5", "OutputDir": "tagger_prj", "ProjectName": "myproject", "Part": "xcku115-flvb2104-2-i",
        "ClockPeriod": 4, "IOType": "io_parallel", "InputData": "tb_input_features.dat",
        "OutputPredictions": "tb_output_predictions.dat",
        "HLSConfig": {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
                      "LayerName": {"dense": {"Precision": {"weight": "fixed<10,3>"}}}}}))
    monkeypatch.chdir(tmp_path)  # OutputDir is relative to where the command runs, as with hls4ml's
    assert main(["convert", "--hls4ml-config", str(users / "project.yml")]) == 0
    captured = capsys.readouterr()
    assert "Model Precision 'ap_fixed<16,6>'" in captured.err  # said, not silently dropped
    assert "Keras on --tb-input against --tb-output" in captured.out and "(as expected)" in captured.out
    assert "precisions: 1 layer(s) as the given configuration sets them (dense)" in captured.out
    out = tmp_path / "tagger_prj"
    report = json.loads((out / "hepfpga" / "convert.json").read_text())
    assert report["options"]["part"] == "xcku115-flvb2104-2-i" and report["options"]["clock_period"] == 4.0
    assert report["events"] == 300 and report["precision_sources"]["dense"] == "hls4ml config"
    assert report["precision_sources"]["output"] == "hepfpga"
    defines = (out / "firmware" / "defines.h").read_text()
    assert "typedef ap_fixed<10,3> dense_weight_t;" in defines

    monkeypatch.chdir(out)
    config = hls4ml.converters.parse_yaml_config("hepfpga/hls4ml_project.yml")
    with warnings.catch_warnings():  # hepfpga's softmax accum_t replaces hls4ml's, on purpose (convert/write.py)
        warnings.filterwarnings("ignore", message="Overriding attribute 'accum_t'")
        hls4ml.converters.convert_from_config(config).write()
    rebuilt = (out / "hls4ml_rebuild" / "firmware" / "defines.h").read_text()
    assert sorted(line for line in rebuilt.splitlines() if "typedef" in line) == \
        sorted(line for line in defines.splitlines() if "typedef" in line)


@pytest.mark.csim
def test_older_hls4ml_project_yaml(saved, tmp_path, capsys):
    """A project YAML as hls4ml's older tutorials wrote it: XilinxPart, KerasJson + KerasH5, a per-layer-type
    section (LayerType: Dense), `ap_fixed<W, I>` spellings with spaces and modes, a layer Precision given as
    one type, and `Strategy: Stable` on the softmax. hls4ml 1.3 accepts it; so does hepfpga, with the
    configuration's types where it sets them (the same as hls4ml 1.3 gives) and its own elsewhere."""
    import hls4ml
    import yaml

    base, model, x = saved
    users = tmp_path / "users"
    users.mkdir()
    (users / "tagger.json").write_text(model.to_json())
    model.save_weights(users / "tagger_weights.h5")
    np.save(users / "cal.npy", x)
    project = {"KerasJson": "tagger.json", "KerasH5": "tagger_weights.h5", "OutputDir": str(tmp_path / "prj"),
               "ProjectName": "myproject", "XilinxPart": "xcku115-flvb2104-2-i", "ClockPeriod": 5,
               "IOType": "io_parallel",
               "HLSConfig": {"Model": {"Precision": "ap_fixed<16,6>", "ReuseFactor": 1, "Strategy": "Latency"},
                             "LayerType": {"Dense": {"Precision": {"weight": "ap_fixed<12, 4>"}}},
                             "LayerName": {"dense": {"Precision": "ap_fixed<20,8,AP_RND,AP_SAT>"},
                                           "output_softmax": {"Strategy": "Stable"}}}}
    (users / "project.yml").write_text(yaml.safe_dump(project))
    assert main(["convert", "--hls4ml-config", str(users / "project.yml"), "--calibration",
                 str(users / "cal.npy")]) == 0
    captured = capsys.readouterr()
    assert "output_softmax: Strategy Stable read as Implementation: stable" in captured.out
    assert "XilinxPart 'xcku115-flvb2104-2-i' read as Part" in captured.err
    report = json.loads((tmp_path / "prj" / "hepfpga" / "convert.json").read_text())
    assert report["passed"] and report["options"]["part"] == "xcku115-flvb2104-2-i"
    ours = (tmp_path / "prj" / "firmware" / "defines.h").read_text()
    assert "stable" in (tmp_path / "prj" / "firmware" / "parameters.h").read_text()

    # hls4ml 1.3 on the same YAML: the types it sets are the ones hepfpga used.
    project["OutputDir"] = str(tmp_path / "hls4ml_prj")
    (users / "project.yml").write_text(yaml.safe_dump(project))
    config = hls4ml.converters.parse_yaml_config(str(users / "project.yml"))
    config["KerasModel"] = model  # hls4ml 1.3's convert_from_config reads KerasModel only
    config.setdefault("Backend", "Vivado")  # and needs a Backend; older YAMLs had none (Vivado then)
    hls4ml.converters.convert_from_config(config).write()
    theirs = (tmp_path / "hls4ml_prj" / "firmware" / "defines.h").read_text()

    def typedefs(text):
        return {line.split()[-1].rstrip(";"): line.split()[1] for line in text.splitlines()
                if line.startswith("typedef")}

    ours, theirs = typedefs(ours), typedefs(theirs)
    for name in ("dense_weight_t", "dense_bias_t", "dense_accum_t", "layer2_t"):  # LayerName's one type
        assert ours[name] == theirs[name] == "ap_fixed<20,8,AP_RND,AP_SAT,0>", name
    assert ours["output_weight_t"] == theirs["Dense_weight_t"] == "ap_fixed<12,4>"  # LayerType Dense
    assert ours["output_bias_t"] != theirs["model_default_t"]  # silent in the YAML: hepfpga's type


@pytest.mark.csim
def test_keras_preprocessing_layers_convert(tmp_path, capsys):
    """A Normalization layer at the input (adapted on raw, unstandardised features: means up to 200, spreads
    up to 50) and a Rescaling in an image model: each converted as a batch normalization with the same scale
    and shift; the firmware agrees with the original Keras model (the one with the preprocessing layers) on
    data it was not calibrated on."""
    rng = np.random.default_rng(4)
    raw = (rng.standard_normal((3000, 16)) * np.linspace(1, 50, 16) + np.linspace(-20, 200, 16)).astype(np.float32)
    labels = (raw[:, 3] / 12 + raw[:, 10] / 35 > 7).astype(int)
    norm = L.Normalization(name="standardise")
    norm.adapt(raw)
    tf.keras.utils.set_random_seed(5)
    tagger = tf.keras.Sequential([L.Input(16), norm, L.Dense(16, activation="relu", name="d1"),
                                  L.Dense(2, activation="softmax", name="out")], name="normalised")
    tagger.compile("adam", "sparse_categorical_crossentropy")
    tagger.fit(raw[:2000], labels[:2000], epochs=5, verbose=0)
    tagger.save(tmp_path / "normalised.h5")
    np.save(tmp_path / "cal.npy", raw[:1000])
    np.save(tmp_path / "val.npy", raw[1000:])
    assert main(["convert", str(tmp_path / "normalised.h5"), "--calibration", str(tmp_path / "cal.npy"),
                 "--validation", str(tmp_path / "val.npy"), "--output", str(tmp_path / "prj"),
                 "--predictions-out", str(tmp_path / "fw.npy")]) == 0
    assert "standardise (Keras preprocessing, a scale and shift per feature) converted as batch normalization" \
        in capsys.readouterr().out
    report = json.loads((tmp_path / "prj" / "hepfpga" / "convert.json").read_text())
    assert "standardise" in [row["layer"] for row in report["layers"]]
    firmware = np.load(tmp_path / "fw.npy")
    keras = tagger.predict(raw[1000:], verbose=0)  # the original model, with its Normalization layer
    assert np.mean(firmware.argmax(1) == keras.argmax(1)) >= 0.99

    images = rng.integers(0, 256, (600, 8, 8, 1)).astype(np.float32)
    cnn = tf.keras.Sequential([L.Input((8, 8, 1)), L.Rescaling(1 / 255.0, offset=-0.5, name="scale"),
                               L.Conv2D(4, 3, activation="relu", name="conv"), L.Flatten(),
                               L.Dense(3, activation="softmax", name="out")], name="rescaled")
    cnn.save(tmp_path / "rescaled.h5")
    np.save(tmp_path / "images.npy", images)
    assert main(["convert", str(tmp_path / "rescaled.h5"), "--calibration", str(tmp_path / "images.npy"),
                 "--output", str(tmp_path / "cnn"), "--predictions-out", str(tmp_path / "cnn.npy")]) == 0
    keras = cnn.predict(images, verbose=0)
    assert np.mean(np.load(tmp_path / "cnn.npy").argmax(1) == keras.argmax(1)) >= 0.99


@pytest.mark.csim
def test_garnet_regression_from_its_hls4ml_yaml_and_testbench(tmp_path, capsys):
    """A GarNet energy regression (hits (128, 4) and their count) set up as hls4ml's GarNet example is: a
    project YAML with per-layer-type sections (GarNet, Dense) and its own testbench files (InputData,
    OutputPredictions). The firmware is within 1 % of the output range of Keras on those events."""
    import yaml
    from hls4ml.contrib.garnet import GarNet

    rng = np.random.default_rng(0)
    n = rng.integers(10, 129, (2500, 1)).astype(np.uint16)
    hits = rng.standard_normal((2500, 128, 4)).astype(np.float32)
    hits[..., 3] = rng.exponential(2.0, (2500, 128))
    hits[np.arange(128)[None, :] >= n] = 0
    energy = hits[..., 3].sum(1) / 50
    tf.keras.utils.set_random_seed(0)
    h_in, n_in = L.Input((128, 4), name="input_1"), L.Input((1,), dtype="uint16", name="input_2")
    h = GarNet(4, 8, 8, simplified=True, collapse="mean", input_format="xn", output_activation=None,
               name="gar_1")([h_in, n_in])
    h = L.Dense(8, activation="relu", name="dense_1")(L.Dense(16, activation="relu", name="dense")(h))
    model = tf.keras.Model([h_in, n_in], L.Dense(1, name="regression")(h))
    model.compile("adam", "mse")
    model.fit([hits[:2000], n[:2000]], energy[:2000], epochs=6, batch_size=64, verbose=0)
    model.save(tmp_path / "garnet.h5")
    tb = slice(2000, 2500)
    rows = np.concatenate([hits[tb].reshape(500, -1), n[tb].astype(np.float32)], 1)
    np.savetxt(tmp_path / "tb_input_features.dat", rows, fmt="%.6g")
    np.savetxt(tmp_path / "tb_output_predictions.dat", model.predict([hits[tb], n[tb]], verbose=0), fmt="%.7g")
    (tmp_path / "project.yml").write_text(yaml.safe_dump({
        "KerasH5": "garnet.h5", "Backend": "Vivado", "OutputDir": str(tmp_path / "prj"), "ProjectName": "myproject",
        "Part": "xcvu9p-flga2577-2-e", "ClockPeriod": 5, "IOType": "io_parallel",
        "InputData": "tb_input_features.dat", "OutputPredictions": "tb_output_predictions.dat",
        "HLSConfig": {
            "Model": {"Precision": "ap_fixed<16, 6>", "ReuseFactor": 1, "Strategy": "Resource"},
            "LayerType": {"GarNet": {"ReuseFactor": 16, "Precision": {"default": "ap_fixed<16, 6, AP_RND, AP_SAT>",
                                                                        "result": "ap_fixed<16, 6>"}},
                          "Dense": {"Precision": {"accum": "ap_fixed<18, 8>",
                                                  "result": "ap_fixed<16, 6, AP_RND, AP_SAT>"},
                                    "Strategy": "Latency"}},
            "LayerName": {"input_1": {"Precision": {"result": "ap_fixed<14, 5, AP_RND, AP_SAT>"}},
                          "input_2": {"Precision": {"result": "ap_uint<8>"}}}}}))
    assert main(["convert", "--hls4ml-config", str(tmp_path / "project.yml")]) == 0
    report = json.loads((tmp_path / "prj" / "hepfpga" / "convert.json").read_text())
    assert report["events"] == 500 and report["agreement"]["relative_max_abs_diff"] <= 0.01
    defines = (tmp_path / "prj" / "firmware" / "defines.h").read_text()
    assert "typedef ap_fixed<18,8> dense_accum_t;" in defines and "typedef ap_fixed<16,6> layer" in defines
    assert "reuse_factor = 16" in (tmp_path / "prj" / "firmware" / "parameters.h").read_text()


def test_hls4ml_project_yaml_errors(saved, tmp_path, capsys):
    base, _, _ = saved
    bad = tmp_path / "p.yml"
    for text, message in (("OutputDir: x\n", "names no model: give KerasModel"),
                          ("KerasH5: nowhere.h5\n", "KerasH5 'nowhere.h5' not found (looked in the current folder"),
                          ("KerasJson: a.json\n", "KerasJson needs KerasH5"),
                          ("OnnxModel: m.onnx\n", "hepfpga converts Keras/QKeras models only"),
                          (f"KerasH5: {base / 'tagger.h5'}\nClockPeriod: fast\n", "ClockPeriod must be a number")):
        bad.write_text(text)
        assert main(["convert", "--hls4ml-config", str(bad), "--output", str(tmp_path / "prj")]) == 2, text
        assert message in capsys.readouterr().err
    assert main(["convert", "--output", str(tmp_path / "prj")]) == 2
    assert "give the MODEL file, or --hls4ml-config" in capsys.readouterr().err
    assert not (tmp_path / "prj").exists()


def test_config_naming_unknown_layers_refused(saved, tmp_path, capsys):
    base, _, _ = saved
    cfg = tmp_path / "typo.yml"
    cfg.write_text("LayerName:\n  dens:\n    Precision:\n      result: fixed<4,2>\n")
    assert main(["convert", str(base / "tagger.h5"), "--calibration", str(base / "cal.npy"), "--output",
                 str(tmp_path / "prj"), "--config", str(cfg)]) == 2
    assert "names layer(s) dens that the model does not have; its layers: " in capsys.readouterr().err
    assert not (tmp_path / "prj").exists()


@pytest.mark.csim
def test_min_agreement_not_met_exits_3(saved, tmp_path, capsys):
    base, _, _ = saved
    # A deliberately starved configuration: every result 4 bits wide.
    cfg = tmp_path / "starved.yml"
    cfg.write_text("LayerName:\n  dense:\n    Precision:\n      result: fixed<4,2>\n")
    code = main(["convert", str(base / "tagger.h5"), "--calibration", str(base / "cal.npy"), "--output",
                 str(tmp_path / "prj"), "--config", str(cfg), "--min-agreement", "0.999"])
    text = capsys.readouterr().out
    assert code == 3  # a target missed (hepfpga.errors.EXIT_TARGET_MISSED)
    assert "First divergence: layer dense (fixed<4,2" in text and "overflow" in text


def _run(args, capsys):
    code = main(args)
    return code, capsys.readouterr().err


def test_no_calibration_refused(saved, tmp_path, capsys):
    base, _, _ = saved
    code, err = _run(["convert", str(base / "tagger.h5"), "--output", str(tmp_path / "p")], capsys)
    assert code == 2 and "--random-calibration" in err and not (tmp_path / "p").exists()


@pytest.mark.csim
def test_random_calibration_warns(saved, tmp_path, capsys):
    base, _, _ = saved
    code, err = _run(["convert", str(base / "tagger.h5"), "--random-calibration", "--output", str(tmp_path / "p")],
                     capsys)
    assert code == 0 and "GUESSES" in err


def test_unsupported_layers_listed(tmp_path, capsys):
    inp = L.Input((4, 8))
    att = L.MultiHeadAttention(num_heads=2, key_dim=4, name="attention")(inp, inp)
    out = L.Lambda(lambda t: t * 2, name="doubling")(L.Flatten()(att))
    tf.keras.Model(inp, out, name="bad").save(tmp_path / "bad.h5")
    np.save(tmp_path / "cal.npy", np.zeros((10, 4, 8), np.float32))
    code, err = _run(["convert", str(tmp_path / "bad.h5"), "--calibration", str(tmp_path / "cal.npy"),
                      "--output", str(tmp_path / "p")], capsys)
    assert code == 2
    assert "attention (MultiHeadAttention)" in err and "doubling (Lambda)" in err and "hls4ml 1.3.0 converts:" in err
    assert not (tmp_path / "p").exists()


def test_corrupt_and_truncated_models(saved, tmp_path, capsys):
    base, _, _ = saved
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"\x00garbage" * 50)
    cut = tmp_path / "cut.h5"
    cut.write_bytes((base / "tagger.h5").read_bytes()[:3000])
    for path in (junk, cut, tmp_path / "missing.h5"):
        code, err = _run(["convert", str(path), "--random-calibration", "--output", str(tmp_path / "p")], capsys)
        assert code == 2 and str(path) in err, err
    with pytest.raises(DataError, match="give the weights file"):
        load_model(base / "tagger.json")


def test_calibration_shape_and_nan(saved, tmp_path, capsys):
    base, _, _ = saved
    np.save(tmp_path / "wrong.npy", np.zeros((10, 15), np.float32))
    code, err = _run(["convert", str(base / "tagger.h5"), "--calibration", str(tmp_path / "wrong.npy"),
                      "--output", str(tmp_path / "p")], capsys)
    assert code == 2 and "(10, 15)" in err and "(N, 16)" in err
    bad = np.zeros((10, 16), np.float32)
    bad[4, 2] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    code, err = _run(["convert", str(base / "tagger.h5"), "--calibration", str(tmp_path / "nan.npy"),
                      "--output", str(tmp_path / "p")], capsys)
    assert code == 2 and "NaN/inf" in err and "[4, 2]" in err
    assert not (tmp_path / "p").exists()


def test_existing_output_needs_force(saved, tmp_path, capsys):
    base, _, _ = saved
    out = tmp_path / "p"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    code, err = _run(["convert", str(base / "tagger.h5"), "--calibration", str(base / "cal.npy"),
                      "--output", str(out)], capsys)
    assert code == 2 and "--force" in err and [p.name for p in out.iterdir()] == ["mine.txt"]


@pytest.mark.csim
def test_compiler_error_and_interrupt_leave_nothing(saved, tmp_path, capsys, monkeypatch):
    base, _, _ = saved
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "g++").write_text("#!/bin/sh\necho 'error: simulated compiler failure' >&2\nexit 1\n")
    (fake / "g++").chmod(0o755 | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    code, err = _run(["convert", str(base / "tagger.h5"), "--calibration", str(base / "cal.npy"),
                      "--output", str(tmp_path / "p")], capsys)
    assert code == 4 and "simulated compiler failure" in err and "Full log:" in err  # a tool failed
    assert not (tmp_path / "p").exists()
    assert not [p for p in tmp_path.iterdir() if "staging" in p.name]
    assert "simulated compiler failure" in (tmp_path / "p.failed.log").read_text()  # the build log is kept
    monkeypatch.undo()

    from hepfpga.csim import emulate

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(emulate, "run", interrupted)
    code, err = _run(["convert", str(base / "tagger.h5"), "--calibration", str(base / "cal.npy"),
                      "--output", str(tmp_path / "p")], capsys)
    assert code == 130 and "interrupted" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "p.failed.log"]


@pytest.mark.csim
@pytest.mark.parametrize("family, options", [
    ("transformer", dict(n_particles=8, n_features=3, d_model=8, heads=2, mlp=16)),
    ("gnn", dict(n_particles=8, n_features=3, k=3, blocks=(8,), edge_units=8, head=(8,))),
])
def test_convert_cli_saved_custom_layer_models(family, options, tmp_path, capsys):
    """A saved QKeras Transformer / gnn (hepfpga's custom layers, bit-exact forms) converts with no extra
    step: the custom layers load and register themselves; the logits match Keras exactly."""
    import json

    from hepfpga.models import build

    tf.keras.utils.set_random_seed(4)
    model = build(family, **options, quantized=True)
    model.save(tmp_path / "model.h5")
    x = np.random.default_rng(1).standard_normal((300, 8, 3)).astype(np.float32)
    np.save(tmp_path / "cal.npy", x)
    out = tmp_path / "prj"
    code = main(["convert", str(tmp_path / "model.h5"), "--calibration", str(tmp_path / "cal.npy"),
                 "--output", str(out)])
    assert code == 0, capsys.readouterr().out
    report = json.loads((out / "hepfpga/convert.json").read_text())
    assert report["passed"]
    assert report["pre_softmax"]["events"] == 300 and report["pre_softmax"]["mismatching_values"] == 0
