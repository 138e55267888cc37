"""`hepfpga scan`: every point of a design space trained, converted and measured on Dask; the trade-off as a
table, Pareto plots and one recommended, ready project.

A scan folder holds what the points share (`inputs/`: the data and the float teacher, made once), one
result per point (`points/<key>.json`, written by the worker that ran it, atomically) and each point's HLS
project (`projects/<key>/`). A scan that is run again, or restarted after a kill, computes only the points
without a result: the table it ends with is the same. Points run on a Dask `LocalCluster` (one process
per core, one TensorFlow thread each) or on an existing cluster (`scheduler`), whose workers must see the
scan folder (a shared file system, as on a batch system with dask-jobqueue).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from hepfpga.errors import ConfigError, DataError
from hepfpga.options import check
from hepfpga.scan.folder import INPUTS, MARKER, POINTS, PROJECTS, write_json
from hepfpga.scan.options import ScanOptions
from hepfpga.scan.point import Schedule, run_point
from hepfpga.scan.results import write_recommended, write_results
from hepfpga.scan.space import Point

#: Environment of every worker process (set before it starts): one thread per library, quiet TensorFlow,
#: deterministic kernels (a point's metrics depend on its seed only).
WORKER_ENV = {"OMP_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
              "NUMBA_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "3", "TF_DETERMINISTIC_OPS": "1",
              "CUDA_VISIBLE_DEVICES": "", "PYTHONWARNINGS": "ignore"}


# --- shared inputs ---------------------------------------------------------------------------------------


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def _fingerprint(opt: ScanOptions, data: Path | None) -> str:
    """What the points' results depend on besides the point: data, teacher training, schedule, target."""
    keys = {k: getattr(opt, k) for k in ("events", "part", "clock_period", "teacher_epochs", "float_epochs",
                                         "prune_epochs", "qat_epochs", "batch_size", "seed")}
    if data is not None:
        keys = {**keys, "events": None, "data": _file_hash(data)}
    return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:16]


def prepare_inputs(folder: Path, opt: ScanOptions, data: Path | None, log) -> dict:
    """The data (read with uproot, split, standardised) and the float teacher (the demo's 16-64-32-32-5 MLP),
    made once per scan folder and stored in `inputs/`; returns {"fingerprint", "teacher": metrics, paths}."""
    from hepfpga import train
    from hepfpga.data import JET_CLASSES, JET_FEATURES, Scaler, read_root, split, write_jets_root
    from hepfpga.models import build
    from hepfpga.report import metrics
    from hepfpga.scan.point import deterministic_tensorflow

    deterministic_tensorflow(threads=None)  # the same teacher from the same seed, whatever the thread count

    inputs = folder / INPUTS
    inputs.mkdir(parents=True, exist_ok=True)
    if data is None:
        log(f"[inputs] writing {opt.events} synthetic jets to ROOT with uproot")
        data = write_jets_root(inputs / "jets.root", opt.events, seed=opt.seed)
    x, y = read_root(data, "jets", list(JET_FEATURES), "label")
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = split(x, y, seed=opt.seed)
    scaler = Scaler.fit(x_tr, list(JET_FEATURES))
    scaler.save(inputs / "scaler.json")
    arrays = dict(x_train=scaler.transform(x_tr), y_train=y_tr, x_val=scaler.transform(x_va), y_val=y_va,
                  x_test=scaler.transform(x_te), y_test=y_te)
    np.savez(inputs / "data.npz", **arrays, classes=np.array(JET_CLASSES), n_classes=len(JET_CLASSES),
             batch_size=opt.batch_size)
    log(f"[inputs] {len(x)} jets: {len(x_tr)} train / {len(x_va)} validation / {len(x_te)} test; training the "
        "float teacher (16-64-32-32-5)")
    import tensorflow as tf

    tf.keras.utils.set_random_seed(opt.seed)  # before the weights are drawn
    teacher = build("mlp", n_inputs=x.shape[1], n_classes=len(JET_CLASSES), name="teacher")
    train.fit(teacher, arrays["x_train"], y_tr, arrays["x_val"], y_va, epochs=opt.teacher_epochs,
              batch_size=opt.batch_size, verbose=0, seed=opt.seed)
    teacher.save(inputs / "teacher.h5")
    scores = teacher.predict(arrays["x_test"], batch_size=8192, verbose=0)
    return {"teacher": {"accuracy": metrics.accuracy(y_te, scores),
                        "auc": metrics.roc_auc_per_class(y_te, scores, list(JET_CLASSES))}}


# --- running the points ------------------------------------------------------------------------------------


def run_and_store(point: Point, folder: str, schedule: Schedule) -> dict:
    """The Dask task of one point: its project folder emptied, `run_point`, its result stored."""
    project = Path(folder) / PROJECTS / point.key()
    shutil.rmtree(project, ignore_errors=True)  # what a killed run of this point left
    inputs = Path(folder) / INPUTS
    result = run_point(point, str(inputs / "data.npz"), str(inputs / "teacher.h5"), str(project), schedule)
    write_json(Path(folder) / POINTS / f"{point.key()}.json", result)
    return result


