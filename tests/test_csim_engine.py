"""C-simulation engine: fast batched emulation, the HLS testbench with g++, vendor reports."""

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from hepfpga.cli import main
from hepfpga.csim.fast import BatchEmulator
from hepfpga.csim.testbench import as_printed, run_testbench
from hepfpga.errors import CompilerError, DataError
from hepfpga.synthesis import hls, reports

FIXTURES = Path(__file__).parent / "fixtures" / "vivado-hls-2020.1"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "vendor-reports" / "hls4ml-parsed-baselines"


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A small float model converted and compiled by hls4ml; returns (folder, hls4ml model, inputs)."""
    from hepfpga.convert import write_project

    tf.keras.utils.set_random_seed(2)
    L = tf.keras.layers
    model = tf.keras.Sequential([L.Input(10), L.Dense(12, activation="relu"), L.Dense(4, activation="softmax")],
                                name="small")
    x = np.random.default_rng(4).standard_normal((1500, 10)).astype(np.float32)
    folder = tmp_path_factory.mktemp("engine") / "prj"
    hls_model = write_project(model, folder)
    hls_model.compile()
    return folder, hls_model, x


@pytest.mark.csim
def test_fast_emulation_identical_to_hls4ml_predict(project):
    folder, linked, x = project
    fast = BatchEmulator(folder, log=lambda *a: None)
    for dtype in (np.float64, np.float32):
        xx = x.astype(dtype)
        reference = linked.predict(np.ascontiguousarray(xx))
        # Small blocks and more threads than cores exercise the work sharing.
        out = fast.predict(xx, jobs=3, block=7, progress=False)
        assert out.dtype == reference.dtype
        np.testing.assert_array_equal(out, reference)
    with pytest.raises(DataError, match=r"shape \(N, 10\), got \(3, 9\)"):
        fast.predict(np.zeros((3, 9)))
    with pytest.raises(DataError, match="NaN"):
        fast.predict(np.full((3, 10), np.nan))


@pytest.mark.csim
def test_engine_on_hls4ml_library_identical_to_predict(project, tmp_path):
    """`for_compiled` calls the firmware hls4ml loaded (no second build): io_parallel on threads;
    io_stream (static line buffers) and recurrent layers (static state) on one thread in event order."""
    from hepfpga.convert import write_project
    from hepfpga.csim.fast import predict_compiled

    _, linked, x = project
    np.testing.assert_array_equal(predict_compiled(linked, x), linked.predict(np.ascontiguousarray(x, np.float64)))
    L = tf.keras.layers
    cnn = tf.keras.Sequential([L.Input((8, 8, 1)), L.Conv2D(3, 3, padding="same", activation="relu"),
                               L.MaxPooling2D(2), L.Flatten(), L.Dense(4)], name="stream")
    images = np.random.default_rng(5).standard_normal((300, 8, 8, 1))
    stream = write_project(cnn, tmp_path / "stream", io_type="io_stream")
    stream.compile()
    reference = stream.predict(np.ascontiguousarray(images))
    np.testing.assert_array_equal(predict_compiled(stream, images).reshape(reference.shape), reference)
    assert not (tmp_path / "stream" / "hepfpga" / "batch_linked.so").exists()  # removed after use
    # hls4ml's recurrent layers keep their state in static arrays: one thread too.
    from hepfpga.models import build

    sequences = np.random.default_rng(6).standard_normal((400, 8, 3))
    gru = write_project(build("rnn", cell="gru", n_steps=8, n_features=3, units=8, dense=()), tmp_path / "gru")
    gru.compile()
    reference = gru.predict(np.ascontiguousarray(sequences))
    np.testing.assert_array_equal(predict_compiled(gru, sequences).reshape(reference.shape), reference)


@pytest.mark.csim
def test_testbench_agrees_with_emulation(project):
    folder, _, x = project
    fast = BatchEmulator(folder, log=lambda *a: None).predict(x[:200].astype(np.float64), progress=False)
    tb = run_testbench(folder, x[:200], log=lambda *a: None)
    assert tb.shape == fast.shape
    # The testbench prints 6 significant digits (C++ ostream default); at that precision: identical.
    np.testing.assert_array_equal(tb, as_printed(fast))
    assert np.abs(tb - fast).max() < 1e-5


def test_not_a_project(tmp_path):
    with pytest.raises(DataError, match="not an hls4ml project"):
        run_testbench(tmp_path, np.zeros((1, 2)))
    with pytest.raises(DataError, match="not an hls4ml project"):
        BatchEmulator(tmp_path)


@pytest.mark.csim
def test_testbench_compile_error(project, tmp_path, monkeypatch):
    folder, _, x = project
    fake = tmp_path / "g++"
    fake.write_text("#!/bin/sh\necho 'myproject_test.cpp:1: error: simulated' >&2\nexit 1\n")
    fake.chmod(0o755 | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(CompilerError, match="(?s)error: simulated.*Full log: .*testbench_build.log"):
        run_testbench(folder, x[:3], log=lambda *a: None)


@pytest.mark.csim
def test_csim_cli(project, tmp_path, capsys):
    folder, _, x = project
    np.save(tmp_path / "x.npy", x[:300])
    assert main(["csim", str(folder), "--data", str(tmp_path / "x.npy"), "--testbench", "--testbench-events", "50",
                 "--predictions-out", str(tmp_path / "fw.npy")]) == 0
    out = capsys.readouterr().out
    assert "testbench vs integer emulator: 0 values differ" in out
    report = json.loads((folder / "hepfpga" / "csim.json").read_text())
    assert report["engine"] == "emulate" and report["events"] == 300 and report["testbench"]["events"] == 50
    emulated = np.load(tmp_path / "fw.npy")
    assert emulated.shape == (300, 4)
    # The compiled C++ gives the same outputs, bit for bit; the testbench the same at the digits it prints.
    for engine in ("cxx", "testbench"):
        assert main(["csim", str(folder), "--data", str(tmp_path / "x.npy"), "--engine", engine,
                     "--predictions-out", str(tmp_path / f"{engine}.npy")]) == 0
        assert json.loads((folder / "hepfpga" / "csim.json").read_text())["engine"] == engine
    np.testing.assert_array_equal(np.load(tmp_path / "cxx.npy"), emulated)
    np.testing.assert_array_equal(np.load(tmp_path / "testbench.npy"), as_printed(emulated))
    with pytest.raises(SystemExit) as exited:
        main(["csim", str(folder), "--data", str(tmp_path / "x.npy"), "--engine", "verilator"])
    assert exited.value.code == 2 and "invalid choice: 'verilator'" in capsys.readouterr().err
    np.save(tmp_path / "bad.npy", x[:5, :9])
    assert main(["csim", str(folder), "--data", str(tmp_path / "bad.npy")]) == 2
    assert "(5, 9)" in capsys.readouterr().err
    assert main(["csim", str(tmp_path), "--data", str(tmp_path / "x.npy")]) == 2
    assert "not an hls4ml project" in capsys.readouterr().err


@pytest.mark.csim
def test_csim_falls_back_where_the_emulator_does_not_cover(tmp_path, capsys):
    """A GRU (not emulated): `hepfpga csim` says so in one line and runs the compiled firmware."""
    from hepfpga.convert import write_project
    from hepfpga.models import build

    model = build("rnn", cell="gru", n_steps=4, n_features=2, units=4, dense=())
    write_project(model, tmp_path / "gru")
    x = np.random.default_rng(0).standard_normal((20, 4, 2)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    main(["csim", str(tmp_path / "gru"), "--data", str(tmp_path / "x.npy")])
    out = capsys.readouterr().out
    assert "note: the emulator does not cover" in out and "nnet::gru" in out
    report = json.loads((tmp_path / "gru" / "hepfpga" / "csim.json").read_text())
    assert report["engine"] == "cxx" and report["agreement"]["events"] == 20


def _fixture_project(tmp_path: Path) -> Path:
    """The Vivado HLS 2020.1 reports laid out as a built hls4ml project."""
    prj = tmp_path / "prj"
    report = prj / "myproject_prj" / "solution1" / "syn" / "report"
    report.mkdir(parents=True)
    (prj / "project.tcl").write_text('set project_name "myproject"\nset backend "vivado"\n')
    shutil.copy(FIXTURES / "vivado_hls.app", prj / "myproject_prj")
    shutil.copy(FIXTURES / "myproject_csynth.xml", report)
    shutil.copy(FIXTURES / "myproject_csynth.rpt", report)
    shutil.copy(FIXTURES / "vivado_synth.rpt", prj)
    return prj


def test_vendor_reports_parsed(tmp_path):
    s = reports.read_reports(_fixture_project(tmp_path))
    # Numbers as the report files state them (myproject_csynth.rpt / vivado_synth.rpt).
    assert s["clock_ns"] == {"target": 5.0, "estimated": 4.049}
    assert s["latency_cycles"] == {"min": 10, "max": 10} and s["latency_ns"] == {"min": 50.0, "max": 50.0}
    assert s["interval_cycles"] == {"min": 8, "max": 8}
    assert s["resources"]["DSP"] == {"used": 73, "available": 220, "percent": pytest.approx(33.18, abs=0.01)}
    assert s["resources"]["LUT"]["used"] == 2532 and s["resources"]["FF"]["used"] == 7969
    assert s["resources"]["BRAM_18K"] == {"used": 0, "available": 280, "percent": 0.0}
    assert s["vivado_synth"]["LUT"] == 1526 and s["vivado_synth"]["FF"] == 2428


def test_vendor_report_missing(tmp_path):
    (tmp_path / "project.tcl").write_text('set project_name "myproject"\nset backend "vitis"\n')
    (tmp_path / "myproject_prj").mkdir()
    with pytest.raises(DataError, match="no C-synthesis report"):
        reports.read_reports(tmp_path)


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/fixtures (hls4ml-parsed baselines) not beside the clone")
def test_parsed_baselines_summarised():
    files = sorted(SHARED.glob("*.json"))
    assert files
    for f in files:
        parsed = json.loads(f.read_text())
        c = parsed["CSynthesisReport"]
        s = reports.summary(parsed)
        assert s["latency_ns"]["max"] == pytest.approx(int(c["WorstLatency"]) * float(c["TargetClockPeriod"]))
        for name, r in s["resources"].items():
            assert r["percent"] == pytest.approx(100 * int(c[name]) / int(c[f"Available{name}"]))


def test_build_without_vendor_tool(project, tmp_path, capsys, monkeypatch):
    folder, _, _ = project
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["build", str(folder), "--synth"]) == 2
    err = capsys.readouterr().err
    assert "vitis_hls or vitis-run was not found on PATH" in err and "hepfpga csim" in err


HAVE_VITIS = shutil.which("vitis_hls") is not None


@pytest.mark.vendor
@pytest.mark.skipif(not HAVE_VITIS, reason="Vitis HLS (vitis_hls) is not installed on this machine")
def test_vendor_synthesis(project):
    folder, _, _ = project
    s = hls.build(folder, csim=True, synth=True)
    assert s["latency_cycles"]["max"] >= 1 and s["resources"]


@pytest.mark.csim
def test_heavy_model_checked_on_fewer_events_traced_by_the_emulator(tmp_path, monkeypatch):
    """When a model's products exceed the C++ check's budget, the -O0 C++ build runs only the first few traced
    events; every traced event is traced by the emulator, whose layer values and outputs equal the C++ ones on
    the events both ran. Layer traces are what hls4ml's own -O3 trace gives."""
    from hepfpga.convert import write_project
    from hepfpga.convert.config import base_config
    from hepfpga.csim import emulate, verify
    from hepfpga.firmware import read_firmware

    tf.keras.utils.set_random_seed(2)
    L = tf.keras.layers
    model = tf.keras.Sequential([L.Input((20, 3)), L.Conv1D(4, 3, activation="relu", name="conv"), L.Flatten(),
                                 L.Dense(3, activation="softmax", name="out")], name="tiny_conv")
    x = np.random.default_rng(5).standard_normal((200, 20, 3)).astype(np.float32)
    config = base_config(model, trace_layers=["conv", "conv_relu", "out"])
    hls_model = write_project(model, tmp_path / "prj", config=config)
    per_event = verify.products_per_event(read_firmware(tmp_path / "prj"))
    assert per_event == 18 * (3 * 3 * 4 + 4) + (72 * 3 + 3)  # conv: 18 output positions x weights; dense
    monkeypatch.setattr(verify, "CHECK_PRODUCTS", per_event * 7)
    out, traces, info = verify.trace_and_run(hls_model, x, trace_events=50, log=lambda *a: None)
    assert info == {"engine": "emulate", "traced_events": 50, "checked_events": 7, "values_differing": 0}
    assert set(traces) == {"conv", "conv_relu", "out"} and all(len(v) == 50 for v in traces.values())
    _, reference = emulate.run(hls_model, x[:50], trace=True, log=lambda *a: None)  # hls4ml's -O3 build
    for name, values in reference.items():
        np.testing.assert_array_equal(traces[name].reshape(values.shape), values)
    np.testing.assert_array_equal(out, hls_model.predict(x).reshape(out.shape))


def test_long_compiles_show_progress(monkeypatch):
    """A compile that lasts beyond PROGRESS_AFTER shows a line with the elapsed time, again and again."""
    import time

    from hepfpga.csim import emulate

    monkeypatch.setattr(emulate, "PROGRESS_AFTER", 0.05)
    lines = []
    with emulate.compile_progress(lines.append, "compiling"):
        time.sleep(0.18)
    assert len(lines) >= 2 and all(line.startswith("  compiling ... ") and line.endswith(" s") for line in lines)
    lines.clear()
    with emulate.compile_progress(lines.append):
        pass
    assert lines == []
