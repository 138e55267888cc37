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


def model_fingerprint(model, data, opt: ScanOptions, data_options: dict) -> str:
    """What the points of a scan of a user's model depend on besides the point: model, data, schedule, target."""
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    h.update(model.to_json().encode())
    for item in data:
        if isinstance(item, (str, Path)):
            h.update(_file_hash(Path(item)).encode())
        elif item is not None:
            for a in (item if isinstance(item, (list, tuple)) else [item]):
                h.update(np.ascontiguousarray(a).tobytes())
    keys = {k: getattr(opt, k) for k in ("part", "clock_period", "prune_epochs", "qat_epochs", "batch_size", "seed")}
    h.update(json.dumps({**keys, **data_options}, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def check_model_points(points: list[Point], model) -> None:
    """ConfigError before any work for a point a scan of a user's model cannot run: the jet tagger's builder
    fields, neuron aggregation, bits for layers the model does not have."""
    from dataclasses import fields

    from hepfpga.scan.space import BUILDER_FIELDS

    default = Point()
    names = {layer.name for layer in model.layers}
    for point in points:
        changed = [f.name for f in fields(Point) if f.name in BUILDER_FIELDS and getattr(point, f.name) !=
                   getattr(default, f.name)]
        if changed:
            raise ConfigError(f"point {point.label()}: {', '.join(changed)} belong to the jet tagger's builder; a scan "
                              "of your model varies bits, sparsity, pruning (magnitude, neurons, none), method, beta, "
                              "reuse_factor, strategy and io_type")
        if point.pruning == "aggregate":
            raise ConfigError(f"point {point.label()}: neuron aggregation works on the jet tagger's MLP only")
        for field in ("weight_bits", "activation_bits"):
            bits = getattr(point, field)
            if isinstance(bits, tuple) and bits and isinstance(bits[0], tuple):
                unknown = sorted({n for n, _ in bits} - names)
                if unknown:
                    raise ConfigError(f"point {point.label()}: {field} names layer(s) {', '.join(unknown)} the model "
                                      f"does not have; its layers: {', '.join(sorted(names))}")
            elif isinstance(bits, tuple):
                raise ConfigError(f"point {point.label()}: {field} of a user's model is one number or a mapping "
                                  "{layer name: bits}, not a list")


def prepare_model_inputs(folder: Path, model, data, validation, opt: ScanOptions, data_options: dict, log) -> dict:
    """A user's model and data for the points: the data checked, split (train 60 %, validation 15 %, test 25 %;
    or a given validation set halved into validation and test) and stored in `inputs/data.npz`, the model in
    `inputs/model.h5`; returns {"teacher": the float model's metric on the test set, "task", "mode": "model"}."""
    from hepfpga.compress.steps import check_data, guess_task, metric
    from hepfpga.data import as_model_input
    from hepfpga.scan.point import deterministic_tensorflow

    deterministic_tensorflow(threads=None)
    inputs = folder / INPUTS
    inputs.mkdir(parents=True, exist_ok=True)
    task = data_options.get("task") or guess_task(model)
    x, y = data
    xs, y = check_data(model, x, y, task)
    order = np.random.default_rng(opt.seed).permutation(len(y))
    if validation is not None:
        xv_all, yv_all = check_data(model, validation[0], validation[1], task, "validation data")
        half = len(yv_all) // 2
        parts = {"train": ([a for a in xs], y), "val": ([a[:half] for a in xv_all], yv_all[:half]),
                 "test": ([a[half:] for a in xv_all], yv_all[half:])}
    else:
        cuts = np.split(order, [int(0.6 * len(y)), int(0.75 * len(y))])
        parts = {name: ([a[idx] for a in xs], y[idx]) for name, idx in zip(("train", "val", "test"), cuts)}
    arrays = {}
    for name, (arrs, labels) in parts.items():
        arrays.update({f"x_{name}_{k}": a for k, a in enumerate(arrs)})
        arrays[f"y_{name}"] = labels
    batch = int(min(opt.batch_size, np.clip(len(parts["train"][1]) // 100, 32, 1024)))
    np.savez(inputs / "data.npz", **arrays, task=task, n_inputs=len(xs), batch_size=batch)
    model.save(inputs / "model.h5")
    test_x, test_y = parts["test"]
    value = metric(task, test_y, model.predict(as_model_input(test_x), batch_size=8192, verbose=0))
    log(f"[inputs] {len(y)} events for training, {len(parts['val'][1])} validation, {len(test_y)} test; the "
        f"{task} model scores {value:.4g} ({'accuracy %' if task == 'classification' else 'MSE'}) on the test set")
    teacher = {"accuracy": value / 100} if task == "classification" else {"mse": value}
    return {"teacher": teacher, "task": task, "mode": "model"}


# --- running the points ------------------------------------------------------------------------------------


def run_and_store(point: Point, folder: str, schedule: Schedule, mode: str = "jets") -> dict:
    """The Dask task of one point: its project folder emptied, `run_point` (the jet tagger) or `run_model_point`
    (a user's model), its result stored."""
    from hepfpga.scan.point import run_model_point

    project = Path(folder) / PROJECTS / point.key()
    shutil.rmtree(project, ignore_errors=True)  # what a killed run of this point left
    inputs = Path(folder) / INPUTS
    if mode == "model":
        result = run_model_point(point, str(inputs / "data.npz"), str(inputs / "model.h5"), str(project), schedule)
    else:
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


def run_points(points: list[Point], folder: Path, opt: ScanOptions, log, mode: str = "jets") -> None:
    """Run the points without a stored result on Dask, with a progress bar; each stores its own result."""
    from distributed import as_completed
    from tqdm import tqdm

    client, cluster = _client(opt, log)
    try:
        schedule = opt.schedule()
        # Longest first (Dask runs higher priorities first), so that no worker idles at the end while
        # another finishes a long point: students trained from scratch take about twice as long.
        futures = {client.submit(run_and_store, p, str(folder), schedule, mode, key=f"hepfpga-point-{p.key()}",
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
                state = "FAILED" if result["status"] != "ok" else (
                    f"{100 * result['accuracy']:.2f} %" if "accuracy" in result else f"MSE {result['mse']:.4g}")
                bar.write(f"  {point.label()}: {state}")
                bar.update(1)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# --- the scan ---------------------------------------------------------------------------------------------


def _user_model(model, data, validation, opt: ScanOptions, data_options: dict, log):
    """(Keras model, (x, y), validation or None) of a scan of a user's model: `model` a Keras model, a model file
    or a builder function (its model trained here for `opt.float_epochs` epochs); `data`/`validation` (x, y)
    or data files (read as `hepfpga compress` reads them)."""
    from hepfpga.data import load_labelled
    from hepfpga.models.load import load_model

    built = callable(model) and not hasattr(model, "layers")
    if isinstance(model, (str, Path)):
        model = load_model(model)
    elif built:
        model = model()
    shapes = {name: tuple(t.shape[1:]) for name, t in zip(model.input_names, model.inputs)}

    def read(source):
        if source is None or isinstance(source, tuple):
            return source
        keys = ("tree", "branches", "label_branch", "scaler", "pad", "sort_by")
        return load_labelled(source, shapes, **{k: data_options.get(k) for k in keys})

    data, validation = read(data), read(validation)
    if data is None:
        raise DataError("a scan of your model needs its data: --data FILE (.npz with the inputs and y, or .root)")
    if built:  # a builder's model starts untrained
        from hepfpga.compress.steps import check_data, guess_task
        from hepfpga.train import fit_task

        task = data_options.get("task") or guess_task(model)
        xs, y = check_data(model, *data, task)
        log(f"[inputs] training the builder's float model for {opt.float_epochs} epochs")
        cut = int(0.8 * len(y))
        fit_task(model, [a[:cut] for a in xs], y[:cut], [a[cut:] for a in xs], y[cut:], task,
                 epochs=opt.float_epochs, early_stopping=True, seed=opt.seed)
    return model, data, validation


def scan(points: list[Point], output_dir: str | Path, options: ScanOptions | None = None,
         data=None, recommend_to: str | Path | None = None, force: bool = False, log=print, model=None,
         validation=None, data_options: dict | None = None, default: Point | None = None) -> dict:
    """Run the design scan of `points` in `output_dir` (see the module docstring); returns the summary
    (results.json). Without `model`: the jet tagger, on `data` (a ROOT file of jets, tree "jets", the synthetic
    set's branches) or on the synthetic set. With `model` (a Keras model, a model file, or a function building
    one, trained here): that model on `data` (and `validation`), each as (x, y) or a file read as `hepfpga
    compress` reads it with `data_options` (tree, branches, label_branch, pad, sort_by, scaler, task). The
    recommended point becomes a ready project in `recommend_to` (default: `<output_dir>/recommended`). An
    existing folder that is not this scan's is replaced only with `force`. `default`: the design the report's
    finding compares the others with (the jet tagger's default point; for a user's model: the first point)."""
    from hepfpga.project import output_lock

    opt = options or ScanOptions()
    check(opt)
    if not points:
        raise ConfigError("the design space holds no point")
    if opt.scheduler:  # before any work: an unreachable scheduler is bad input
        connect(opt.scheduler).close()
    data_options = dict(data_options or {})
    mode = "jets" if model is None else "model"
    if default is None and mode == "model":
        default = points[0]
    if mode == "model":
        model, data, validation = _user_model(model, data, validation, opt, data_options, log)
        check_model_points(points, model)
        from hepfpga.compress.steps import check_data, guess_task

        check_data(model, *data, data_options.get("task") or guess_task(model))  # before any work
        fingerprint = model_fingerprint(model, (data[0], data[1], *(validation or ())), opt, data_options)
    else:
        data = Path(data) if data else None
        if data is not None and not data.is_file():
            raise DataError(f"data file not found: {data}")
        fingerprint = _fingerprint(opt, data)
    folder = Path(os.path.abspath(output_dir))
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
            prepared = prepare_inputs(folder, opt, data, log) if mode == "jets" else \
                prepare_model_inputs(folder, model, data, validation, opt, data_options, log)
            inputs = {"fingerprint": fingerprint, **prepared}
            write_json(marker, inputs)
        for sub in (POINTS, PROJECTS):
            (folder / sub).mkdir(exist_ok=True)
        done = {p.key() for p in points if _finished(folder, p, opt.retry_failed)}
        todo = [p for p in points if p.key() not in done]
        log(f"[scan] {len(points)} points: {len(done)} already computed, {len(todo)} to run")
        t0 = time.perf_counter()
        if todo:
            run_points(todo, folder, opt, log, mode)
        run = {"points_run": len(todo), "seconds": round(time.perf_counter() - t0, 1),
               "workers": opt.workers or os.cpu_count() if not opt.scheduler else opt.scheduler}
        summary = write_results(folder, points, inputs, opt, run, log, default)
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

