"""Reports for people: metrics, tables, summaries and plots, on hand-made inputs with known answers."""

import numpy as np
import pytest

from hepfpga.report import metrics, plots, summaries, tables


def test_agreement_counts_every_difference():
    keras = np.array([[0.1, 0.9], [0.6, 0.4], [0.5, 0.5]])
    firmware = np.array([[0.1, 0.9], [0.4, 0.6], [0.5, 0.5 + 2**-10]])
    a = metrics.agreement(keras, firmware)
    assert a["events"] == 3 and a["mismatching_values"] == 3
    assert a["argmax_agreement"] == pytest.approx(1 / 3)  # event 1 flips, event 2 ties differently
    assert a["max_abs_diff"] == pytest.approx(0.2)
    with pytest.raises(ValueError, match="shapes differ"):
        metrics.agreement(keras, firmware[:2])


def test_accuracy_and_auc():
    y = np.array([0, 1, 1, 0])
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7]])
    assert metrics.accuracy(y, scores) == 0.5
    auc = metrics.roc_auc_per_class(y, scores, ["a", "b"])
    assert auc["b"] == pytest.approx(0.75) and auc["a"] == pytest.approx(0.75)
    tpr, fpr = metrics.roc_curves(y, scores, ["a", "b"])["b"]
    assert tpr[-1] == 1.0 and fpr[-1] == 1.0


def test_markdown_table():
    text = tables.markdown(["name", "value"], [["a", 1.0], ["long name", 22]])
    assert text.splitlines() == ["| name      | value  |", "|-----------|--------|", "| a         | 1.0000 |",
                                 "| long name | 22     |"]


def _convert_report(passed=True, first=None):
    agreement = {"events": 10, "argmax_agreement": 0.9, "mismatching_values": 4, "max_abs_diff": 0.5,
                 "mean_abs_diff": 0.01, "relative_max_abs_diff": 0.05}
    layer = {"layer": "dense", "type": "fixed<8,3>", "keras_max": 9.0, "max_abs_diff": 5.0, "relative": 0.55,
             "verdict": "overflow"}
    return {"agreement": agreement, "options": {"min_agreement": 0.99, "max_relative_error": 0.01},
            "pre_softmax": None, "passed": passed, "evaluated_on": "validation", "traced_events": 5,
            "layers": [layer], "first_divergence": first}


def test_convert_summary_names_the_failure():
    text = summaries.convert_summary(_convert_report(passed=False))
    assert "Firmware (C-sim) vs Keras on 10 validation events" in text
    assert "NO (max |Δ| > 1.0% of output range)" in text and "Layer by layer (first 5 events)" in text
    report = _convert_report(passed=False, first={"layer": "dense", "type": "fixed<8,3>", "verdict": "overflow"})
    assert "First divergence: layer dense (fixed<8,3>): its values exceed the type's range" in \
        summaries.convert_summary(report)


def test_csim_and_build_summaries():
    csim = {"engine": "emulate", "agreement": {"events": 100, "argmax_agreement": 1.0, "max_abs_diff": 0.0},
            "testbench": {"agreement_with_keras": {"events": 10, "argmax_agreement": 1.0, "max_abs_diff": 0.0},
                          "values_differing_from_engine": 0}, "events_per_s": 1234.4}
    text = summaries.csim_summary(csim)
    assert "integer emulator, all events" in text and "HLS testbench (g++)" in text
    assert "testbench vs integer emulator: 0 values differ" in text and "1234 events/s" in text
    fallback = dict(csim, engine="cxx", notice="the emulator does not cover gru (nnet::gru)")
    assert "note: the emulator does not cover gru" in summaries.csim_summary(fallback)
    assert "compiled C++ (g++), all events" in summaries.csim_summary(fallback)
    build = {"latency_cycles": {"min": 9, "max": 10}, "latency_ns": {"min": 45.0, "max": 50.0},
             "interval_cycles": {"min": 1, "max": 1}, "clock_ns": {"target": 5.0, "estimated": 4.2},
             "resources": {"DSP": {"used": 12, "available": 12288, "percent": 0.098}}}
    text = summaries.build_summary(build)
    assert "9-10 cycles" in text and "45.0-50.0 ns" in text and "0.10 % of 12288" in text


def test_plots_are_written(tmp_path):
    y = np.array([0, 1, 1, 0, 1])
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.3, 0.7], [0.1, 0.9]])
    curves = {"float": metrics.roc_curves(y, scores, ["a", "b"])}
    assert plots.roc_plot(curves, tmp_path / "roc.png", title="t").stat().st_size > 1000
    rows = [dict(layer="d", result="fixed<8,3>", max=3.0, rms=1.0, integer=3, fraction=5)]
    assert plots.precision_profile(rows, tmp_path / "p.png").stat().st_size > 1000
