"""Firmware against Keras: every layer's Keras output under hls4ml's names, layer by layer to say where and
why they diverge, the values feeding a softmax, observed ranges against the firmware types."""

from __future__ import annotations

import contextlib
import io

import numpy as np

from hepfpga.fixed import Fixed, value_stats
from hepfpga.report import metrics

#: A layer diverges when max |firmware - Keras| exceeds this fraction of the layer's Keras range.
DIVERGENCE = 0.05


def keras_layer_outputs(model, x) -> dict[str, np.ndarray]:
    """Every layer's Keras output on `x`, named as hls4ml names its layers (hls4ml's profiler).

    hls4ml's profiler (`get_ymodel_keras`) splits a layer's built-in activation off by setting
    `layer.activation = None`, which recurrent layers refuse (read-only property). hls4ml converts an
    LSTM/GRU with its activations as one layer, so models with recurrent layers are traced layer by
    layer whole, under the same names.
    """
    import tensorflow as tf
    from hls4ml.model.profiling import _is_ignored_layer, get_ymodel_keras

    if not any(isinstance(layer, tf.keras.layers.RNN) for layer in model.layers):
        with contextlib.redirect_stdout(io.StringIO()):
            return get_ymodel_keras(model, x)
    layers = [layer for layer in model.layers if not _is_ignored_layer(layer)]
    probe = tf.keras.Model(model.inputs, [layer.output for layer in layers])
    outputs = probe.predict(x, batch_size=1024, verbose=0)
    return {layer.name: np.asarray(out) for layer, out in zip(layers, outputs)}


def type_range(precision) -> tuple[float, float]:
    """(largest magnitude, step) an hls4ml precision can hold; (inf, 0) for anything not fixed-point."""
    t = Fixed.of(precision)
    return (t.top, t.step) if t is not None else (float("inf"), 0.0)


def layer_by_layer(keras_outputs: dict[str, np.ndarray], traces: dict[str, np.ndarray], hls_model) -> list[dict]:
    """Compare each traced firmware layer with the Keras layer of the same name, in graph order.

    Each row: layer, type (firmware result type), keras_max (max |x|), max_abs_diff, relative
    (max_abs_diff / keras_max), overflow (values outside the type's range, as a fraction of all values),
    verdict ("ok", "overflow" or "precision loss"), step (the result type's resolution), inherited (the
    largest error the layer's inputs can carry into it: their max |Δ| times the layer's gain, see `gain`)
    and excess (max_abs_diff / (the result type's rounding + inherited): above 1, the layer adds error that
    rounding its result and its inputs' errors do not explain, from its weights, accumulator or overflow;
    where a divergence starts).
    """
    rows, errors = [], {}
    for node in hls_model.get_layers():
        name = node.name
        inherited = gain(node) * sum(errors.get(i, 0.0) for i in node.inputs)
        precision = node.get_output_variable().type.precision
        top, step = type_range(precision)
        if name not in traces or name not in keras_outputs:
            errors[name] = inherited  # untraced (an input, or inserted by hls4ml): passes its inputs' error on
            continue
        fw = np.asarray(traces[name], dtype=np.float64)
        ref = np.asarray(keras_outputs[name], dtype=np.float64).reshape(fw.shape)
        keras_max = float(np.abs(ref).max()) if ref.size else 0.0
        diff = float(np.abs(fw - ref).max()) if ref.size else 0.0
        errors[name] = diff
        relative = diff / keras_max if keras_max > 0 else diff
        outside = float(np.mean((ref >= top) | (ref < -top))) if np.isfinite(top) else 0.0
        verdict = "ok"
        if relative > DIVERGENCE:
            verdict = "overflow" if outside > 0 else "precision loss"
        explained = own_rounding(node) + inherited
        rows.append(dict(layer=name, type=str(precision), keras_max=keras_max, max_abs_diff=diff,
                         relative=relative, overflow=outside, step=step, verdict=verdict, inherited=inherited,
                         excess=diff / explained if explained > 0 else (float("inf") if diff > 0 else 0.0)))
    return rows


def own_rounding(node) -> float:
    """The largest error a layer's result type makes by rounding: half its step (RND modes) or a step."""
    t = Fixed.of(node.get_output_variable().type.precision)
    if t is None:
        return 0.0
    return t.step / 2 if str(t.rounding).upper().startswith("RND") else t.step


