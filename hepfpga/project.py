"""Project folders: written completely or not at all, one writer at a time, and read back by later stages.

`staged_project` locks the destination (`<parent>/.<name>.lock`, so a second writer is refused), removes
what a killed run left beside it, gives the caller a temporary folder there and, only when the block
finishes without error, moves it into place in one rename: an error, a failed compile, Ctrl-C or SIGTERM
never leaves a half-written project, and a SIGKILL leaves only a staging folder the next run removes. An
existing destination is replaced only with `force=True`, or when it carries the `owner_marker` file (a
folder this tool wrote itself, such as the demo's); never, not even with force, when it is the current
folder, one of its ancestors, or a folder holding one of the run's input files.
`read_config`, `project_model` and `project_input_type` read what a project holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from pathlib import Path

from hepfpga.errors import CompilerError, DataError, ProjectExistsError

#: Folder inside a project where hepfpga puts models, reports and plots.
RESULTS = "hepfpga"
#: Where in a project the converted Keras model is kept.
MODEL_FILE = f"{RESULTS}/model.h5"
#: The SHA-256 of every file of a finished project (`write_manifest`), so that a rerun can tell whether it is
#: still the project it wrote.
MANIFEST = f"{RESULTS}/files.sha256"
#: Files a project's later use may add, rebuild or rewrite (compiled libraries, logs): not in the manifest.
UNLISTED = ("*.so", "*.o", "*.log")
#: Characters a project path may not hold: hls4ml writes it into C++ string literals and shell scripts.
UNSAFE_PATH_CHARACTERS = '\\"`$'
#: Longest file name most file systems take.
MAX_NAME = 255


def check_destination(dest: str | Path, force: bool = False, owner_marker: str | None = None,
                      inputs=()) -> Path:
    """`dest` as an absolute Path if a project may be written there; else ProjectExistsError (it exists
    and may not be replaced) or DataError (it may never be: the current folder or an ancestor of it, a
    folder holding an input in `inputs`, a file, a path hls4ml cannot write). Nothing is changed."""
    dest = Path(os.path.abspath(dest))
    bad = sorted({c for c in str(dest) if c in UNSAFE_PATH_CHARACTERS})
    if bad:
        raise DataError(f"the output path {dest} contains {' '.join(repr(c) for c in bad)}, which hls4ml writes into "
                        "C++ strings and shell scripts unescaped; choose a path without them")
    if len(dest.name.encode()) + len(".staging-xxxxxxxx") + 1 > MAX_NAME:
        raise DataError(f"the output folder name is {len(dest.name)} characters long; keep it under "
                        f"{MAX_NAME - 20} (file systems allow {MAX_NAME})")
    cwd = Path.cwd().resolve()
    real = dest.resolve()
    if real == cwd or real in cwd.parents or real == Path(real.anchor):
        raise DataError(f"refusing to write a project over {dest}: it is the current folder or one of its "
                        "ancestors, whose files would be lost (even with --force). Name a new folder, e.g. "
                        "hls_projects/<name>")
    for item in inputs:
        if item is not None and (real == Path(item).resolve() or real in Path(item).resolve().parents):
            raise DataError(f"refusing to write a project over {dest}: it holds the input {item} (even with "
                            "--force). Choose another output folder")
    if dest.exists() and not dest.is_dir():
        raise DataError(f"{dest} exists and is a file, not a project folder; choose another output path")
    if dest.exists() and not force and not (owner_marker and (dest / owner_marker).is_file()):
        raise ProjectExistsError(
            f"{dest} already exists and was not written by this command; nothing was changed. "
            "Choose another output folder or pass --force (force=True) to replace it.")
    for parent in dest.parents:
        if parent.exists():
            if not parent.is_dir():
                raise DataError(f"cannot create {dest}: {parent} is a file, not a folder")
            _check_writable(parent, dest)
            break
    return dest


def _check_writable(folder: Path, dest: Path) -> None:
    """DataError unless a file can be created in `folder` (a probe: permissions alone miss read-only mounts,
    immutable folders, /proc, and root's permission bypass)."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".hepfpga-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise DataError(f"cannot create {dest}: {folder} is not writable ({err.strerror or err}); choose a "
                        "writable folder") from err


