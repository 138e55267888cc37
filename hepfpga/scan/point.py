"""One design point of a scan: train, convert, emulate, estimate; every figure the scan table shows.

`run_point` is what a Dask worker executes. It reads the scan's shared inputs from files (the data and the
float teacher), so a point needs nothing but paths, and it writes nothing outside its own project folder.
No C++ is compiled: the firmware's outputs come from the integer emulator (`hepfpga.csim.bitexact`),
resources and latency from `hepfpga.estimate`.
"""

from __future__ import annotations

import re
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hepfpga.data import per_input
from hepfpga.errors import ConfigError
from hepfpga.scan.space import Point


@dataclass(frozen=True)
class Schedule:
    """Training lengths and firmware target shared by every point of a scan."""

    float_epochs: int = 20  # students trained from scratch (the teacher's width reuses the teacher)
    prune_epochs: int = 8  # fine-tuning while magnitude sparsity ramps up, or after removing neurons
    qat_epochs: int = 8
    batch_size: int = 512
    part: str = "xcvu13p-flga2577-2-e"
    clock_period: float = 5.0


def _data(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _fit(model, data: dict, point: Point, teacher, epochs: int, learning_rate: float, callbacks=(),
         early_stopping: bool = False) -> None:
    from hepfpga import train

    args = dict(x_train=data["x_train"], y_train=data["y_train"], x_val=data["x_val"], y_val=data["y_val"],
                epochs=epochs, batch_size=int(data["batch_size"]), learning_rate=learning_rate, callbacks=callbacks,
                early_stopping=early_stopping, verbose=0, seed=point.seed)
    if point.training == "distilled":
        train.fit_distilled(model, teacher, temperature=point.temperature, weight=point.distill_weight, **args)
    else:
        train.fit(model, **args)


def train_point(point: Point, data: dict, teacher, schedule: Schedule):
    """The QKeras model of `point`: its float model (the teacher itself when the widths match and it trains
    alone, else trained from scratch, alone or distilled), compressed by its pruning kind, then quantized
    and fine-tuned. Returns (QKeras model, notes: neurons merged, sparsity reached)."""
    import tensorflow as tf

    from hepfpga.compress import prune, quantize, structured
    from hepfpga.models import build

    tf.keras.utils.set_random_seed(point.seed)
    notes: dict = {}
    steps = int(np.ceil(len(data["x_train"]) / int(data["batch_size"])))
    n_inputs, n_classes = data["x_train"].shape[1], int(data["n_classes"])
    if tuple(point.hidden) == tuple(teacher_hidden(teacher)) and point.training == "alone":
        model = tf.keras.models.clone_model(teacher)
        model.set_weights(teacher.get_weights())
    else:
        model = build("mlp", n_inputs=n_inputs, n_classes=n_classes, hidden=point.hidden, name="student")
        _fit(model, data, point, teacher, schedule.float_epochs, 1e-3, early_stopping=True)
    sparsity = point.sparsity if point.pruning == "magnitude" else 0.0
    if point.pruning == "magnitude" and sparsity > 0:
        wrapped = prune.prune(model, sparsity, end_step=steps * max(1, schedule.prune_epochs // 2))
        _fit(wrapped, data, point, teacher, schedule.prune_epochs, 5e-4, prune.pruning_callbacks())
        model = prune.strip(wrapped)
    elif point.pruning == "neurons" and point.sparsity > 0:
        model = structured.remove_neurons(model, point.sparsity)
        _fit(model, data, point, teacher, schedule.prune_epochs, 5e-4)
    elif point.pruning == "aggregate":
        model, merged = structured.aggregate_neurons(model, point.aggregate_tolerance)
        notes["neurons_merged"] = merged
        _fit(model, data, point, teacher, schedule.prune_epochs, 5e-4)
    hidden = teacher_hidden(model)
    notes["hidden"] = list(hidden)
    if point.method == "hgq":  # learned bit widths: HGQ's training under its resource regulariser
        qmodel = _hgq(model, data, point, schedule)
        notes["sparsity"] = prune.sparsity(qmodel)
        return qmodel, notes
    if isinstance(point.weight_bits, tuple) and point.weight_bits and isinstance(point.weight_bits[0], tuple):
        raise ConfigError("bits per layer name are for scans of a user's model (--model); the jet tagger takes "
                          "bits per Dense layer in order: [hidden..., logits]")
    bits = dict(weight_bits=_bits(point.weight_bits), activation_bits=_bits(point.activation_bits))
    qmodel = quantize.quantize(model, "mlp", dict(n_inputs=n_inputs, n_classes=n_classes, hidden=hidden), **bits)
    if sparsity > 0:  # keep the zeros while quantization-aware training moves the other weights
        qmodel = prune.prune(qmodel, sparsity, initial_sparsity=sparsity, end_step=steps)
        _fit(qmodel, data, point, teacher, schedule.qat_epochs, 5e-4, prune.pruning_callbacks())
        qmodel = prune.strip(qmodel)
    else:
        _fit(qmodel, data, point, teacher, schedule.qat_epochs, 5e-4)
    notes["sparsity"] = prune.sparsity(qmodel)
    return qmodel, notes


def _hgq(model, data: dict, point: Point, schedule: Schedule):
    """The HGQ form of float `model`, trained (the softmax left out: logits, the same argmax)."""
    from HGQ import FreeBOPs, ResetMinMax

    from hepfpga.compress.qat import to_hgq
    from hepfpga.train import fit_task

    hmodel, notes = to_hgq(model, point.beta)
    fit_task(hmodel, data["x_train"], data["y_train"], data["x_val"], data["y_val"], "classification",
             epochs=schedule.qat_epochs, batch_size=int(data["batch_size"]), learning_rate=2e-3,
             callbacks=[ResetMinMax(), FreeBOPs()], early_stopping=True, from_logits=bool(notes["softmax_left_out"]),
             seed=point.seed)
    return hmodel


def _bits(value):
    return list(value) if isinstance(value, tuple) else value


def teacher_hidden(model) -> tuple[int, ...]:
    """The hidden widths of an `mlp` model (its Dense layers dense_0, dense_1, ...)."""
    names = sorted((layer.name for layer in model.layers if re.fullmatch(r"dense_\d+", layer.name)),
                   key=lambda n: int(n.split("_")[1]))
    return tuple(int(model.get_layer(n).units) for n in names)


def emulated_firmware(qmodel, project_dir: Path, calibration, x_test, point: Point, schedule: Schedule):
    """Write `qmodel`'s HLS project (hepfpga's precisions, the point's reuse factor, strategy and io type; an HGQ
    model as its proxy) and run it on `x_test` (the integer emulator, the compiled C++ where the emulator does not
    cover a layer). Returns (the model in the firmware, its Keras outputs, the firmware's)."""
    from hepfpga.compress.hgq import is_hgq, proxy_model
    from hepfpga.convert.verified import choose_config, evaluation_inputs
    from hepfpga.convert.write import write_project
    from hepfpga.csim.simulate import firmware_outputs
    from hepfpga.options import ConvertOptions

    if is_hgq(qmodel):
        qmodel = proxy_model(qmodel, calibration)
    opt = ConvertOptions(reuse_factor=point.reuse_factor, strategy=point.strategy, io_type=point.io_type,
                         part=schedule.part, clock_period=schedule.clock_period)
    config = choose_config(qmodel, per_input(calibration), opt)
    for entry in config["LayerName"].values():
        entry["Trace"] = False
    write_project(qmodel, project_dir, config=config, part=opt.part, clock_period=opt.clock_period,
                  io_type=opt.io_type)
    x_fw = evaluation_inputs(qmodel, config, per_input(x_test), len(per_input(x_test)[0]))
    firmware, _ = firmware_outputs(Path(project_dir), x_fw, jobs=1, log=lambda *a: None, progress=False)
    keras = qmodel.predict(x_fw, batch_size=8192, verbose=0)
    return qmodel, keras, np.asarray(firmware).reshape(np.asarray(keras).shape)


def firmware_metrics(qmodel, project_dir: Path, data: dict, point: Point, schedule: Schedule) -> dict:
    """Write `qmodel`'s HLS project (hepfpga's precisions, the point's reuse factor, strategy and io type),
    emulate it on the test set, compare with the QAT model and estimate resources and latency."""
    from hepfpga.estimate import estimate_project
    from hepfpga.report import metrics

    qmodel, keras, firmware = emulated_firmware(qmodel, project_dir, data["x_train"][:2000], data["x_test"], point,
                                                schedule)
    classes = [str(c) for c in data["classes"]]
    estimate = estimate_project(project_dir, schedule.part)
    total = estimate["total"]
    return {
        "accuracy": metrics.accuracy(data["y_test"], firmware),
        "auc": metrics.roc_auc_per_class(data["y_test"], firmware, classes),
        "qat_accuracy": metrics.accuracy(data["y_test"], keras),
        "agreement": metrics.agreement(keras, firmware)["argmax_agreement"],
        "dsp": total["dsp"], "lut": total["lut"], "ff": total["ff"], "bram_18k": total["bram_18k"],
        "latency_cycles": total["latency_cycles"], "latency_ns": total["latency_ns"],
        "interval": total["interval"], "percent": estimate["percent"],
    }


def deterministic_tensorflow(threads: int | None = 1) -> None:
    """Deterministic TensorFlow kernels (the same seed gives the same model), on `threads` threads per pool
    when TensorFlow has not started yet (a fresh worker process)."""
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    if threads:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:  # TensorFlow already runs: its pools keep their sizes
            pass


def run_point(point: Point, data_path: str, teacher_path: str, project_dir: str, schedule: Schedule) -> dict:
    """Everything about one point, as a JSON-able dict; a failure is returned (status "failed", the error
    and its traceback), never raised, so that the scan goes on."""
    started = time.time()
    result = {"key": point.key(), "point": asdict(point), "label": point.label(), "status": "failed"}
    try:
        deterministic_tensorflow()
        from hepfpga.models.load import load_model

        data = _data(Path(data_path))
        teacher = load_model(teacher_path)
        t0 = time.perf_counter()
        qmodel, notes = train_point(point, data, teacher, schedule)
        t1 = time.perf_counter()
        result.update(firmware_metrics(qmodel, Path(project_dir), data, point, schedule))
        result.update(notes=notes, status="ok", seconds={"train": round(t1 - t0, 1),
                                                         "convert": round(time.perf_counter() - t1, 1)})
    except Exception as err:  # noqa: BLE001 (recorded with its traceback; the scan goes on)
        result.update(error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc(limit=8))
    result["finished"] = round(time.time() - started, 1)
    return result


# --- a point of a user's model (`scan --model`) ---------------------------------------------------------------


def _split_inputs(data: dict, part: str) -> list[np.ndarray]:
    return [data[f"x_{part}_{k}"] for k in range(int(data["n_inputs"]))]


def _named_bits(value):
    """Bits of a point for `CompressOptions`: one number, or {layer name: bits}."""
    return dict(value) if isinstance(value, tuple) and value and isinstance(value[0], tuple) else value


def model_point_metrics(task: str, y_test, keras, firmware) -> dict:
    """The figures a point of a user's model reports: classification accuracy (fraction) and argmax agreement,
    or regression MSE and the share of events whose firmware outputs are within 1 % of Keras's output range."""
    from hepfpga.compress.steps import metric
    from hepfpga.report import metrics

    if task == "classification":
        return {"accuracy": metric(task, y_test, firmware) / 100, "qat_accuracy": metric(task, y_test, keras) / 100,
                "agreement": metrics.agreement(keras, firmware)["argmax_agreement"], "auc": {}}
    keras, firmware = (np.asarray(a).reshape(len(y_test), -1) for a in (keras, firmware))
    spread = float(keras.max() - keras.min()) or 1.0
    close = np.all(np.abs(firmware - keras) <= 0.01 * spread, axis=1)
    return {"mse": metric(task, y_test, firmware), "qat_mse": metric(task, y_test, keras),
            "agreement": float(np.mean(close))}


def run_model_point(point: Point, data_path: str, model_path: str, project_dir: str, schedule: Schedule) -> dict:
    """One point of a scan of a user's model: `compress`'s pruning and quantization-aware training with the
    point's settings, the firmware emulated on the test set, estimated; a failure is returned, never raised."""
    started = time.time()
    result = {"key": point.key(), "point": asdict(point), "label": point.label(), "status": "failed"}
    try:
        deterministic_tensorflow()
        from dataclasses import replace

        import tensorflow as tf

        from hepfpga.compress.steps import prune_step, quantize_step
        from hepfpga.data import as_model_input, head
        from hepfpga.estimate import estimate_project
        from hepfpga.models.load import load_model
        from hepfpga.options import CompressOptions

        data = _data(Path(data_path))
        task = str(data["task"])
        model = load_model(model_path)
        xs, xv, xt = (_split_inputs(data, part) for part in ("train", "val", "test"))
        y, yv, yt = data["y_train"], data["y_val"], data["y_test"]
        tf.keras.utils.set_random_seed(point.seed)
        opt = CompressOptions(task=task, sparsity=point.sparsity, pruning=point.pruning,
                              weight_bits=_named_bits(point.weight_bits),
                              activation_bits=_named_bits(point.activation_bits), method=point.method, beta=point.beta,
                              epochs=schedule.qat_epochs, batch_size=int(data["batch_size"]), seed=point.seed)
        t0 = time.perf_counter()
        quiet = lambda *a: None  # noqa: E731
        pruned, pruning = prune_step(model, xs, y, xv, yv, task, replace(opt, epochs=schedule.prune_epochs), quiet)
        qmodel, _, _ = quantize_step(pruned, xs, y, xv, yv, task, opt, quiet)
        t1 = time.perf_counter()
        _, keras, firmware = emulated_firmware(qmodel, Path(project_dir), as_model_input(head(xs, 2000)),
                                               as_model_input(xt), point, schedule)
        estimate = estimate_project(project_dir, schedule.part)
        total = estimate["total"]
        from hepfpga.compress.prune import sparsity

        result.update(model_point_metrics(task, yt, keras, firmware))
        result.update(dsp=total["dsp"], lut=total["lut"], ff=total["ff"], bram_18k=total["bram_18k"],
                      latency_cycles=total["latency_cycles"], latency_ns=total["latency_ns"],
                      interval=total["interval"], percent=estimate["percent"], task=task,
                      notes={"pruning": pruning, "sparsity": sparsity(qmodel), "hidden": []}, status="ok",
                      seconds={"train": round(t1 - t0, 1), "convert": round(time.perf_counter() - t1, 1)})
    except Exception as err:  # noqa: BLE001 (recorded with its traceback; the scan goes on)
        result.update(error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc(limit=8))
    result["finished"] = round(time.time() - started, 1)
    return result
