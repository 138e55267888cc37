"""Design scans: the space, structured compression, distillation, the Pareto front, and a small scan on a
local Dask cluster that is resumed and rerun."""

import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

from hepfpga.compress.structured import aggregate_neurons, remove_neurons
from hepfpga.errors import ConfigError, DataError
from hepfpga.models import build
from hepfpga.scan.options import ScanOptions
from hepfpga.scan.results import pareto, recommend
from hepfpga.scan.run import run_and_store, scan
from hepfpga.scan.space import DEFAULT_SPACE, Point, expand, make_point, read_space

# --- the space ----------------------------------------------------------------------------------------------


def test_space_expands_grids_over_the_base_without_repeats():
    points = expand({"base": {"hidden": [16, 8], "sparsity": 0.5},
                     "grids": [{"weight_bits": [4, 6]}, {"weight_bits": [6], "sparsity": [0.5]},
                               {"hidden": [[8, 8]], "training": ["alone", "distilled"]}]})
    assert [(p.weight_bits, p.hidden, p.training) for p in points] == [
        (4, (16, 8), "alone"), (6, (16, 8), "alone"), (6, (8, 8), "alone"), (6, (8, 8), "distilled")]
    assert len({p.key() for p in points}) == 4 and all(p.sparsity == 0.5 for p in points)
    assert len(expand(DEFAULT_SPACE)) == 32 and Point() in expand(DEFAULT_SPACE)  # the demo's design is a point
    assert sorted(p.beta for p in expand(DEFAULT_SPACE) if p.method == "hgq") == [1e-6, 3e-6, 1e-5, 3e-5]
    per_layer = make_point({"hidden": [16, 8], "weight_bits": [8, 6, 4], "activation_bits": [6, 4]})
    assert per_layer.weight_bits == (8, 6, 4) and "weight_bits=8-6-4" in per_layer.label()


@pytest.mark.parametrize("space, message", [
    ({"base": {"sparsity": 1.2}}, r"sparsity must be in \[0, 1\)"),
    ({"base": {"weight_bits": 0}}, r"weight_bits \(each\) must be an integer in \[2, 16\]"),
    ({"base": {"hidden": []}}, r"hidden must be a non-empty list"),
    ({"base": {"hidden": [16, 8], "weight_bits": [6, 6]}}, r"weight_bits per layer needs 3 values"),
    ({"base": {"reuse_factor": 4}}, r"reuse_factor 4 needs strategy Resource"),
    ({"base": {"pruning": "random"}}, r"pruning must be one of magnitude, neurons, aggregate, none"),
    ({"base": {"bits": 6}}, r"unknown design-space field\(s\) bits"),
    ({"grids": [{"sparsity": []}]}, r"grid 1: sparsity must be a non-empty list"),
    ({"grids": [{"sparsity": 0.5}]}, r"grid 1: sparsity must be a non-empty list"),
    ({"points": []}, r"a design space is a mapping with the keys 'base'"),
    ([1, 2], r"a design space is a mapping"),
])
def test_bad_spaces_are_refused(space, message):
    with pytest.raises(ConfigError, match=message):
        expand(space)