@contextlib.contextmanager
def output_lock(dest: Path):
    """Hold `<parent>/.<name>.lock` for `dest` (an exclusive flock); DataError at once if another run holds it."""
    lock_path = dest.parent / f".{dest.name}.lock"
    while True:
        fd = os.open(lock_path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = _read_pid(lock_path)
            raise DataError(f"another hepfpga run{f' (process {holder})' if holder else ''} is writing {dest}; "
                            "wait for it to finish or choose another output folder") from None
        try:  # the file may have been removed by the previous holder between our open and flock: retry
            if os.fstat(fd).st_ino == os.stat(lock_path).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(lock_path)
        os.close(fd)


def _read_pid(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def remove_leftovers(dest: Path) -> list[Path]:
    """Remove staging and replaced-project folders an interrupted or killed run left beside `dest` (call
    with the lock held: no live run owns them then). Returns what was removed."""
    removed = []
    for pattern in (f".{dest.name}.staging-*", f".{dest.name}.old-*"):
        for path in dest.parent.glob(pattern):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


@contextlib.contextmanager
def staged_project(dest: str | Path, force: bool = False, owner_marker: str | None = None, inputs=()):
    """Yield a fresh temporary folder beside `dest`; on success move it to `dest` (replacing it if allowed).

    On any exception, KeyboardInterrupt and SIGTERM (as the CLI raises it) included, the temporary folder is
    removed and `dest` is left as it was. `inputs`: files the run reads, which `dest` must not hold.
    """
    dest = check_destination(dest, force, owner_marker, inputs)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create the folder {dest.parent}: {err.strerror or err}") from err
    with output_lock(dest):
        remove_leftovers(dest)
        stage = Path(tempfile.mkdtemp(prefix=f".{dest.name}.staging-", dir=dest.parent))
        umask = os.umask(0)
        os.umask(umask)
        stage.chmod(0o777 & ~umask)  # mkdtemp makes it private; the project should look like any folder
        try:
            yield stage
            _move_into_place(stage, dest, owner_marker)
        except CompilerError as err:
            kept = _keep_logs(stage, dest)
            shutil.rmtree(stage, ignore_errors=True)
            message = str(err)
            for inside, beside in kept:
                message = message.replace(str(inside), str(beside))
            raise type(err)(message) from err
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise


def _keep_logs(stage: Path, dest: Path) -> list[tuple[Path, Path]]:
    """Copy the build logs of a failed run out of its staging folder, beside the destination, as
    `<name>.failed.log` (never over an existing file); returns (staged path, kept path) pairs."""
    kept = []
    for log in sorted(stage.rglob("*.log")):
        target = dest.parent / f"{dest.name}.failed.log"
        k = 1
        while target.exists():
            target, k = dest.parent / f"{dest.name}.failed-{k}.log", k + 1
        with contextlib.suppress(OSError):
            shutil.copyfile(log, target)
            kept.append((log, target))
    return kept


def _move_into_place(stage: Path, dest: Path, owner_marker: str | None) -> None:
    # Libraries compiled in the staging folder hold its path (hls4ml's build_lib.sh compiles the weights
    # folder in as WEIGHTS_DIR): they would read weights from a folder that is gone. hls4ml's compile() and
    # `hepfpga csim` rebuild them in the project's final place when needed.
    for library in (*stage.glob("firmware/*.so"), *stage.glob(f"{RESULTS}/*.so")):
        library.unlink()
    config = stage / "hls4ml_config.yml"
    if config.is_file():  # hls4ml records its output folder there: point it at the final place
        config.write_text(config.read_text().replace(str(stage), str(dest)))
    if owner_marker:
        (stage / owner_marker).write_text("written by hepfpga; may be replaced by the same command\n")
    if (stage / RESULTS).is_dir():
        write_manifest(stage)
    if dest.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent))
        dest.replace(old / dest.name)
        stage.replace(dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        stage.replace(dest)




def _listed(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not any(p.match(g) for g in UNLISTED)
                  and p.relative_to(folder).as_posix() != MANIFEST)


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(folder: Path) -> None:
    """Record the SHA-256 of every file of project `folder` (but `UNLISTED` ones) in `folder/MANIFEST`, in
    `sha256sum`'s format (`sha256sum -c hepfpga/files.sha256` checks it from the project folder)."""
    lines = [f"{_sha256(p)}  {p.relative_to(folder).as_posix()}" for p in _listed(folder)]
    (folder / MANIFEST).write_text("\n".join(lines) + "\n")


def changed_files(folder: Path) -> list[str] | None:
    """Files of project `folder` missing or changed since `write_manifest` (relative paths; empty when all are
    as written), or None when the folder has no manifest."""
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return None
    changed = []
    for line in manifest.read_text(errors="replace").splitlines():
        digest, _, name = line.partition("  ")
        path = folder / name
        if not name or not path.is_file() or _sha256(path) != digest:
            changed.append(name or line)
    return changed


def _hls4ml_yaml_loader():
    """A SafeLoader of its own that reads hls4ml's `!keras_model 'path'` tag as the path. Not the global
    SafeLoader: hls4ml's `parse_yaml_config` registers a constructor there that loads the Keras model
    (without custom objects), which fails for models with custom or QKeras layers."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_constructor("!keras_model", lambda loader, node: loader.construct_scalar(node))
    return Loader


HLS4ML_YAML_LOADER = _hls4ml_yaml_loader()


def read_config(project_dir: str | Path) -> dict:
    """The `hls4ml_config.yml` of an hls4ml project as a dict; DataError if the folder is not a project."""
    import yaml

    path = Path(project_dir) / "hls4ml_config.yml"
    if not path.is_file():
        raise DataError(f"{project_dir} is not an hls4ml project (no hls4ml_config.yml)")
    try:
        config = yaml.load(path.read_text(errors="replace"), Loader=HLS4ML_YAML_LOADER)  # noqa: S506 (safe)
    except yaml.YAMLError as err:
        raise DataError(f"{path} is not valid YAML ({err}); restore it from the project's hepfpga/hls4ml_config.yml "
                        "or convert the model again") from err
    needed = ("ProjectName", "InputShapes", "OutputShapes")
    missing = [k for k in needed if not isinstance(config, dict) or k not in config]
    if missing:
        raise DataError(f"{path} lacks {', '.join(missing)}: it is not the configuration hls4ml writes; convert the "
                        "model again")
    return config


def project_input_type(project_dir: str | Path) -> str | None:
    """The firmware input type recorded in a project's hls4ml_config.yml, if it is an explicit fixed type."""
    layers = (read_config(project_dir).get("HLSConfig") or {}).get("LayerName") or {}
    first = next(iter(layers.values()), {})
    result = (first.get("Precision") or {}).get("result")
    return result if isinstance(result, str) and "fixed<" in result else None


def project_model(project_dir: str | Path) -> Path:
    """The Keras model file of an hls4ml project: hepfpga's `hepfpga/model.h5`, else hls4ml's copy."""
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
