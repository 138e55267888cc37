"""`compress_model`: any trained Keras model and its data -> pruned, quantization-aware trained, verified firmware.

float metrics -> pruning -> quantization-aware training (`hepfpga.compress.steps`) -> `convert_model` (verified
in C-sim as always) -> estimate. Each step's metric on the validation data is reported; the firmware's against
float decides the exit: within `max_loss` (accuracy points for classifiers, relative MSE for regressions) or
not. Bad data are refused before any training, and the project folder (with float.h5, pruned.h5, model.h5,
report.json, report.md and compression.png in `hepfpga/`) appears complete or not at all.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from hepfpga.compress.steps import (
    MAX_LOSS,
    check_data,
    fit_step,
    guess_task,
    hold_out,
    loss_of,
    metric,
    prune_step,
    quantize_step,
)
from hepfpga.data import as_model_input
from hepfpga.options import CompressOptions, ConvertOptions, check

#: Events of the training data that set a float model's precisions (the QAT model's are its quantizers').
CALIBRATION_EVENTS = 5000


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
        xs, y, xv, yv = hold_out(xs, y, opt.validation_fraction, opt.seed)
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
        fit_step(float_model, xs, y, xv, yv, task, opt, opt.float_epochs, 1e-3, early_stopping=True)
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