def test_space_files(tmp_path):
    (tmp_path / "s.yaml").write_text("base: {sparsity: 0.5}\ngrids:\n  - {weight_bits: [4, 8]}\n")
    assert [p.weight_bits for p in read_space(tmp_path / "s.yaml")] == [4, 8]
    (tmp_path / "bad.yaml").write_text("base: {sparsity: [0.5\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        read_space(tmp_path / "bad.yaml")
    with pytest.raises(ConfigError, match="not found"):
        read_space(tmp_path / "none.yaml")


# --- structured compression and distillation ----------------------------------------------------------------


def _mlp(hidden=(8, 6)):
    tf.keras.utils.set_random_seed(1)
    return build("mlp", n_inputs=5, n_classes=3, hidden=hidden)


def test_removing_no_neuron_changes_nothing_and_removing_keeps_the_strongest():
    model = _mlp()
    x = np.random.default_rng(0).standard_normal((200, 5)).astype(np.float32)
    same = remove_neurons(model, 0.0)
    np.testing.assert_allclose(same.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-7)
    kernel, bias = model.get_layer("dense_0").get_weights()
    following = model.get_layer("dense_1").get_weights()[0]
    # Neuron 3 gets the largest weights both ways: it must survive removing half the layer.
    kernel[:, 3] *= 10
    following[3] *= 10
    model.get_layer("dense_0").set_weights([kernel, bias])
    model.get_layer("dense_1").set_weights([following, model.get_layer("dense_1").get_weights()[1]])
    half = remove_neurons(model, 0.5)
    assert [half.get_layer(n).units for n in ("dense_0", "dense_1")] == [4, 3]
    kept = half.get_layer("dense_0").get_weights()[0]
    assert any(np.allclose(kept[:, j], kernel[:, 3]) for j in range(kept.shape[1]))
    with pytest.raises(ConfigError, match=r"in \[0, 1\)"):
        remove_neurons(model, 1.0)
    with pytest.raises(ConfigError, match="'mlp' builder"):
        remove_neurons(build("cnn", input_shape=(8, 8, 1), conv_filters=(2,), dense=(4,)), 0.5)


def test_aggregating_parallel_neurons_is_exact():
    """A neuron whose weights and bias are 2.5x another's: relu(2.5 z) = 2.5 relu(z), merged exactly."""
    model = _mlp()
    kernel, bias = model.get_layer("dense_0").get_weights()
    bias[1] = 0.3
    kernel[:, 5], bias[5] = 2.5 * kernel[:, 1], 2.5 * bias[1]
    model.get_layer("dense_0").set_weights([kernel, bias])
    merged, counts = aggregate_neurons(model, 1e-9)
    assert counts == [1, 0] and merged.get_layer("dense_0").units == 7
    x = np.random.default_rng(1).standard_normal((300, 5)).astype(np.float32)
    np.testing.assert_allclose(merged.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_distillation_transfers_what_the_teacher_knows():
    """With the labels scrambled and all weight on the teacher, a distilled student still learns the task
    (from the teacher's soft targets); the same student trained alone on those labels learns nothing."""
    from hepfpga import train

    rng = np.random.default_rng(2)
    x = rng.standard_normal((3000, 5)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(int) + (x[:, 2] > 1).astype(int)
    teacher = _mlp((16, 16))
    train.fit(teacher, x[:2000], y[:2000], x[2000:], y[2000:], epochs=15, batch_size=128, verbose=0)
    scrambled = np.random.default_rng(5).permutation(y[:2000])

    def accuracy(model):
        return float(np.mean(model.predict(x[2000:], verbose=0).argmax(1) == y[2000:]))

    student = _mlp((4,))
    history = train.fit_distilled(student, teacher, x[:2000], scrambled, x[2000:], y[2000:], temperature=2.0,
                                  weight=0.0, epochs=15, batch_size=128, verbose=0)
    alone = _mlp((4,))
    train.fit(alone, x[:2000], scrambled, x[2000:], y[2000:], epochs=15, batch_size=128, verbose=0)
    majority = np.bincount(y[2000:]).max() / 1000
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert accuracy(student) > majority + 0.15 and accuracy(alone) < majority + 0.05
    assert accuracy(teacher) > accuracy(student)


# --- results ------------------------------------------------------------------------------------------------


def _result(key, accuracy, lut, dsp, latency, status="ok"):
    return {"key": key, "status": status, "accuracy": accuracy, "lut": lut, "dsp": dsp, "latency_ns": latency,
            "percent": {"lut": lut / 1000, "dsp": dsp / 100, "ff": 1.0, "bram_18k": 0.0}}


def test_pareto_front_and_recommendation():
    results = [_result("a", 0.75, 4000, 40, 200), _result("b", 0.74, 2000, 10, 150), _result("c", 0.73, 3000, 30, 100),
               _result("d", 0.76, 9000, 90, 300), _result("e", 0.70, 500, 1, 400), _result("f", 0.9, 1, 1, 1, "failed")]
    cost = lambda r: r["percent"]["lut"] + r["percent"]["dsp"]  # noqa: E731
    assert pareto(results, cost) == {"a", "b", "d", "e"}  # c costs more than b and is less accurate
    assert pareto(results, lambda r: r["latency_ns"]) == {"a", "b", "c", "d"}
    assert recommend(results, ScanOptions())["key"] == "d"
    assert recommend(results, ScanOptions(max_lut=5000))["key"] == "a"
    assert recommend(results, ScanOptions(max_lut=5000, max_latency_ns=160))["key"] == "b"
    assert recommend(results, ScanOptions(max_dsp=0)) is None
    # The cheapest within a tolerance of the best: 1.5 pp, or one standard error on 100 test events (4.3 pp).
    assert recommend(results, ScanOptions(accuracy_tolerance=1.5))["key"] == "a"
    assert recommend(results, ScanOptions(), n_test=100)["key"] == "b"


def test_shared_inputs_are_reproducible(tmp_path):
    """The same data and the same teacher from the same seed (so two scans compare point by point)."""
    from hepfpga.models.load import load_model
    from hepfpga.scan.run import prepare_inputs

    opt = ScanOptions(events=2000, teacher_epochs=1)
    for name in ("a", "b"):
        prepare_inputs(tmp_path / name, opt, None, log=lambda *a: None)
    with np.load(tmp_path / "a" / "inputs" / "data.npz") as a, np.load(tmp_path / "b" / "inputs" / "data.npz") as b:
        assert all(np.array_equal(a[k], b[k]) for k in a.files)
    first, second = (load_model(tmp_path / n / "inputs" / "teacher.h5") for n in ("a", "b"))
    assert all(np.array_equal(x, y) for x, y in zip(first.get_weights(), second.get_weights()))


def test_a_failing_point_is_recorded_not_raised(tmp_path):
    """A point whose inputs are missing: its result says failed, with the error, and is stored."""
    for sub in ("inputs", "points", "projects"):
        (tmp_path / sub).mkdir()
    point = Point(hidden=(4,), sparsity=0.0, pruning="none")
    result = run_and_store(point, str(tmp_path), ScanOptions().schedule())
    assert result["status"] == "failed" and "data.npz" in result["error"] and "Traceback" in result["traceback"]
    assert json.loads((tmp_path / "points" / f"{point.key()}.json").read_text())["status"] == "failed"


# --- a small scan on Dask -----------------------------------------------------------------------------------

SMALL = dict(events=4000, teacher_epochs=2, float_epochs=2, prune_epochs=1, qat_epochs=1, batch_size=256, workers=2)


@pytest.mark.csim
def test_small_scan_resumes_and_reproduces(tmp_path):
    space = expand({"base": {"hidden": [16, 8], "sparsity": 0.5},
                    "grids": [{"weight_bits": [4, 6]}, {"pruning": ["neurons"]},
                              {"hidden": [[8]], "training": ["distilled"], "pruning": ["none"]}]})
    out = tmp_path / "scan"
    first = scan(space, out, ScanOptions(**SMALL), log=lambda *a: None)
    assert first["points_run"] == 4 and all(r["status"] == "ok" for r in first["points"])
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 5 and rows[0].startswith("index,label,widths,status,accuracy %")
    for png in ("pareto_resources.png", "pareto_latency.png"):
        assert (out / png).stat().st_size > 10_000
    assert first["recommended_project"]["passed"] and (out / "recommended" / "firmware").is_dir()
    neurons = next(r for r in first["points"] if r["point"]["pruning"] == "neurons")
    assert neurons["notes"]["hidden"] == [8, 4]
    assert all(r["agreement"] > 0.99 and r["lut"] > 0 for r in first["points"])

    # Rerun: nothing is computed again. Remove one result: only that point runs, with the same metrics.
    again = scan(space, out, ScanOptions(**SMALL), log=lambda *a: None)
    assert again["points_run"] == 0
    gone = first["points"][1]
    (out / "points" / f"{gone['key']}.json").unlink()
    shutil.rmtree(out / "projects" / gone["key"])
    third = scan(space, out, ScanOptions(**SMALL), log=lambda *a: None)
    assert third["points_run"] == 1
    redone = next(r for r in third["points"] if r["key"] == gone["key"])
    measured = ("accuracy", "auc", "agreement", "dsp", "lut", "ff", "latency_ns", "notes")
    assert {k: redone[k] for k in measured} == {k: gone[k] for k in measured}

    # Other training settings in the same folder: refused without --force.
    with pytest.raises(DataError, match="holds another scan"):
        scan(space, out, ScanOptions(**{**SMALL, "qat_epochs": 2}), log=lambda *a: None)


def test_unreachable_scheduler_and_foreign_folder(tmp_path):
    with pytest.raises(DataError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        scan([Point()], tmp_path / "scan", ScanOptions(scheduler="tcp://127.0.0.1:9"), log=lambda *a: None)
    assert not (tmp_path / "scan").exists()  # refused before any work
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("my work")
    with pytest.raises(DataError, match="exists and is not a scan folder"):
        scan([Point()], tmp_path / "mine", ScanOptions(), log=lambda *a: None)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "my work"
