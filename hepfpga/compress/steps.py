"""The steps of compressing any trained model on its data (`hepfpga.compression.compress_model` runs them):
the task and the data checked, the metric, pruning (tfmot magnitude on every prunable layer, or whole Dense
neurons removed), quantization-aware training of the same architecture (QKeras with fixed bit widths, or HGQ
with learned ones). The design scan runs the same steps for each point of `scan --model`."""

from __future__ import annotations

import numpy as np

from hepfpga.data import as_model_input, check_finite, head, per_input
from hepfpga.errors import DataError
from hepfpga.options import CompressOptions

#: Default largest loss of the firmware against float: accuracy points / relative MSE.
MAX_LOSS = {"classification": 1.0, "regression": 0.1}


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


def hold_out(xs, y, fraction: float, seed: int):
    """(training inputs, targets, validation inputs, targets): a random `fraction` of the events held out."""
    order = np.random.default_rng(seed).permutation(len(y))
    cut = int(round(len(y) * (1 - fraction)))
    train, val = order[:cut], order[cut:]
    return [a[train] for a in xs], y[train], [a[val] for a in xs], y[val]


def fit_step(model, xs, y, xv, yv, task, opt: CompressOptions, epochs: int, learning_rate: float, callbacks=(),
             early_stopping=False, from_logits=False):
    """One training stage of compression (`hepfpga.train.fit_task` with the options' batch size and seed)."""
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
        fit_step(narrow, xs, y, xv, yv, task, opt, opt.epochs, opt.learning_rate, early_stopping=True)
        log(f"[compress] neurons removed: {removed}")
        return narrow, {"kind": "neurons", "removed": removed}
    steps = int(np.ceil(len(y) / opt.batch_size))
    wrapped = prune.prune(model, opt.sparsity, end_step=steps * max(1, opt.epochs // 2))
    fit_step(wrapped, xs, y, xv, yv, task, opt, opt.epochs, opt.learning_rate, prune.pruning_callbacks())
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
        fit_step(hmodel, xs, y, xv, yv, task, opt, opt.epochs, opt.learning_rate, [ResetMinMax(), FreeBOPs()],
             from_logits=logits)
        log(f"[compress] HGQ model trained (beta {opt.beta:g}); its bit widths are learned")
        return hmodel, notes, logits
    qmodel, notes = qat.to_qkeras(pruned, sample, opt.weight_bits, opt.activation_bits)
    held = max(prune.sparsity(pruned).values(), default=0.0)
    if opt.pruning == "magnitude" and held > 0:
        steps = int(np.ceil(len(y) / opt.batch_size))
        wrapped = prune.prune(qmodel, held, initial_sparsity=held, end_step=steps)
        fit_step(wrapped, xs, y, xv, yv, task, opt, opt.epochs, opt.learning_rate, prune.pruning_callbacks(),
             early_stopping=True)
        qmodel = prune.strip(wrapped)
    else:
        fit_step(qmodel, xs, y, xv, yv, task, opt, opt.epochs, opt.learning_rate, early_stopping=True)
    log(f"[compress] QKeras model trained ({opt.weight_bits}-bit weights, {opt.activation_bits}-bit ReLUs; input "
        f"{notes['input_quantizer']})")
    return qmodel, notes, False
