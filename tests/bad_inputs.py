"""Bad inputs and faults of every command, as one table.

`tests/test_bad_inputs.py` runs each case through `hepfpga.cli.main` in the test process;
`tools/bad_inputs_sweep.py` runs each as a real `hepfpga` process. A case passes when the command exits with
its code, prints its message, prints no traceback, and leaves every file of the workspace as it was.

Placeholders in a case's arguments: {ws} the case's workspace, {model} a small trained float model (.h5),
{cal} calibration inputs (.npy, 600 x 16), {prj} a converted project of {model}, {bad} the file the case's
setup wrote.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

CONVERT = ["convert", "{model}", "--calibration", "{cal}", "--output", "{ws}/out"]


@dataclass
class Case:
    """One bad input: the command's arguments, the exit code and a regex of the message it must give."""

    id: str
    argv: list
    code: int
    message: str
    setup: str | None = None  # name of a function in SETUPS that writes {bad} (and may change the workspace)
    env: dict = field(default_factory=dict)


def _c(id, argv, message, setup=None, code=2, env=None):
    return Case(id, argv, code, message, setup, env or {})


def _write(text: str | bytes, suffix: str):
    def make(ws: Path) -> Path:
        path = ws / f"bad{suffix}"
        (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
        return path
    return make


def _array(values, suffix=".npy"):
    def make(ws: Path) -> Path:
        path = ws / f"bad{suffix}"
        if suffix == ".npz":
            np.savez(path, **values)
        else:
            np.save(path, values, allow_pickle=True)
        return path
    return make


def _nan(ws: Path) -> Path:
    x = np.load(ws / "cal.npy")
    x[4, 2] = np.nan
    np.save(ws / "bad.npy", x)
    return ws / "bad.npy"


def _inf(ws: Path) -> Path:
    x = np.load(ws / "cal.npy")
    x[0, 0] = np.inf
    np.save(ws / "bad.npy", x)
    return ws / "bad.npy"


def _truncated(name: str):
    def make(ws: Path) -> Path:
        data = (ws / name).read_bytes()
        path = ws / f"bad{Path(name).suffix}"
        path.write_bytes(data[: len(data) // 2])
        return path
    return make


def _root(kind: str):
    def make(ws: Path) -> Path:
        import uproot

        path = ws / "bad.root"
        with uproot.recreate(path) as f:
            if kind == "jagged":
                import awkward as ak

                f["jets"] = {"a": ak.Array([[1.0, 2.0], [3.0]])}
            else:
                f["jets"] = {"a": np.arange(10.0), "b": np.arange(10.0)}
        return path
    return make


def _model_with(layer: str):
    def make(ws: Path) -> Path:
        import tensorflow as tf

        L = tf.keras.layers
        if layer == "lambda":
            model = tf.keras.Sequential([L.Input(16), L.Dense(4), L.Lambda(lambda t: t * 2), L.Dense(5)])
            path = ws / "bad.h5"
        elif layer == "lambda_keras":  # Keras refuses to load it (safe mode)
            model = tf.keras.Sequential([L.Input(16), L.Dense(4), L.Lambda(lambda t: t * 2), L.Dense(5)])
            path = ws / "bad.keras"
        elif layer == "nested":
            inner = tf.keras.Sequential([L.Input(16), L.Dense(4), L.Lambda(lambda t: t * 2)], name="inner")
            x = L.Input(16)
            model = tf.keras.Model(x, L.Dense(5)(inner(x)))
            path = ws / "bad.h5"
        else:  # two inputs
            a, b = L.Input(16), L.Input(4)
            model = tf.keras.Model([a, b], L.Dense(5)(L.Concatenate()([a, b])))
            path = ws / "bad.h5"
        model.save(path)
        return path
    return make


def _folder(ws: Path) -> Path:
    (ws / "bad").mkdir()
    (ws / "bad" / "mine.txt").write_text("user work")
    return ws / "bad"


def _file_parent(ws: Path) -> Path:
    (ws / "bad").write_text("a file")
    return ws / "bad"


def _read_only(ws: Path) -> Path:
    """A folder no one may write into: read-only permissions, and immutable for root (who ignores them)."""
    (ws / "bad").mkdir()
    os.chmod(ws / "bad", stat.S_IRUSR | stat.S_IXUSR)
    if os.geteuid() == 0 and shutil.which("chattr"):
        import subprocess

        subprocess.run(["chattr", "+i", str(ws / "bad")], check=False, capture_output=True)
    return ws / "bad"


def release(ws: Path) -> None:
    """Undo what a setup did to make folders unwritable, so the workspace can be removed."""
    if os.geteuid() == 0 and shutil.which("chattr") and (ws / "bad").is_dir():
        import subprocess

        subprocess.run(["chattr", "-i", str(ws / "bad")], check=False, capture_output=True)
    if (ws / "bad").is_dir():
        os.chmod(ws / "bad", stat.S_IRWXU)


def _project_copy(change: str):
    def make(ws: Path) -> Path:
        path = ws / "bad"
        shutil.copytree(ws / "prj", path)
        if change == "yaml":
            (path / "hls4ml_config.yml").write_text("ProjectName: [unclosed\n  : :\n")
        elif change == "yaml_keys":
            (path / "hls4ml_config.yml").write_text("Backend: Vitis\n")
        elif change == "no_model":
            for p in (path / "hepfpga" / "model.h5", path / "keras_model.keras"):
                p.unlink(missing_ok=True)
        elif change == "no_cpp":
            (path / "firmware" / "myproject.cpp").unlink()
        elif change == "no_weights":
            for p in (path / "firmware" / "weights").glob("w2.*"):
                p.unlink()
        elif change == "empty_parameters":
            (path / "firmware" / "parameters.h").write_text("")
        elif change == "no_calls":
            (path / "firmware" / "myproject.cpp").write_text("void myproject() {}\n")
        return path
    return make


def _keras3_untranslatable(ws: Path) -> Path:
    """A Keras 3 .keras file (the tests' fixture) whose layer Keras 2 has no form for."""
    import zipfile

    source = Path(__file__).parent / "fixtures" / "keras3" / "k3_sequential.keras"
    bad = ws / "keras3.keras"
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            dst.writestr(item, data.replace(b'"Dense"', b'"EinsumDense"', 1) if item == "config.json" else data)
    return bad


def _edited_project(ws: Path) -> Path:
    """The shared project with a hand edit in its firmware (a user's work a rerun must not replace)."""
    parameters = ws / "prj" / "firmware" / "parameters.h"
    parameters.write_text(parameters.read_text() + "// tuned by hand\n")
    return parameters


def _scaler(kind: str):
    def make(ws: Path) -> Path:
        path = ws / "bad.json"
        path.write_text("{not json" if kind == "corrupt" else '{"features": ["a"], "mean": [0], "scale": [1]}')
        return path
    return make


SETUPS = {
    "empty": _write(b"", ".h5"), "garbage_h5": _write(b"\x89HDF\r\n garbage " * 20, ".h5"),
    "garbage_keras": _write(b"PK\x03\x04 not a zip", ".keras"), "truncated_h5": _truncated("model.h5"),
    "json_only": _write('{"class_name": "Sequential"}', ".json"), "text_npy": _write("1,2,3\n", ".npy"),
    "empty_npy": _write(b"", ".npy"), "truncated_npy": _truncated("cal.npy"),
    "shape15": _array(np.zeros((50, 15), np.float32)), "flat": _array(np.zeros(50, np.float32)),
    "strings": _array(np.array([["a"] * 16] * 5)), "objects": _array(np.array([[1, "a"]] * 5, dtype=object)),
    "no_events": _array(np.zeros((0, 16), np.float32)), "nan": _nan, "inf": _inf,
    "npz_many": _array({"a": np.zeros((5, 16)), "b": np.zeros((5, 16))}, ".npz"),
    "txt": _write("1 2 3\n", ".txt"), "root_plain": _root("plain"), "root_jagged": _root("jagged"),
    "root_garbage": _write(b"root\x00garbage" * 50, ".root"), "truncated_root": _truncated("jets.root"),
    "yaml_bad": _write("LayerName: [unclosed\n  : :", ".yml"),
    "yaml_list": _write("- a\n- b\n", ".yml"),
    "yaml_banana": _write("LayerName:\n  dense:\n    Precision:\n      result: banana\n", ".yml"),
    "yaml_layer": _write("LayerName:\n  dens:\n    Precision:\n      result: fixed<8,3>\n", ".yml"),
    "yaml_rf": _write("Model:\n  ReuseFactor: -1\n", ".yml"),
    "yaml_strategy": _write("Model:\n  Strategy: Fast\n", ".yml"),
    "yaml_table": _write("LayerName:\n  output:\n    TableSize: 1000\n", ".yml"),
    "yaml_scalar_layers": _write("LayerName: 5\n", ".yml"),
    "yaml_binary": _write(b"\xff\xfe\x00\x01" * 10, ".yml"),
    "lambda": _model_with("lambda"), "lambda_keras": _model_with("lambda_keras"), "nested": _model_with("nested"),
    "two_inputs": _model_with("two"),
    "folder": _folder, "file_parent": _file_parent, "read_only": _read_only,
    "prj_yaml": _project_copy("yaml"), "prj_yaml_keys": _project_copy("yaml_keys"),
    "prj_no_model": _project_copy("no_model"), "prj_no_cpp": _project_copy("no_cpp"),
    "prj_no_weights": _project_copy("no_weights"), "prj_empty_parameters": _project_copy("empty_parameters"),
    "prj_no_calls": _project_copy("no_calls"), "prj_edited": _edited_project, "keras3_bad": _keras3_untranslatable,
    "scaler_corrupt": _scaler("corrupt"),
    "scaler_one": _scaler("one"),
    "existing_npy": _array(np.zeros((3, 5), np.float32)),
    "space_sparsity": _write("base: {sparsity: 1.2}\n", ".yaml"),
    "space_bits": _write("grids:\n  - {weight_bits: [4, 0]}\n", ".yaml"),
    "space_empty_grid": _write("grids:\n  - {sparsity: []}\n", ".yaml"),
    "space_unknown": _write("base: {bits: 6}\n", ".yaml"),
    "space_reuse": _write("base: {reuse_factor: 4}\n", ".yaml"),
    "space_yaml": _write("base: {sparsity: [0.5\n", ".yaml"),
    "space_list": _write("- 1\n- 2\n", ".yaml"),
}

LONG = "x" * 245
CASES = [
    # --- convert: options (checked before any work) --------------------------------------------------
    *[_c(f"convert {flag} {value}", [*CONVERT, flag, value], message) for flag, value, message in [
        ("--reuse-factor", "-4", r"--reuse-factor .* >= 1"), ("--reuse-factor", "0", r"--reuse-factor .* >= 1"),
        ("--target-error", "0", r"--target-error .* > 0"), ("--target-error", "-1", r"--target-error .* > 0"),
        ("--headroom-bits", "-50", r"--headroom-bits .* >= 0"), ("--clock-period", "0", r"--clock-period .* > 0"),
        ("--clock-period", "-5", r"--clock-period"), ("--clock-period", "nan", r"finite number"),
        ("--clock-period", "inf", r"finite number"), ("--min-agreement", "2", r"--min-agreement .* <= 1"),
        ("--min-agreement", "-0.1", r"--min-agreement .* >= 0"), ("--part", "notapart", r"Xilinx part"),
        ("--part", "xc7z020;rm", r"Xilinx part"), ("--max-events", "0", r"--max-events .* >= 1"),
        ("--trace-events", "0", r"--trace-events .* >= 1"), ("--table-size", "1000", r"power of two"),
        ("--table-size", "1", r"--table-size .* >= 2"), ("--max-relative-error", "2", r"<= 1"),
        ("--io-type", "io_serial", r"invalid choice"), ("--backend", "Quartus", r"invalid choice"),
        ("--strategy", "Fast", r"invalid choice"), ("--reuse-factor", "abc", r"invalid int"),
        ("--headroom-bits", "1.5", r"invalid int"), ("--target-error", "x", r"invalid float"),
    ]],
    _c("convert over its own build edited since", ["convert", "{model}", "--calibration", "{cal}", "--output", "{prj}"],
       r"files were changed since it was written: firmware/parameters.h", "prj_edited"),
    _c("convert both calibrations", [*CONVERT, "--random-calibration"], r"exclude each other"),
    _c("convert no calibration", ["convert", "{model}", "--output", "{ws}/out"], r"--random-calibration"),
    _c("convert unknown option", [*CONVERT, "--reuse", "2"], r"unrecognized arguments|ambiguous"),
    _c("no command", [], r"required: command|the following arguments are required"),
    _c("unknown command", ["synthesise"], r"invalid choice"),
    # --- convert: model files ------------------------------------------------------------------------
    _c("model missing", ["convert", "{ws}/nope.h5", "--calibration", "{cal}", "--output", "{ws}/out"],
       r"model file not found"),
    *[_c(f"model {s}", ["convert", "{bad}", "--calibration", "{cal}", "--output", "{ws}/out"], msg, s)
      for s, msg in [("empty", r"cannot load a Keras model"), ("garbage_h5", r"cannot load a Keras model"),
                     ("garbage_keras", r"cannot load a Keras model"), ("truncated_h5", r"cannot load a Keras model"),
                     ("json_only", r"give the weights file too"), ("lambda", r"(?s)cannot convert 1 layer.*Lambda"),
                     ("lambda_keras", r"holds a Lambda layer"),
                     ("nested", r"inner/lambda\w* \(Lambda\)"), ("two_inputs", r"has 2 inputs"),
                     ("folder", r"cannot load a Keras model"), ("root_plain", r"cannot load a Keras model")]],
    _c("json with missing weights", ["convert", "{bad}", "--weights", "{ws}/nope.h5", "--calibration", "{cal}",
                                     "--output", "{ws}/out"], r"cannot load|not found", "json_only"),
    # --- convert: data files -------------------------------------------------------------------------
    _c("calibration missing", ["convert", "{model}", "--calibration", "{ws}/nope.npy", "--output", "{ws}/out"],
       r"data file not found"),
    *[_c(f"calibration {s}", ["convert", "{model}", "--calibration", "{bad}", "--output", "{ws}/out"], msg, s)
      for s, msg in [("empty_npy", r"cannot read .* as a NumPy file"), ("truncated_npy", r"NumPy file"),
                     ("text_npy", r"NumPy file"), ("shape15", r"shape \(50, 15\).*expects \(N, 16\)"),
                     ("flat", r"expects \(N, 16\)"), ("strings", r"not numeric"), ("objects", r"NumPy file"),
                     ("no_events", r"holds no events"), ("nan", r"1 NaN/inf values \(first at index \[4, 2\]\)"),
                     ("inf", r"NaN/inf"), ("npz_many", r"holds arrays .*--key"), ("txt", r"use .npy, .npz or .root"),
                     ("folder", r"is a folder")]],
    *[_c(f"calibration {s}", ["convert", "{model}", "--calibration", "{bad}", "--tree", "jets", "--branches",
                              "j_mass_mmdt", "--output", "{ws}/out"], msg, s)
      for s, msg in [("root_garbage", r"cannot read .* as a ROOT file"), ("truncated_root", r"ROOT file|truncated")]],
    _c("npz key missing", [*CONVERT[:3], "{bad}", "--key", "x", *CONVERT[4:]], r"holds arrays", "npz_many"),
    _c("root without tree", ["convert", "{model}", "--calibration", "{ws}/jets.root", "--output", "{ws}/out"],
       r"give the tree and the feature branches"),
    _c("root wrong tree", ["convert", "{model}", "--calibration", "{ws}/jets.root", "--tree", "nope", "--branches",
                           "a", "--output", "{ws}/out"], r"has no tree 'nope'; trees in the file: jets"),
    _c("root missing branch", ["convert", "{model}", "--calibration", "{ws}/jets.root", "--tree", "jets",
                               "--branches", "j_mass_mmdt,nope", "--output", "{ws}/out"], r"has no branch 'nope'"),
    _c("root branch count", ["convert", "{model}", "--calibration", "{bad}", "--tree", "jets", "--branches", "a,b",
                             "--output", "{ws}/out"], r"expects \(N, 16\)", "root_plain"),
    _c("root jagged", ["convert", "{model}", "--calibration", "{bad}", "--tree", "jets", "--branches", "a",
                       "--output", "{ws}/out"], r"jagged", "root_jagged"),
    _c("scaler missing", [*CONVERT, "--scaler", "{ws}/nope.json"], r"cannot read scaler file"),
    _c("scaler corrupt", [*CONVERT, "--scaler", "{bad}"], r"cannot read scaler file", "scaler_corrupt"),
    _c("scaler features", [*CONVERT, "--scaler", "{bad}"], r"scaler expects 1 features", "scaler_one"),
    _c("validation shape", [*CONVERT, "--validation", "{bad}"], r"expects \(N, 16\)", "shape15"),
    _c("validation nan", [*CONVERT, "--validation", "{bad}"], r"NaN/inf", "nan"),
    # --- convert: configuration ----------------------------------------------------------------------
    _c("config missing", [*CONVERT, "--config", "{ws}/nope.yml"], r"cannot read the --config YAML"),
    *[_c(f"config {s}", [*CONVERT, "--config", "{bad}"], msg, s)
      for s, msg in [("yaml_bad", r"cannot read the --config YAML"), ("yaml_list", r"not an hls4ml configuration"),
                     ("yaml_banana", r"Precision result is 'banana'"), ("yaml_layer", r"names layer\(s\) dens"),
                     ("yaml_rf", r"ReuseFactor must be a positive integer"), ("yaml_strategy", r"Strategy must be"),
                     ("yaml_table", r"TableSize must be a power of two"), ("yaml_scalar_layers", r"LayerName must map"),
                     ("yaml_binary", r"cannot read the --config YAML|not an hls4ml configuration")]],
    # --- convert: outputs ----------------------------------------------------------------------------
    _c("output . --force", [*CONVERT[:4], "--output", ".", "--force"], r"current folder or one of its ancestors"),
    _c("output .. --force", [*CONVERT[:4], "--output", "..", "--force"], r"current folder or one of its ancestors"),
    _c("output / --force", [*CONVERT[:4], "--output", "/", "--force"], r"current folder or one of its ancestors"),
    _c("output holds the model", [*CONVERT[:4], "--output", "{ws}", "--force"], r"ancestors|holds the input"),
    _c("output existing folder", [*CONVERT[:4], "--output", "{bad}"], r"already exists .* --force", "folder"),
    _c("output parent is a file", [*CONVERT[:4], "--output", "{bad}/out"], r"is a file", "file_parent"),
    _c("output is a file", [*CONVERT[:4], "--output", "{bad}"], r"is a file", "file_parent"),
    _c("output backslash", [*CONVERT[:4], "--output", "{ws}/a\\b"], r"contains '\\\\'"),
    _c("output quote", [*CONVERT[:4], "--output", '{ws}/a"b'], r"contains '\"'"),
    _c("output dollar", [*CONVERT[:4], "--output", "{ws}/a$HOME"], r"contains '\$'"),
    _c("output long name", [*CONVERT[:4], "--output", f"{{ws}}/{LONG}"], r"characters long"),
    _c("output read-only", [*CONVERT[:4], "--output", "{bad}/out"], r"not writable", "read_only"),
    _c("output /proc", [*CONVERT[:4], "--output", "/proc/hepfpga-out"], r"not writable|cannot create"),
    _c("predictions-out is the calibration", [*CONVERT, "--predictions-out", "{cal}", "--force"],
       r"is one of this run's inputs"),
    _c("predictions-out exists", [*CONVERT, "--predictions-out", "{bad}"], r"already exists; pass --force",
       "existing_npy"),
    _c("predictions-out folder missing", [*CONVERT, "--predictions-out", "{ws}/no/where.npy"], r"does not exist"),
    _c("predictions-out is a folder", [*CONVERT, "--predictions-out", "{bad}"], r"is a folder", "folder"),
    _c("convert without compiler", CONVERT, r"g\+\+ was not found", env={"PATH": "{ws}/empty"}),
    # --- csim ----------------------------------------------------------------------------------------
    _c("csim project missing", ["csim", "{ws}/nope", "--data", "{cal}"], r"not an hls4ml project"),
    _c("csim not a project", ["csim", "{bad}", "--data", "{cal}"], r"not an hls4ml project", "folder"),
    *[_c(f"csim {s}", ["csim", "{bad}", "--data", "{cal}"], msg, s)
      for s, msg in [("prj_yaml", r"not valid YAML"), ("prj_yaml_keys", r"lacks ProjectName"),
                     ("prj_no_model", r"holds no Keras model"),
                     ("prj_no_cpp", r"not an hls4ml project: firmware/<project>.cpp missing")]],
    _c("csim cxx engine prj_no_cpp", ["csim", "{bad}", "--data", "{cal}", "--engine", "cxx"],
       r"lacks firmware/myproject.cpp", "prj_no_cpp"),
    _c("csim engine unknown", ["csim", "{prj}", "--data", "{cal}", "--engine", "vivado"], r"invalid choice: 'vivado'"),
    _c("csim data missing", ["csim", "{prj}", "--data", "{ws}/nope.npy"], r"data file not found"),
    _c("csim data shape", ["csim", "{prj}", "--data", "{bad}"], r"expects \(N, 16\)", "shape15"),
    _c("csim data nan", ["csim", "{prj}", "--data", "{bad}"], r"NaN/inf", "nan"),
    _c("csim data empty", ["csim", "{prj}", "--data", "{bad}"], r"no events", "no_events"),
    *[_c(f"csim {flag} {value}", ["csim", "{prj}", "--data", "{cal}", flag, value], msg)
      for flag, value, msg in [("--jobs", "0", r"--jobs .* >= 1"), ("--jobs", "-3", r"--jobs .* >= 1"),
                               ("--testbench-events", "0", r">= 1"), ("--min-agreement", "1.5", r"<= 1"),
                               ("--jobs", "two", r"invalid int")]],
    _c("csim predictions-out is the data", ["csim", "{prj}", "--data", "{cal}", "--predictions-out", "{cal}",
                                            "--force"], r"is one of this run's inputs"),
    _c("csim predictions-out exists", ["csim", "{prj}", "--data", "{cal}", "--predictions-out", "{bad}"],
       r"already exists", "existing_npy"),
    _c("csim missing data option", ["csim", "{prj}"], r"--data"),
    # --- build ---------------------------------------------------------------------------------------
    _c("build without vendor tool", ["build", "{prj}", "--synth"], r"vitis_hls.* was not found on PATH"),
    _c("build project missing", ["build", "{ws}/nope", "--synth"], r"not an hls4ml project"),
    _c("build hls-tool missing", ["build", "{prj}", "--synth", "--hls-tool", "{ws}/nope"], r"no such executable"),
    _c("build firmware deleted", ["build", "{bad}", "--synth", "--hls-tool", "/bin/true"], r"lacks .*firmware",
       "prj_no_cpp"),
    _c("build corrupt yaml", ["build", "{bad}", "--synth"], r"not valid YAML", "prj_yaml"),
    # --- estimate ------------------------------------------------------------------------------------
    _c("estimate folder missing", ["estimate", "{ws}/nope"], r"is not a folder"),
    _c("estimate not a project", ["estimate", "{bad}"], r"is not an hls4ml project", "folder"),
    _c("estimate missing weights", ["estimate", "{bad}"], r"the weights w2 are missing", "prj_no_weights"),
    _c("estimate unknown part", ["estimate", "{prj}", "--part", "xc9banana"], r"not in hepfpga's part table"),
    # --- rtl ---------------------------------------------------------------------------------------------
    _c("rtl not a project", ["rtl", "{ws}/empty"], r"not an hls4ml project"),
    _c("rtl no events", ["rtl", "{prj}", "--events", "0"], r"--events must be >= 1"),
    _c("rtl latency cutoff", ["rtl", "{prj}", "--latency-cutoff", "-1"], r"--latency-cutoff must be > 0"),
    _c("rtl data shape", ["rtl", "{prj}", "--data", "{bad}"], r"expects \(N, 16\)", "shape15"),
    _c("rtl data nan", ["rtl", "{prj}", "--data", "{bad}"], r"NaN/inf", "nan"),
    _c("rtl output is a file", ["rtl", "{prj}", "--output", "{cal}"], r"is a file"),
    _c("model written by keras 3 untranslatable", ["convert", "{bad}", "--calibration", "{cal}", "--output",
                                                    "{ws}/out"], r"written by Keras 3\.15\.1.*tf_keras", "keras3_bad"),
    _c("estimate no calls", ["estimate", "{bad}"], r"calls no nnet:: layer functions", "prj_no_calls"),
    _c("estimate no firmware cpp", ["estimate", "{bad}"], r"not an hls4ml project", "prj_no_cpp"),
    # --- scan ----------------------------------------------------------------------------------------
    *[_c(f"scan {setup}", ["scan", "--space", "{bad}", "--output", "{ws}/scan"], msg, setup)
      for setup, msg in [("space_sparsity", r"sparsity must be in \[0, 1\)"),
                         ("space_bits", r"weight_bits \(each\) must be an integer in \[2, 16\], got 0"),
                         ("space_empty_grid", r"grid 1: sparsity must be a non-empty list"),
                         ("space_unknown", r"unknown design-space field\(s\) bits"),
                         ("space_reuse", r"needs strategy Resource"), ("space_yaml", r"not valid YAML"),
                         ("space_list", r"a design space is a mapping")]],
    _c("scan space missing", ["scan", "--space", "{ws}/nope.yaml", "--output", "{ws}/scan"], r"not found"),
    _c("scan foreign folder", ["scan", "--output", "{bad}", "--events", "1000"], r"is not a scan folder", "folder"),
    _c("scan unreachable scheduler", ["scan", "--output", "{ws}/scan", "--scheduler", "tcp://127.0.0.1:9"],
       r"cannot reach the Dask scheduler at tcp://127.0.0.1:9"),
    _c("scan data missing", ["scan", "--output", "{ws}/scan", "--data", "{ws}/nope.root"], r"data file not found"),
    *[_c(f"scan {flag} {value}", ["scan", "--output", "{ws}/scan", flag, value], msg)
      for flag, value, msg in [("--workers", "0", r"--workers .* >= 1"), ("--events", "10", r"--events .* >= 1000"),
                               ("--max-lut", "-5", r"--max-lut .* >= 0"), ("--qat-epochs", "0", r">= 1"),
                               ("--accuracy-tolerance", "200", r"<= 100"), ("--part", "notapart", r"Xilinx part"),
                               ("--max-latency-ns", "fast", r"invalid float")]],
    # --- demo ----------------------------------------------------------------------------------------
    _c("demo existing folder", ["demo", "--output", "{bad}", "--events", "1000"], r"already exists", "folder"),
    _c("demo output .", ["demo", "--output", ".", "--force", "--events", "1000"], r"current folder"),
    *[_c(f"demo {flag} {value}", ["demo", "--output", "{ws}/demo", flag, value], msg)
      for flag, value, msg in [("--events", "0", r"at least 1000"), ("--events", "-5", r"at least 1000"),
                               ("--epochs", "0", r"--epochs .* >= 1"), ("--target-sparsity", "1.5", r"<= 0.99"),
                               ("--weight-bits", "0", r">= 2"), ("--hidden", "0", r"non-empty list"),
                               ("--hidden", "abc", r"invalid list of int"), ("--batch-size", "0", r">= 1"),
                               ("--clock-period", "0", r"> 0"), ("--part", "notapart", r"Xilinx part"),
                               ("--reuse-factor", "-1", r">= 1"), ("--seed", "x", r"invalid int")]],
    _c("demo without compiler", ["demo", "--output", "{ws}/demo", "--events", "1000"], r"g\+\+ was not found",
       env={"PATH": "{ws}/empty"}),
]
assert len({c.id for c in CASES}) == len(CASES), "case ids must be unique"


def make_workspace(ws: Path, shared: Path) -> None:
    """Copy the shared inputs (model, calibration, ROOT file, converted project) into a case's workspace."""
    ws.mkdir(parents=True, exist_ok=True)
    for name in ("model.h5", "cal.npy", "jets.root"):
        shutil.copy(shared / name, ws / name)
    shutil.copytree(shared / "prj", ws / "prj")
    (ws / "empty").mkdir()


def make_shared(base: Path) -> Path:
    """The inputs every case starts from: a small trained float model, 600 calibration events, a ROOT file of
    jets and the model's converted project. Returns the folder."""
    import tensorflow as tf

    from hepfpga.convert import convert_model
    from hepfpga.data import write_jets_root

    base.mkdir(parents=True, exist_ok=True)
    tf.keras.utils.set_random_seed(3)
    L = tf.keras.layers
    model = tf.keras.Sequential([L.Input(16), L.Dense(8, activation="relu", name="dense"),
                                 L.Dense(5, activation="softmax", name="output")], name="tagger")
    model.save(base / "model.h5")
    x = np.random.default_rng(0).standard_normal((600, 16)).astype(np.float32)
    np.save(base / "cal.npy", x)
    write_jets_root(base / "jets.root", 500)
    convert_model(model, base / "prj", x, log=lambda *a: None)
    return base


def fill(argv: list, ws: Path, bad: Path | None) -> list[str]:
    """The case's arguments with the placeholders filled in."""
    values = {"ws": str(ws), "model": str(ws / "model.h5"), "cal": str(ws / "cal.npy"), "prj": str(ws / "prj"),
              "bad": str(bad) if bad else ""}
    return [a.format(**values) for a in argv]


def snapshot(ws: Path) -> dict[str, str]:
    """Every file under `ws` with its SHA-256 (folders as entries too)."""
    out = {}
    for path in sorted(ws.rglob("*")):
        rel = str(path.relative_to(ws))
        if path.is_dir():
            out[rel] = "folder"
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out
