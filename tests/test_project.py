"""Project folders are complete or absent; user folders are never replaced without force."""

import pytest

from hepfpga.errors import ProjectExistsError
from hepfpga.project import staged_project


def test_success_moves_into_place(tmp_path):
    dest = tmp_path / "prj"
    with staged_project(dest) as stage:
        (stage / "a.txt").write_text("x")
        (stage / "hls4ml_config.yml").write_text(f"OutputDir: {stage}\nInputData: {stage}/tb.npy\n")
        assert not dest.exists()
    assert (dest / "a.txt").read_text() == "x"
    # hls4ml's record of where the project lives follows it.
    assert (dest / "hls4ml_config.yml").read_text() == f"OutputDir: {dest}\nInputData: {dest}/tb.npy\n"
    assert [p.name for p in tmp_path.iterdir()] == ["prj"]


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_failure_leaves_nothing(tmp_path, exc):
    dest = tmp_path / "prj"
    with pytest.raises(exc):
        with staged_project(dest) as stage:
            (stage / "half.txt").write_text("x")
            raise exc()
    assert list(tmp_path.iterdir()) == []


def test_existing_user_folder_needs_force(tmp_path):
    dest = tmp_path / "prj"
    dest.mkdir()
    (dest / "mine.txt").write_text("user work")
    with pytest.raises(ProjectExistsError, match="--force"):
        with staged_project(dest):
            pytest.fail("must not start")
    assert (dest / "mine.txt").read_text() == "user work"
    # A folder carrying another tool's marker is not ours either.
    with pytest.raises(ProjectExistsError):
        with staged_project(dest, owner_marker=".hepfpga-demo"):
            pass
    with staged_project(dest, force=True) as stage:
        (stage / "new.txt").write_text("y")
    assert sorted(p.name for p in dest.iterdir()) == ["new.txt"]


def test_own_folder_replaced_and_failed_replace_keeps_old(tmp_path):
    dest = tmp_path / "demo"
    with staged_project(dest, owner_marker=".m") as stage:
        (stage / "run").write_text("1")
    with pytest.raises(RuntimeError):
        with staged_project(dest, owner_marker=".m") as stage:
            (stage / "run").write_text("2")
            raise RuntimeError
    assert (dest / "run").read_text() == "1"
    with staged_project(dest, owner_marker=".m") as stage:
        (stage / "run").write_text("3")
    assert (dest / "run").read_text() == "3"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo"]


def test_second_writer_refused_and_leftovers_removed(tmp_path):
    from hepfpga.errors import DataError
    from hepfpga.project import output_lock

    dest = tmp_path / "prj"
    with output_lock(dest.resolve()):
        with pytest.raises(DataError, match="another hepfpga run .* is writing"):
            with staged_project(dest):
                pytest.fail("must not start")
    # what a killed run leaves beside the destination goes at the next run
    (tmp_path / ".prj.staging-abc").mkdir()
    (tmp_path / ".prj.old-def").mkdir()
    with staged_project(dest) as stage:
        (stage / "a").write_text("1")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["prj"]


def test_force_never_removes_the_current_folder_or_an_input(tmp_path, monkeypatch):
    from hepfpga.errors import DataError

    (tmp_path / "data.npy").write_text("input")
    monkeypatch.chdir(tmp_path)
    for dest in (".", "..", str(tmp_path)):
        with pytest.raises(DataError, match="current folder or one of its ancestors"):
            with staged_project(dest, force=True):
                pass
    (tmp_path / "inputs").mkdir()
    (tmp_path / "inputs" / "x.npy").write_text("input")
    with pytest.raises(DataError, match="holds the input"):
        with staged_project(tmp_path / "inputs", force=True, inputs=[tmp_path / "inputs" / "x.npy"]):
            pass
    assert (tmp_path / "inputs" / "x.npy").read_text() == "input"


def test_hls4ml_config_read_whatever_hls4ml_registered_in_yaml(tmp_path, monkeypatch):
    """hls4ml's parse_yaml_config registers a `!keras_model` constructor on yaml's global SafeLoader that loads
    the model (failing for QKeras and custom layers); a project's configuration is still read, the tag as the
    path. (The convert CLI tests failed this way once a test had called parse_yaml_config.)"""
    import yaml

    from hepfpga.project import read_config

    def loads_the_model(loader, node):
        raise AssertionError("the Keras model was loaded")

    monkeypatch.setitem(yaml.SafeLoader.yaml_constructors, "!keras_model", loads_the_model)
    (tmp_path / "hls4ml_config.yml").write_text("KerasModel: !keras_model '/somewhere/keras_model.keras'\n"
                                                 "ProjectName: myproject\nInputShapes: {x: [16]}\n"
                                                 "OutputShapes: {y: [5]}\n")
    config = read_config(tmp_path)
    assert config["KerasModel"] == "/somewhere/keras_model.keras" and config["InputShapes"] == {"x": [16]}
