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