def connect(address: str, timeout: str = "10s"):
    """A Dask client on the scheduler at `address`; DataError saying how to fix it if none answers."""
    from distributed import Client

    try:
        return Client(address, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as err:
        raise DataError(f"cannot reach the Dask scheduler at {address} ({type(err).__name__}: {err}); start one "
                        "(`dask scheduler`, workers with `dask worker ADDRESS`) or drop --scheduler to run on this "
                        "machine") from err


def _expected_cost(point: Point) -> int:
    """A rough relative run time of a point: training from scratch and distillation cost most."""
    from_scratch = tuple(point.hidden) != Point().hidden or point.training == "distilled"
    return 1 + 2 * from_scratch + (point.training == "distilled")


def _client(opt: ScanOptions, log):
    """A Dask client: on the scheduler at `opt.scheduler`, else on a new LocalCluster."""
    import dask
    from distributed import Client, LocalCluster

    if opt.scheduler:
        return connect(opt.scheduler), None
    workers = opt.workers or os.cpu_count() or 1
    with dask.config.set({"distributed.nanny.pre-spawn-environ": WORKER_ENV,
                          "distributed.logging.distributed": "error"}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               memory_limit=None, silence_logs=50)
    log(f"[scan] local Dask cluster: {workers} worker process(es), one thread each")
    return Client(cluster), cluster


def run_points(points: list[Point], folder: Path, opt: ScanOptions, log) -> None:
    """Run the points without a stored result on Dask, with a progress bar; each stores its own result."""
    from distributed import as_completed
    from tqdm import tqdm

    client, cluster = _client(opt, log)
    try:
        schedule = opt.schedule()
        # Longest first (Dask runs higher priorities first), so that no worker idles at the end while
        # another finishes a long point: students trained from scratch take about twice as long.
        futures = {client.submit(run_and_store, p, str(folder), schedule, key=f"hepfpga-point-{p.key()}",
                                 pure=False, priority=_expected_cost(p)): p for p in points}
        with tqdm(total=len(futures), unit="point", desc="scan") as bar:
            for future in as_completed(futures):
                point = futures[future]
                try:
                    result = future.result()
                except Exception as err:  # noqa: BLE001 (the worker died, or the task could not run: record it)
                    result = {"key": point.key(), "point": asdict(point), "label": point.label(), "status": "failed",
                              "error": f"{type(err).__name__}: {err}"}
                    write_json(folder / POINTS / f"{point.key()}.json", result)
                state = f"{100 * result['accuracy']:.2f} %" if result["status"] == "ok" else "FAILED"
                bar.write(f"  {point.label()}: {state}")
                bar.update(1)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# --- the scan ---------------------------------------------------------------------------------------------


def scan(points: list[Point], output_dir: str | Path, options: ScanOptions | None = None,
         data: str | Path | None = None, recommend_to: str | Path | None = None, force: bool = False,
         log=print) -> dict:
    """Run the design scan of `points` in `output_dir` (see the module docstring); returns the summary
    (results.json). `data`: a ROOT file of jets (tree "jets", the synthetic set's branches) instead of the
    synthetic set. The recommended point becomes a ready project in `recommend_to` (default:
    `<output_dir>/recommended`). An existing folder that is not this scan's is replaced only with `force`."""
    from hepfpga.project import output_lock

    opt = options or ScanOptions()
    check(opt)
    if not points:
        raise ConfigError("the design space holds no point")
    if opt.scheduler:  # before any work: an unreachable scheduler is bad input
        connect(opt.scheduler).close()
    data = Path(data) if data else None
    if data is not None and not data.is_file():
        raise DataError(f"data file not found: {data}")
    folder = Path(os.path.abspath(output_dir))
    fingerprint = _fingerprint(opt, data)
    marker = folder / MARKER
    if folder.exists() and not folder.is_dir():
        raise DataError(f"{folder} is a file; give a folder for the scan")
    folder.parent.mkdir(parents=True, exist_ok=True)
    with output_lock(folder):
        if folder.exists() and any(folder.iterdir()):
            earlier = json.loads(marker.read_text()) if marker.is_file() else None
            if earlier is None or earlier.get("fingerprint") != fingerprint:
                if not force:
                    what = ("holds another scan (other data or training settings)" if earlier else
                            "exists and is not a scan folder")
                    raise DataError(f"{folder} {what}; choose another --output, or --force to replace it")
                shutil.rmtree(folder)
        folder.mkdir(exist_ok=True)
        inputs = json.loads(marker.read_text()) if marker.is_file() else {}
        if "teacher" in inputs:
            log(f"[scan] resuming in {folder}: data and teacher from the earlier run")
        else:  # the marker first: a run killed while preparing leaves a folder the next run knows as its own
            write_json(marker, {"fingerprint": fingerprint})
            inputs = {"fingerprint": fingerprint, **prepare_inputs(folder, opt, data, log)}
            write_json(marker, inputs)
        for sub in (POINTS, PROJECTS):
            (folder / sub).mkdir(exist_ok=True)
        done = {p.key() for p in points if _finished(folder, p, opt.retry_failed)}
        todo = [p for p in points if p.key() not in done]
        log(f"[scan] {len(points)} points: {len(done)} already computed, {len(todo)} to run")
        t0 = time.perf_counter()
        if todo:
            run_points(todo, folder, opt, log)
        run = {"points_run": len(todo), "seconds": round(time.perf_counter() - t0, 1),
               "workers": opt.workers or os.cpu_count() if not opt.scheduler else opt.scheduler}
        summary = write_results(folder, points, inputs, opt, run, log)
    best = next((r for r in summary["points"] if r["key"] == summary["recommended"]), None)
    if best is not None:
        destination = Path(recommend_to) if recommend_to else folder / "recommended"
        report = write_recommended(folder, best, opt, destination, log)
        summary["recommended_project"] = {"path": str(destination), "passed": report["passed"]}
    return summary


def _finished(folder: Path, point: Point, retry_failed: bool) -> bool:
    path = folder / POINTS / f"{point.key()}.json"
    if not path.is_file():
        return False
    try:
        result = json.loads(path.read_text())
    except ValueError:
        return False
    return result.get("status") == "ok" or not retry_failed

