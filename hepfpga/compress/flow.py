"""`compress_model`: any trained Keras model and its data -> pruned, quantization-aware trained, verified firmware.

float metrics -> pruning (tfmot magnitude on every prunable layer, or whole Dense neurons removed) -> quantization-
aware training of the same architecture (QKeras with fixed bit widths, or HGQ with learned ones; the sparsity
held for QKeras) -> `convert_model` (verified in C-sim as always) -> estimate. Each step's metric on the
validation data is reported; the firmware's against float decides the exit: within `max_loss` (accuracy points
for classifiers, relative MSE for regressions) or not. Bad data are refused before any training, and the project
folder (with float.h5, pruned.h5, model.h5, report.json, report.md and compression.png in `hepfpga/`) appears
complete or not at all.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from hepfpga.data import as_model_input, check_finite, head, per_input
from hepfpga.errors import DataError
from hepfpga.options import CompressOptions, ConvertOptions, check

#: Default largest loss of the firmware against float: accuracy points / relative MSE.
MAX_LOSS = {"classification": 1.0, "regression": 0.1}
CALIBRATION_EVENTS = 5000


def guess_task(model) -> str:
    """classification when the model ends in a softmax or sigmoid, else regression."""
    last = model.layers[-1]
    activation = getattr(getattr(last, "activation", None), "__name__", "")
    return "classification" if activation in ("softmax", "sigmoid") or type(last).__name__ == "Softmax" \
        else "regression"


def check_data(model, x, y, task: str, what: str = "training data"):
    """(inputs as a list of float32 arrays, targets) checked against the model: one array per input with its
    shape, as many events as targets, no NaN/inf; classifier labels as class indices (one-hot accepted) in range,
    regression targets shaped like the output. DataError saying what is wrong, before any training."""
    names = list(model.input_names)
    xs = per_input(x)
    if xs is None or len(xs) != len(names):
        raise DataError(f"{what}: the model has {len(names)} input(s) ({', '.join(names)}); got "
                        f"{0 if xs is None else len(xs)} array(s)")
    shapes = [tuple(t.shape[1:]) for t in model.inputs]
    for name, arr, shape in zip(names, xs, shapes):
        if arr.ndim < 1 or tuple(arr.shape[1:]) != shape:
            raise DataError(f"{what}: input {name!r} has shape {arr.shape}; the model expects (N, "
                            f"{', '.join(map(str, shape))})")
        check_finite(arr, f"{what} (input {name!r})")
    n = len(xs[0])
    if any(len(a) != n for a in xs):
        raise DataError(f"{what}: the inputs hold different numbers of events: {[len(a) for a in xs]}")
    if n < 10:
        raise DataError(f"{what}: {n} events are too few to train and validate on")
    y = np.asarray(y)
    if len(y) != n:
        raise DataError(f"{what}: {len(y)} targets for {n} events")
    if not np.issubdtype(y.dtype, np.number):
        raise DataError(f"{what}: the targets are {y.dtype}, not numbers")
    check_finite(y.astype(np.float64), f"{what} (targets)")
    out_shape = tuple(model.output_shape[1:])
    n_out = int(np.prod(out_shape))
    if task == "classification":
        if y.ndim == 2 and y.shape[1] == n_out and n_out > 1:  # one-hot
            if not np.all((y == 0) | (y == 1)) or not np.all(y.sum(axis=1) == 1):
                raise DataError(f"{what}: labels of shape {y.shape} are not one-hot (one 1 per event)")
            y = y.argmax(axis=1)
        if y.ndim != 1 or not np.all(y == np.round(y)):
            raise DataError(f"{what}: classifier labels must be class indices (N,) or one-hot (N, {n_out}); got "
                            f"shape {y.shape}" + ("" if y.ndim != 1 else " with non-integer values"))
        classes = max(n_out, 2)
        if y.min() < 0 or y.max() >= classes:
            raise DataError(f"{what}: labels run from {int(y.min())} to {int(y.max())}, but the model has {n_out} "
                            f"output(s): labels must be 0..{classes - 1} (is this a regression? --task regression)")
        return xs, y.astype(np.int64)
    if y.reshape(len(y), -1).shape[1] != n_out:
        raise DataError(f"{what}: regression targets of shape {y.shape}, the model's output is (N, "
                        f"{', '.join(map(str, out_shape))})")
    return xs, y.reshape((n, *out_shape)).astype(np.float32)


def metric(task: str, y, outputs) -> float:
    """Accuracy in percent (classification: argmax, or > 0.5 for one output) or mean squared error."""
    outputs = np.asarray(outputs).reshape(len(y), -1)
    if task == "classification":
        predicted = outputs.argmax(axis=1) if outputs.shape[1] > 1 else (outputs[:, 0] > 0.5).astype(int)
        return float(100.0 * np.mean(predicted == np.asarray(y).reshape(-1)))
    return float(np.mean((outputs - np.asarray(y).reshape(len(y), -1)) ** 2))


def loss_of(task: str, reference: float, value: float) -> float:
    """Accuracy points lost, or the relative increase of the MSE."""
    return reference - value if task == "classification" else (value - reference) / max(reference, 1e-30)


def _split(xs, y, fraction: float, seed: int):
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(round(len(y) * (1 - fraction)))
    train, val = order[:cut], order[cut:]
    return [a[train] for a in xs], y[train], [a[val] for a in xs], y[val]


def compress_model(model, x, y, output_dir: str | Path, options: CompressOptions | None = None, validation=None,
                   force: bool = False, log=print, inputs=()) -> dict:
    """Prune, quantize, convert and verify `model` on data (`x`: one array or a list per input, `y`: labels or
    targets); `validation` = (x_val, y_val), else a `validation_fraction` of the data is held out. Returns the
    report (also in `<output_dir>/hepfpga/report.json`): {"task", "metrics": {"float", "pruned", "quantized",
    "firmware"}, "metric", "loss", "max_loss", "passed", "sparsity", "agreement", "estimate", "steps", ...}."""
    import tensorflow as tf

    opt = options or CompressOptions()
    check(opt)
    task = opt.task or guess_task(model)
    xs, y = check_data(model, x, y, task)
    if validation is not None:
        xv, yv = check_data(model, validation[0], validation[1], task, "validation data")
    else:
        xs, y, xv, yv = _split(xs, y, opt.validation_fraction, opt.seed)
    from hepfpga.convert.supported import check_supported
    from hepfpga.convert.verified import affine_preprocessing
    from hepfpga.csim.emulate import require_compiler
    from hepfpga.project import check_destination

    check_destination(output_dir, force=True, inputs=inputs)
    model = affine_preprocessing(model, log)
    check_supported(model)
    require_compiler()
    max_loss = opt.max_loss if opt.max_loss is not None else MAX_LOSS[task]
    name = "accuracy (%)" if task == "classification" else "MSE"
    steps, times = {}, {}
    t0 = time.perf_counter()

    def evaluate(label, m) -> float:
        value = metric(task, yv, m.predict(as_model_input(xv), batch_size=1024, verbose=0))
        steps[label] = value
        times[label] = round(time.perf_counter() - t0, 1)
        log(f"[compress] {label}: {name} {value:.4g}")
        return value

    if opt.batch_size is None:  # enough optimizer steps per epoch on small data sets
        opt = replace(opt, batch_size=int(np.clip(len(y) // 100, 32, 1024)))
    tf.keras.utils.set_random_seed(opt.seed)
    float_model = model
    if opt.float_epochs:
        float_model = tf.keras.models.clone_model(model)
        float_model.set_weights(model.get_weights())
        _fit(float_model, xs, y, xv, yv, task, opt, opt.float_epochs, 1e-3, early_stopping=True)
    reference = evaluate("float", float_model)
    pruned, sparsity_notes = prune_step(float_model, xs, y, xv, yv, task, opt, log)
    evaluate("pruned", pruned)
    quantized, qnotes, from_logits = quantize_step(pruned, xs, y, xv, yv, task, opt, log)
    evaluate("quantized", quantized)
    from hepfpga.compress.prune import sparsity

    result = {"task": task, "metric": name, "max_loss": max_loss, "options": asdict(opt),
              "data": {"train": len(y), "validation": len(yv)}, "pruning": sparsity_notes, "quantization": qnotes,
              "sparsity": sparsity(quantized)}
    convert = ConvertOptions(backend=opt.backend, part=opt.part, clock_period=opt.clock_period, io_type=opt.io_type,
                             reuse_factor=opt.reuse_factor, strategy=opt.strategy, fit=opt.fit, max_share=opt.max_share,
                             max_latency_ns=opt.max_latency_ns, min_interval=opt.min_interval,
                             max_events=min(opt.max_events, len(yv)), trace_events=min(1000, len(yv)))
    models = {"float": float_model, "pruned": pruned}

    def extras(results: Path, report: dict, firmware) -> None:
        fw = np.asarray(firmware)
        n = len(fw)
        value = metric(task, yv[:n], fw)
        steps["firmware"] = value
        times["firmware"] = round(time.perf_counter() - t0, 1)
        log(f"[compress] firmware: {name} {value:.4g} on {n} validation events")
        result.update(_verdict(task, reference, value, max_loss, from_logits))
        result["metrics"] = dict(steps)
        result["seconds"] = dict(times)
        result.update(agreement=report["agreement"], estimate=report.get("estimate"), fit=report.get("fit"),
                      convert_passed=report["passed"], fingerprint=report.get("fingerprint"))
        for label, m in models.items():
            m.save(results / f"{label}.h5")
        (results / "report.json").write_text(json.dumps(result, indent=1, default=float))
        from hepfpga.report.plots import compression_plot
        from hepfpga.report.summaries import compress_summary, convert_summary

        (results / "report.md").write_text(compress_summary(result) + "\n\n" + convert_summary(report) + "\n")
        compression_plot(steps, result["sparsity"], name, results / "compression.png",
                         title=f"{model.name}: {opt.method}, {100 * opt.sparsity:.0f} % {opt.pruning} pruning")

    from hepfpga.convert.verified import convert_model

    calibration = [a[:CALIBRATION_EVENTS] for a in xs]
    convert_model(quantized, output_dir, as_model_input(calibration), as_model_input(xv), convert, force=force,
                  log=log, inputs=inputs, extras=extras)
    if "firmware" not in steps:  # an identical earlier build was reused: its report stands
        return json.loads((Path(output_dir) / "hepfpga" / "report.json").read_text())
    from hepfpga.report.summaries import compress_summary

    log("\n" + compress_summary(result))
    return result


def _verdict(task, reference, value, max_loss, from_logits) -> dict:
    loss = loss_of(task, reference, value)
    out = {"loss": loss, "passed": bool(loss <= max_loss)}
    if from_logits:
        out["note"] = "the HGQ model and its firmware give logits (the softmax was left out); accuracy is argmax"
    return out


def _fit(model, xs, y, xv, yv, task, opt: CompressOptions, epochs: int, learning_rate: float, callbacks=(),
         early_stopping=False, from_logits=False):
    from hepfpga.train import fit_task

    fit_task(model, as_model_input(xs), y, as_model_input(xv), yv, task, epochs=epochs, batch_size=opt.batch_size,
             learning_rate=learning_rate, callbacks=callbacks, early_stopping=early_stopping, from_logits=from_logits,
             seed=opt.seed)


def prune_step(model, xs, y, xv, yv, task, opt: CompressOptions, log):
    """The pruned float model (fine-tuned) and what was removed."""
    from hepfpga.compress import prune, structured

    if opt.pruning == "none" or opt.sparsity == 0:
        return model, {"kind": "none"}
    if opt.pruning == "neurons":
        narrow, removed = structured.remove_units(model, opt.sparsity)
        _fit(narrow, xs, y, xv, yv, task, opt, opt.epochs, opt.learning_rate, early_stopping=True)
        log(f"[compress] neurons removed: {removed}")
        return narrow, {"kind": "neurons", "removed": removed}
    steps = int(np.ceil(len(y) / opt.batch_size))
    wrapped = prune.prune(model, opt.sparsity, end_step=steps * max(1, opt.epochs // 2))
    _fit(wrapped, xs, y, xv, yv, task, opt, opt.epochs, opt.learning_rate, prune.pruning_callbacks())
    pruned = prune.strip(wrapped)
    return pruned, {"kind": "magnitude", "target": opt.sparsity}


def quantize_step(pruned, xs, y, xv, yv, task, opt: CompressOptions, log):
    """The quantization-aware model, fine-tuned (QKeras: with the zeros of pruning held), its notes, and whether
    it gives logits (HGQ without the final softmax)."""
    from hepfpga.compress import prune, qat

    sample = as_model_input(head(xs, 2000))
    if opt.method == "hgq":
        from HGQ import FreeBOPs, ResetMinMax

        hmodel, notes = qat.to_hgq(pruned, opt.beta)
        logits = bool(notes["softmax_left_out"])
        _fit(hmodel, xs, y, xv, yv, task, opt, opt.epochs, opt.learning_rate, [ResetMinMax(), FreeBOPs()],
             from_logits=logits)
        log(f"[compress] HGQ model trained (beta {opt.beta:g}); its bit widths are learned")
        return hmodel, notes, logits
    qmodel, notes = qat.to_qkeras(pruned, sample, opt.weight_bits, opt.activation_bits)
    held = max(prune.sparsity(pruned).values(), default=0.0)
    if opt.pruning == "magnitude" and held > 0:
        steps = int(np.ceil(len(y) / opt.batch_size))
        wrapped = prune.prune(qmodel, held, initial_sparsity=held, end_step=steps)
        _fit(wrapped, xs, y, xv, yv, task, opt, opt.epochs, opt.learning_rate, prune.pruning_callbacks(),
             early_stopping=True)
        qmodel = prune.strip(wrapped)
    else:
        _fit(qmodel, xs, y, xv, yv, task, opt, opt.epochs, opt.learning_rate, early_stopping=True)
    log(f"[compress] QKeras model trained ({opt.weight_bits}-bit weights, {opt.activation_bits}-bit ReLUs; input "
        f"{notes['input_quantizer']})")
    return qmodel, notes, False


__all__ = ["compress_model", "check_data", "guess_task", "metric"]
