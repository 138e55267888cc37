"""Project folders: written completely or not at all, and read back by every later stage.

`staged_project` gives the caller a temporary folder beside the destination; only when the block
finishes without error is it moved into place, so an error, a failed compile or Ctrl-C never leaves a
half-written project. An existing destination is replaced only with `force=True`, or when it carries
the `owner_marker` file (a folder this tool wrote itself, such as the demo's).
`read_config`, `project_model` and `project_input_type` read what a project holds.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from hepfpga.errors import ProjectExistsError


def check_destination(dest: str | Path, force: bool = False, owner_marker: str | None = None) -> Path:
    """Raise ProjectExistsError if `dest` exists and may not be replaced; return it as a Path."""
    dest = Path(dest)
    if dest.exists() and not force and not (owner_marker and (dest / owner_marker).is_file()):
        raise ProjectExistsError(
            f"{dest} already exists and was not written by this command; nothing was changed. "
            "Choose another output folder or pass --force (force=True) to replace it.")
    return dest


@contextlib.contextmanager
def staged_project(dest: str | Path, force: bool = False, owner_marker: str | None = None):
    """Yield a fresh temporary folder; on success move it to `dest` (replacing it if allowed).

    On any exception, KeyboardInterrupt included, the temporary folder is removed and `dest` is
    left as it was.
    """
    dest = check_destination(dest, force, owner_marker).resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{dest.name}.staging-", dir=dest.parent))
    umask = os.umask(0)
    os.umask(umask)
    stage.chmod(0o777 & ~umask)  # mkdtemp makes it private; the project should look like any folder
    try:
        yield stage
        config = stage / "hls4ml_config.yml"
        if config.is_file():  # hls4ml records its output folder there: point it at the final place
            config.write_text(config.read_text().replace(str(stage), str(dest)))
        if owner_marker:
            (stage / owner_marker).write_text("written by hepfpga; may be replaced by the same command\n")
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
            dest.replace(old / dest.name)
            stage.replace(dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            stage.replace(dest)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


#: Folder inside a project where hepfpga puts models, reports and plots.
RESULTS = "hepfpga"
#: Where in a project the converted Keras model is kept.
MODEL_FILE = f"{RESULTS}/model.h5"


def read_config(project_dir: str | Path) -> dict:
    """The `hls4ml_config.yml` of an hls4ml project as a dict; DataError if the folder is not a project."""
    import yaml

    from hepfpga.errors import DataError

    path = Path(project_dir) / "hls4ml_config.yml"
    if not path.is_file():
        raise DataError(f"{project_dir} is not an hls4ml project (no hls4ml_config.yml)")
    # hls4ml tags the Keras model path with !keras_model; only the plain fields are needed here.
    yaml.add_multi_constructor("!keras_model", lambda loader, suffix, node: None, Loader=yaml.SafeLoader)
    return yaml.safe_load(path.read_text())


def project_input_type(project_dir: str | Path) -> str | None:
    """The firmware input type recorded in a project's hls4ml_config.yml, if it is an explicit fixed type."""
    layers = (read_config(project_dir).get("HLSConfig") or {}).get("LayerName") or {}
    first = next(iter(layers.values()), {})
    result = (first.get("Precision") or {}).get("result")
    return result if isinstance(result, str) and "fixed<" in result else None


def project_model(project_dir: str | Path) -> Path:
    """The Keras model file of an hls4ml project: hepfpga's `hepfpga/model.h5`, else hls4ml's copy."""
    from hepfpga.errors import DataError

    project_dir = Path(project_dir)
    read_config(project_dir)  # raises if not a project
    for candidate in (project_dir / MODEL_FILE, project_dir / "keras_model.keras"):
        if candidate.is_file():
            return candidate
    raise DataError(f"{project_dir} holds no Keras model (hepfpga/model.h5 or keras_model.keras) to compare with")


def fingerprint(model, *settings, arrays=()) -> str:
    """A hash of `model` (architecture and weights), JSON-able `settings`, `arrays`, hepfpga's and hls4ml's
    versions: equal fingerprints mean an identical build."""
    import hashlib
    import json

    import hls4ml
    import numpy as np

    from hepfpga import __version__

    h = hashlib.sha256()
    h.update(model.to_json().encode())
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    for s in settings:
        h.update(json.dumps(s, sort_keys=True, default=str).encode())
    for a in arrays:
        h.update(b"none" if a is None else np.ascontiguousarray(a).tobytes())
    h.update(f"{__version__} {hls4ml.__version__}".encode())
    return h.hexdigest()
