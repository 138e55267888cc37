"""The `hepfpga` command: exit codes and messages for bad input."""

import pytest

from hepfpga.cli import main


def test_demo_refuses_user_folder(tmp_path, capsys):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "keep.txt").write_text("user work")
    assert main(["demo", "--output", str(out), "--events", "1000"]) == 2
    err = capsys.readouterr().err
    assert "already exists and was not written by this command" in err and "--force" in err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_demo_without_compiler(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert main(["demo", "--output", str(tmp_path / "demo"), "--events", "1000"]) == 2
    assert "g++ was not found" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_version_and_help(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0 and "hepfpga 0.1.0" in capsys.readouterr().out


def test_models_command(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for family in ("mlp", "cnn", "resnet", "deepsets"):
        assert f"\n{family}: " in "\n" + out
    assert "pool_size=2" in out and "quantized=False" in out


def test_labels_outside_classes(tmp_path):
    from hepfpga.chain import JetTaggingOptions, jet_tagging
    from hepfpga.data import write_jets_root
    from hepfpga.errors import DataError

    root = write_jets_root(tmp_path / "j.root", 100)
    with pytest.raises(DataError, match=r"labels run from 0 to 4, but 2 classes"):
        jet_tagging(root, tmp_path / "prj", JetTaggingOptions(classes=["sig", "bkg"]), log=lambda *a: None)
    assert not (tmp_path / "prj").exists()