def gain(node) -> float:
    """How much a layer can amplify an error in its inputs (an upper bound, per output value): the largest
    sum of |weights| feeding one output for dense and convolution layers, the largest |scale| of a batch
    normalization, 1 for activations, pooling, reshapes and merges (hls4ml's sigmoid, tanh and ReLU are
    1-Lipschitz; a sum's input errors add up, counted by the caller)."""
    weights = getattr(node, "weights", {}) or {}
    for key in ("weight", "depthwise", "scale"):
        var = weights.get(key)
        data = getattr(var, "data", None)
        if data is None or np.ndim(data) == 0:
            continue
        w = np.abs(np.asarray(data, dtype=np.float64))
        if key == "scale":
            return float(w.max()) if w.size else 1.0
        if w.ndim == 1:
            return float(w.max()) if w.size else 1.0
        if key == "weight":
            return float(w.reshape(-1, w.shape[-1]).sum(0).max())
        pointwise = getattr(weights.get("pointwise"), "data", None)  # a separable convolution's second product
        second = np.abs(np.asarray(pointwise, dtype=np.float64)) if pointwise is not None else np.ones((1, 1))
        return float(w.reshape(-1, w.shape[-2] * w.shape[-1]).sum(0).max() *
                     second.reshape(-1, second.shape[-1]).sum(0).max())
    return 1.0


def first_divergence(rows: list[dict]) -> dict | None:
    """The first row whose verdict is not "ok", or None."""
    return next((r for r in rows if r["verdict"] != "ok"), None)


def pre_softmax(hls_model, keras_layers: dict, traces: dict) -> dict | None:
    """Agreement of the values feeding a softmax (the logits), or None without a softmax: exact for QKeras
    models."""
    from hls4ml.model.layers import Softmax

    softmax = next((n for n in hls_model.get_layers() if isinstance(n, Softmax)), None)
    node = softmax.get_input_node() if softmax is not None else None
    while node is not None and not (node.name in traces and node.name in keras_layers):
        node = node.get_input_node()  # skip layers hls4ml inserted (e.g. linear activations)
    if node is None:
        return None
    fw = np.asarray(traces[node.name])
    return {"layer": node.name, **metrics.agreement(np.asarray(keras_layers[node.name]).reshape(fw.shape), fw)}


def softmax_table_step(hls_model) -> float | None:
    """One step of a table-based softmax at the model's output, in probability units, or None when the output
    is not one (or not hls4ml's "stable" softmax, the one hepfpga configures).

    hls4ml's stable softmax (`nnet_activation.h`) looks exp(-d) up by the top log2(table_size) bits of
    d = x_max - x_i (type `inp_norm_t`) and 1/sum by the top bits of the sum (`inv_inp_t`), with each entry
    the value at its bin's lower edge: p = exp(-d) / sum moves by at most one exp bin (|d/dd exp(-d)| <= 1
    for d >= 0) plus one inverse bin (|d/ds 1/s| <= 1 for s >= 1, the largest term being exp(0) = 1)
    between neighbouring entries, plus the rounding of the two tables' values and of the result. Values
    within one such step of Keras's are as close as the tables can come."""
    from hls4ml.model.layers import Softmax

    outputs = [hls_model.graph[name] for name in hls_model.outputs if name in hls_model.graph]
    node = outputs[-1] if outputs else None
    if not isinstance(node, Softmax) or str(node.get_attr("implementation", "stable")).lower() != "stable":
        return None
    def bin_width(key, table):
        size = int(node.get_attr(f"{table}_table_size", node.get_attr("table_size", 1024)))
        t = Fixed.of(getattr(node.get_attr(key), "precision", None))
        return 2.0 ** (t.integer - max(1, int(np.ceil(np.log2(size))))) if t is not None else None

    def step(key):
        t = Fixed.of(getattr(node.get_attr(key), "precision", None))
        return t.step if t is not None else 0.0

    bins = [bin_width("inp_norm_t", "exp"), bin_width("inv_inp_t", "inv")]
    if None in bins:
        return None
    return float(sum(bins) + step("exp_table_t") + step("inv_table_t") +
                 type_range(node.get_output_variable().type.precision)[1])


def profile_rows(hls_model, keras_layers: dict) -> list[dict]:
    """Per layer: observed max |x| and RMS against the firmware result type's integer and fractional bits
    (the rows of `hepfpga.report.plots.precision_profile`)."""
    rows = []
    for node in hls_model.get_layers():
        if node.name not in keras_layers:
            continue
        precision = node.get_output_variable().type.precision
        top, step = type_range(precision)
        if not np.isfinite(top):
            continue
        max_abs, rms = value_stats(keras_layers[node.name])
        rows.append(dict(layer=node.name, result=",".join(str(precision).split(",")[:2]).rstrip(">") + ">",
                         max=max_abs, rms=rms, integer=int(np.log2(top)) + 1, fraction=int(round(-np.log2(step)))))
    return rows
