"""Every bad input of every command: its exit code and message, no traceback, no file of the workspace changed.

The cases are the table in tests/bad_inputs.py (tools/bad_inputs_sweep.py runs the same table as real
processes). Each case gets a fresh workspace (a trained model, calibration data, a ROOT file, a converted
project); its files are hashed before and after the command.
"""

import re

import pytest
from bad_inputs import CASES, SETUPS, fill, make_shared, make_workspace, release, snapshot

from hepfpga.cli import main

pytestmark = pytest.mark.csim  # the shared project is converted (and compiled) once


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    return make_shared(tmp_path_factory.mktemp("shared"))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, shared, tmp_path, monkeypatch, capsys):
    ws = tmp_path / "ws"
    make_workspace(ws, shared)
    bad = SETUPS[case.setup](ws) if case.setup else None
    before = snapshot(ws)
    monkeypatch.chdir(ws)
    for key, value in case.env.items():
        monkeypatch.setenv(key, value.format(ws=ws))
    try:
        code = main(fill(case.argv, ws, bad))
    except SystemExit as exit_:  # argparse's usage errors
        code = exit_.code
    finally:
        release(ws)
    out, err = capsys.readouterr()
    assert code == case.code, err
    assert re.search(case.message, err), err
    assert "Traceback" not in err + out
    assert snapshot(ws) == before, "the command changed files it was not asked to write"
