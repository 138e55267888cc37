"""The jet-tagging chain, composed from the stage modules:

ROOT --uproot--> features --train--> float MLP --prune--> sparse --QAT--> QKeras
     --hls4ml--> HLS project --g++ C-sim--> firmware outputs --compare--> report

`jet_tagging` runs it on a ROOT file into a project folder; `demo` first writes the synthetic jet
dataset. Each step is one call into hepfpga.data / models / compress / convert / csim / report; this
module holds no logic of its own beyond passing results along and checking the targets.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from hepfpga.data import JET_CLASSES, JET_FEATURES, Scaler, check_finite, read_root, split, write_jets_root

DEMO_MARKER = ".hepfpga-demo"
DEMO_OUTPUT = Path("hls_projects") / "demo_jet_tagger"
#: Folder inside a project where hepfpga puts models, scaler, reports and plots.
RESULTS = "hepfpga"


@dataclass
class JetTaggingOptions:
    """Everything the chain needs besides the data; serialised into report.json."""

    tree: str = "jets"
    features: list[str] = field(default_factory=lambda: list(JET_FEATURES))
    label_branch: str | list[str] | None = "label"
    classes: list[str] = field(default_factory=lambda: list(JET_CLASSES))
    hidden: list[int] = field(default_factory=lambda: [64, 32, 32])
    epochs: int = 40  # float training (early stopping on the validation loss)
    prune_epochs: int = 20  # float fine-tune while sparsity ramps up
    qat_epochs: int = 20  # QKeras fine-tune at the target sparsity
    batch_size: int = 1024
    target_sparsity: float = 0.75
    weight_bits: int = 6
    weight_integer: int = 0
    activation_bits: int = 6
    activation_integer: int = 0
    input_bits: int = 16
    input_integer: int = 5
    backend: str = "Vitis"
    part: str = "xcvu13p-flga2577-2-e"
    clock_period: float = 5.0
    io_type: str = "io_parallel"
    trace_events: int = 5_000  # test events whose logits are traced in C-sim (all are compared at the output)
    seed: int = 42


#: Targets of the jet-tagging chain, checked and printed by every run.
TARGETS = {
    "firmware accuracy within 1.0 pp of float": lambda r: r["accuracy"]["float"] - r["accuracy"]["firmware"] <= 0.01,
    "sparsity >= 70% in every Dense layer": lambda r: min(r["sparsity"].values()) >= 0.70,
    "0 mismatching logits (firmware vs QAT Keras)": lambda r: r["agreement"]["logits"]["mismatching_values"] == 0,
    "softmax argmax agreement >= 99.9%": lambda r: r["agreement"]["softmax"]["argmax_agreement"] >= 0.999,
}


def _submodel(model, layer_name: str):
    import tensorflow as tf

    return tf.keras.Model(model.inputs, model.get_layer(layer_name).output)


def jet_tagging(source, output_dir: str | Path, options: JetTaggingOptions | None = None,
                force: bool = False, log=print) -> dict:
    """Run the whole chain on ROOT data `source` (see `hepfpga.data.read_root`) into `output_dir`.

    The HLS project and `<output_dir>/hepfpga/` (models, scaler, report.json, report.md, roc.png) appear
    only when the run succeeded; an existing `output_dir` is replaced only with `force`. Returns the report.
    """
    from hepfpga.convert.project import staged_project

    with staged_project(output_dir, force=force) as stage:
        report = _run(source, stage, options or JetTaggingOptions(), log)
    return _finish(report, Path(output_dir), log)


def demo(output_dir: str | Path = DEMO_OUTPUT, n_events: int = 200_000, options: JetTaggingOptions | None = None,
         force: bool = False, log=print) -> dict:
    """Write the synthetic jet dataset to ROOT, then run `jet_tagging` on it into `output_dir`.

    Replaces its own earlier output (folders carrying the demo marker); any other existing folder needs
    `force`. Returns the report.
    """
    from hepfpga.convert.project import staged_project

    opt = options or JetTaggingOptions()
    with staged_project(output_dir, force=force, owner_marker=DEMO_MARKER) as stage:
        (stage / RESULTS).mkdir()
        log(f"[data] writing {n_events} synthetic jets to ROOT with uproot")
        root_file = write_jets_root(stage / RESULTS / "jets.root", n_events, seed=opt.seed)
        report = _run(root_file, stage, opt, log, source_label=f"{RESULTS}/jets.root (synthetic, {n_events} events)")
    return _finish(report, Path(output_dir), log)


def _run(source, out: Path, opt: JetTaggingOptions, log, source_label: str | None = None) -> dict:
    from hepfpga import convert as conv
    from hepfpga import train
    from hepfpga.compress import prune, quantize
    from hepfpga.csim import emulate
    from hepfpga.csim.fast import predict_compiled
    from hepfpga.models import build
    from hepfpga.report import metrics

    emulate.require_compiler()  # fail before training, not after
    t_start = time.perf_counter()
    results = out / RESULTS
    results.mkdir(exist_ok=True)
    timings = {}

    def stage(name):
        timings[name] = time.perf_counter()
        log(f"\n[{name}]")

    stage("data")
    x, y = read_root(source, opt.tree, opt.features, opt.label_branch)
    check_finite(x, "features read from ROOT")
    if y.min() < 0 or y.max() >= len(opt.classes):
        from hepfpga.errors import DataError

        raise DataError(f"labels run from {y.min()} to {y.max()}, but {len(opt.classes)} classes {opt.classes} "
                        f"were given: labels must be 0..{len(opt.classes) - 1}")
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = split(x, y, seed=opt.seed)
    scaler = Scaler.fit(x_tr, opt.features)
    scaler.save(results / "scaler.json")
    x_tr, x_va, x_te = (scaler.transform(a) for a in (x_tr, x_va, x_te))
    log(f"  {len(x)} events: {len(x_tr)} train / {len(x_va)} validation / {len(x_te)} test; "
        f"{len(opt.features)} features, {len(opt.classes)} classes")

    arch = dict(n_inputs=len(opt.features), n_classes=len(opt.classes), hidden=tuple(opt.hidden))
    fit = dict(x_train=x_tr, y_train=y_tr, x_val=x_va, y_val=y_va, batch_size=opt.batch_size, seed=opt.seed)
    steps_per_epoch = int(np.ceil(len(x_tr) / opt.batch_size))

    stage("float")
    float_model = build("mlp", **arch, name="float")
    train.fit(float_model, epochs=opt.epochs, **fit)
    float_model.save(results / "float.h5")

    stage("prune")
    pruned = prune.prune(float_model, opt.target_sparsity, end_step=steps_per_epoch * max(1, opt.prune_epochs // 2))
    train.fit(pruned, epochs=opt.prune_epochs, learning_rate=5e-4, callbacks=prune.pruning_callbacks(),
              early_stopping=False, **fit)
    pruned = prune.strip(pruned)
    pruned.save(results / "pruned.h5")

    stage("qat")
    bits = dict(weight_bits=opt.weight_bits, weight_integer=opt.weight_integer, activation_bits=opt.activation_bits,
                activation_integer=opt.activation_integer, input_bits=opt.input_bits, input_integer=opt.input_integer)
    qmodel = quantize.quantize(pruned, "mlp", arch, **bits)
    qmodel = prune.prune(qmodel, opt.target_sparsity, initial_sparsity=opt.target_sparsity, end_step=steps_per_epoch)
    train.fit(qmodel, epochs=opt.qat_epochs, learning_rate=5e-4, callbacks=prune.pruning_callbacks(),
              early_stopping=False, **fit)
    qmodel = prune.strip(qmodel)
    sparsity = prune.sparsity(qmodel)
    for name, s in sparsity.items():
        log(f"  {name}: {100 * s:.1f}% of weights pruned")

    stage("convert")
    x_fw = quantize.quantize_inputs(qmodel, x_te)
    keras_out = qmodel.predict(x_fw, batch_size=8192, verbose=0)
    keras_logits = _submodel(qmodel, "logits").predict(x_fw, batch_size=8192, verbose=0)
    np.save(results / "tb_input.npy", x_fw[:1000])
    np.save(results / "tb_output.npy", keras_out[:1000])
    config = conv.hls_config(qmodel, opt.backend, trace_layers=["logits"])
    hls_model = conv.convert(qmodel, out, config=config, backend=opt.backend, part=opt.part,
                             clock_period=opt.clock_period, io_type=opt.io_type,
                             input_data_tb=str(results / "tb_input.npy"), output_data_tb=str(results / "tb_output.npy"))
    log(f"  hls4ml {opt.backend} project, part {opt.part}, {opt.clock_period} ns clock, {opt.io_type}")

    stage("csim")
    # Logits by tracing (hls4ml's per-event loop) on the first events; every event's outputs from the
    # batched engine on the same compiled library.
    _, traces = emulate.run(hls_model, x_fw[: opt.trace_events], trace=True, log=log)
    fw_logits = traces["logits"]
    fw_out = predict_compiled(hls_model, x_fw, log=log).reshape(keras_out.shape)
    keras_logits = keras_logits[: len(fw_logits)]

    stage("report")
    np.savez_compressed(results / "test_outputs.npz", y=y_te, firmware=fw_out.astype(np.float32),
                        firmware_logits=fw_logits.astype(np.float32), qat=keras_out, qat_logits=keras_logits)
    scores = {
        "float": float_model.predict(x_te, batch_size=8192, verbose=0),
        "pruned": pruned.predict(x_te, batch_size=8192, verbose=0),
        "qat": keras_out,
        "firmware": fw_out,
    }
    timings["end"] = time.perf_counter()
    names = list(timings)
    report = {
        "options": asdict(opt),
        "data": {"source": source_label or str(source), "events": {"train": len(x_tr), "validation": len(x_va), "test": len(x_te)}},
        "accuracy": {k: metrics.accuracy(y_te, s) for k, s in scores.items()},
        "roc_auc": {k: metrics.roc_auc_per_class(y_te, s, opt.classes) for k, s in scores.items()},
        "sparsity": sparsity,
        "agreement": {"logits": metrics.agreement(keras_logits, fw_logits),
                      "softmax": metrics.agreement(keras_out, fw_out)},
        "precisions": {layer.name: {k: str(v.precision) for k, v in layer.get_layer_precision().items()}
                       for layer in hls_model.get_layers()},
        "seconds": {names[i]: round(timings[names[i + 1]] - timings[names[i]], 1) for i in range(len(names) - 1)},
    }
    report["seconds"]["total"] = round(time.perf_counter() - t_start, 1)
    report["targets"] = {name: bool(check(report)) for name, check in TARGETS.items()}
    _write_reports(report, results, {k: metrics.roc_curves(y_te, scores[k], opt.classes) for k in ("float", "firmware")})
    return report


def _write_reports(report: dict, results: Path, curves: dict) -> None:
    from hepfpga.report.plots import roc_plot

    (results / "report.json").write_text(json.dumps(report, indent=1))
    (results / "report.md").write_text(summary(report) + "\n")
    roc_plot(curves, results / "roc.png", title="Jet tagging: float Keras vs firmware (C-sim)")


def summary(report: dict) -> str:
    """The results as Markdown tables: per-model accuracy/AUC, agreement, targets."""
    from hepfpga.report.tables import markdown

    classes = report["options"]["classes"]
    rows = [[k, 100 * report["accuracy"][k], *(report["roc_auc"][k][c] for c in classes)] for k in report["accuracy"]]
    parts = ["Test-set performance", markdown(["model", "accuracy %", *(f"AUC {c}" for c in classes)], rows), "",
             "Firmware (C-sim) vs QAT Keras"]
    rows = [[k, a["events"], 100 * a["argmax_agreement"], a["mismatching_values"], a["max_abs_diff"]]
            for k, a in report["agreement"].items()]
    parts += [markdown(["output", "events", "argmax agreement %", "mismatching values", "max |Δ|"], rows), "",
              "Targets"]
    parts.append(markdown(["target", "met"], [[k, "yes" if v else "NO"] for k, v in report["targets"].items()]))
    return "\n".join(parts)


def _finish(report: dict, output_dir: Path, log) -> dict:
    log("\n" + summary(report))
    log(f"\nHLS project:   {output_dir}/ (build with Vitis HLS: `vitis_hls -f build_prj.tcl` there)")
    log(f"Models/scaler: {output_dir / RESULTS}/float.h5, pruned.h5, model.h5 (QAT, in firmware), scaler.json")
    log(f"Report:        {output_dir / RESULTS}/report.json, report.md")
    log(f"ROC curves:    {output_dir / RESULTS}/roc.png")
    return report


# ---------------------------------------------------------------------------------------------------
# hepfpga convert: a trained model -> verified HLS project
# ---------------------------------------------------------------------------------------------------

CONVERT_REPORT = "convert.json"


@dataclass
class ConvertOptions:
    """Options of `convert_model` / `hepfpga convert` (see the CLI help for each)."""

    backend: str = "Vitis"
    part: str = "xcvu13p-flga2577-2-e"
    clock_period: float = 5.0
    io_type: str = "io_parallel"
    reuse_factor: int = 1
    strategy: str = "Latency"
    target_error: float = 2.0**-8
    headroom_bits: int = 1
    table_size: int = 4096
    min_agreement: float = 0.99  # classifiers (softmax output): argmax agreement required
    max_relative_error: float = 0.01  # other outputs: max |firmware - Keras| / Keras output range allowed
    max_events: int = 10_000
    trace_events: int = 1_000  # events traced layer by layer (all `max_events` are compared at the output)


def _head(x, n: int):
    """The first `n` events of an input array, or of each array in a list (several inputs)."""
    return [a[:n] for a in x] if isinstance(x, list) else x[:n]


def _per_input(data) -> list[np.ndarray] | None:
    """Data for a model's inputs as a list of arrays (one array for a single-input model)."""
    if data is None:
        return None
    return [np.asarray(a) for a in data] if isinstance(data, (list, tuple)) else [np.asarray(data)]


def _fingerprint(model, config: dict, opt: ConvertOptions, arrays) -> str:
    import hashlib

    import hls4ml

    from hepfpga import __version__

    h = hashlib.sha256()
    h.update(model.to_json().encode())
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    h.update(json.dumps(config, sort_keys=True, default=str).encode())
    h.update(json.dumps(asdict(opt), sort_keys=True).encode())
    for a in arrays:
        h.update(b"none" if a is None else np.ascontiguousarray(a).tobytes())
    h.update(f"{__version__} {hls4ml.__version__}".encode())
    return h.hexdigest()


def _merge(base: dict, override: dict) -> dict:
    """Recursively merge `override` into `base` (in place) and return it."""
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v
    return base


def convert_model(model, output_dir: str | Path, calibration: np.ndarray | None = None,
                  validation: np.ndarray | None = None, options: ConvertOptions | None = None,
                  config_override: dict | None = None, force: bool = False, log=print) -> dict:
    """Convert a trained Keras/QKeras `model` into a verified HLS project in `output_dir`.

    `calibration` (N, *input_shape) sets float-model precisions (`hepfpga.convert.precision`) and, unless
    `validation` is given, is also what the firmware is checked on (at most `options.max_events` events).
    For a model with several inputs, both are lists with one array per input (integer inputs, such as a
    hit count, get an integer firmware type).
    `config_override` is an hls4ml-style config dict merged over the inferred one. An unchanged model,
    configuration and data whose project already exists is not rebuilt: the earlier report is returned.
    Returns the report dict; `report["passed"]`: for softmax classifiers argmax agreement >=
    `options.min_agreement`, for other outputs max |firmware - Keras| <= `options.max_relative_error` of the
    Keras output range.
    """
    from hepfpga import convert as conv
    from hepfpga.compress.quantize import has_input_quantizer, quantize_inputs
    from hepfpga.convert.load import check_supported
    from hepfpga.convert.precision import (
        align_lstm_types,
        fixed_type,
        float_layer_precisions,
        infer_precisions,
        integer_type,
        round_to_type,
        value_stats,
    )
    from hepfpga.convert.project import staged_project
    from hepfpga.csim import compare, emulate
    from hepfpga.csim.fast import predict_compiled
    from hepfpga.errors import ConfigError, DataError
    from hepfpga.extensions import check_model as check_extension_layers
    from hepfpga.report import metrics

    opt = options or ConvertOptions()
    for name in ("max_events", "trace_events"):
        if not isinstance(getattr(opt, name), int) or getattr(opt, name) < 1:
            raise ConfigError(f"{name} must be a positive integer, got {getattr(opt, name)!r}")
    check_supported(model)
    check_extension_layers(model, opt.io_type)
    if calibration is None:
        raise DataError("no calibration data: precisions of a float model come from the values it sees")
    names = list(model.input_names)
    shapes = [tuple(s[1:]) for s in (model.input_shape if len(names) > 1 else [model.input_shape])]
    cal, val = _per_input(calibration), _per_input(validation)
    for what, arrays in (("calibration", cal), ("validation", val)):
        if arrays is None:
            continue
        if len(arrays) != len(names):
            raise DataError(f"{what} data: the model has {len(names)} inputs ({', '.join(names)}); give one array per "
                            f"input, got {len(arrays)}")
        for name, arr, shape in zip(names, arrays, shapes):
            subject = f"{what} data" if len(names) == 1 else f"{what} data for input {name!r}"
            if tuple(arr.shape[1:]) != shape or len(arr) != len(arrays[0]):
                raise DataError(f"{subject} has shape {arr.shape}; the model expects (N, {', '.join(map(str, shape))})")
            check_finite(arr, f"{what} data")
    emulate.require_compiler()
    output_dir = Path(output_dir)

    quantized = conv.is_quantized(model)
    config = conv.hls_config(model, opt.backend, trace_layers=[], softmax_table_size=opt.table_size,
                             reuse_factor=opt.reuse_factor, strategy=opt.strategy)
    for entry in config["LayerName"].values():
        entry["Trace"] = True  # per-layer firmware outputs, to locate a divergence
    input_entries = [config["LayerName"][name].setdefault("Precision", {}) for name in names]
    if not quantized:
        infer_precisions(model, config, calibration, opt.target_error, opt.headroom_bits, opt.table_size)
    else:
        float_layer_precisions(model, config, calibration, opt.target_error, opt.headroom_bits, opt.table_size)
        if not has_input_quantizer(model):
            # No input quantizer: hls4ml would default the inputs to fixed<16,6>; take them from the data instead.
            for entry, arr, layer in zip(input_entries, cal, model.inputs):
                integer = np.issubdtype(np.dtype(layer.dtype.name), np.integer)
                entry["result"] = integer_type(arr) if integer else \
                    fixed_type(*value_stats(arr), opt.target_error, opt.headroom_bits)[0]
    if config_override:
        unknown = sorted(set(config_override.get("LayerName") or {}) - set(config["LayerName"]))
        if unknown:
            raise ConfigError(f"the configuration names layer(s) {', '.join(unknown)} that the model does not have; "
                              f"its layers: {', '.join(config['LayerName'])}")
        _merge(config, config_override)
    align_lstm_types(model, config)  # may widen the input type
    evaluation = [arr[: opt.max_events] for arr in (val if val is not None else cal)]
    if has_input_quantizer(model):
        evaluation[0] = quantize_inputs(model, evaluation[0])
    else:
        for k, entry in enumerate(input_entries):
            if "fixed<" in str(entry.get("result")):  # the firmware input is fixed-point: give Keras the same
                evaluation[k] = round_to_type(evaluation[k], entry["result"])
    n_events = len(evaluation[0])
    evaluation = evaluation[0] if len(names) == 1 else evaluation
    fingerprint = _fingerprint(model, config, opt, (*cal, *(val or [None])))

    earlier = output_dir / RESULTS / CONVERT_REPORT
    if earlier.is_file():
        try:
            report = json.loads(earlier.read_text())
        except ValueError:
            report = {}
        if report.get("fingerprint") == fingerprint:
            log(f"unchanged model, configuration and data: reusing the build in {output_dir}")
            log("\n" + convert_summary(report))
            return report

    with staged_project(output_dir, force=force) as stage:
        results = stage / RESULTS
        results.mkdir()
        t0 = time.perf_counter()
        keras_out = model.predict(evaluation, batch_size=1024, verbose=0)
        testbench = {}
        if len(names) == 1:  # hls4ml's testbench data files hold one input
            np.save(results / "tb_input.npy", evaluation[:100])
            np.save(results / "tb_output.npy", keras_out[:100])
            testbench = dict(input_data_tb=str(results / "tb_input.npy"), output_data_tb=str(results / "tb_output.npy"))
        kind = ("QKeras (quantizer precisions" + (", bit-exact)" if has_input_quantizer(model) else ")")) if quantized \
            else "float (calibrated precisions)"
        log(f"[convert] {kind}"
            f" model {model.name!r} -> hls4ml {opt.backend}, {opt.io_type}, part {opt.part}")
        hls_model = conv.convert(model, stage, config=config, backend=opt.backend, part=opt.part,
                                 clock_period=opt.clock_period, io_type=opt.io_type, **testbench)
        # Per-layer traces (hls4ml's one-event-at-a-time loop) on the first events locate a divergence;
        # every event's outputs come from the batched engine on the same compiled library.
        traced = _head(evaluation, opt.trace_events)
        _, traces = emulate.run(hls_model, traced, trace=True, log=log)
        fw_out = predict_compiled(hls_model, evaluation, log=log).reshape(keras_out.shape)
        keras_layers = compare.keras_layer_outputs(model, traced)
        rows = compare.layer_by_layer(keras_layers, traces, hls_model)
        agreement = metrics.agreement(keras_out, fw_out)
        span = float(keras_out.max() - keras_out.min())
        agreement["relative_max_abs_diff"] = agreement["max_abs_diff"] / span if span > 0 else agreement["max_abs_diff"]
        pre_softmax = _pre_softmax(hls_model, keras_layers, traces)
        passed = agreement["argmax_agreement"] >= opt.min_agreement if pre_softmax is not None \
            else agreement["relative_max_abs_diff"] <= opt.max_relative_error
        per_output = np.abs(keras_out.reshape(len(keras_out), -1) - fw_out.reshape(len(fw_out), -1))
        report = {
            "model": model.name,
            "quantized": quantized,
            "options": asdict(opt),
            "events": n_events,
            "traced_events": min(n_events, opt.trace_events),
            "evaluated_on": "validation" if validation is not None else "calibration",
            "agreement": agreement,
            "per_output": {"max_abs_diff": per_output.max(0).tolist(), "mean_abs_diff": per_output.mean(0).tolist()},
            "pre_softmax": pre_softmax,
            "layers": rows,
            "first_divergence": compare.first_divergence(rows),
            "passed": passed,
            "fingerprint": fingerprint,
            "seconds": round(time.perf_counter() - t0, 1),
        }
        np.save(results / "predictions.npy", fw_out)
        _write_yaml(config, results / "hls4ml_config.yml")
        (results / CONVERT_REPORT).write_text(json.dumps(report, indent=1, default=float))
        (results / "report.md").write_text(convert_summary(report) + "\n")
        from hepfpga.report.plots import precision_profile

        precision_profile(_profile_rows(hls_model, keras_layers), results / "precision_profile.png",
                          title=f"{model.name}: observed ranges vs firmware types")
    log("\n" + convert_summary(report))
    log(f"\nHLS project: {output_dir}/   config (re-runnable with --config): {output_dir / RESULTS}/hls4ml_config.yml")
    log(f"report: {output_dir / RESULTS}/{CONVERT_REPORT}, report.md   plot: {output_dir / RESULTS}/precision_profile.png")
    return report


def _pre_softmax(hls_model, keras_layers, traces) -> dict | None:
    """Agreement of the values feeding a softmax (the logits): exact for QKeras models."""
    from hls4ml.model.layers import Softmax

    from hepfpga.report import metrics

    softmax = next((n for n in hls_model.get_layers() if isinstance(n, Softmax)), None)
    node = softmax.get_input_node() if softmax is not None else None
    while node is not None and not (node.name in traces and node.name in keras_layers):
        node = node.get_input_node()  # skip layers hls4ml inserted (e.g. linear activations)
    if node is None:
        return None
    fw = np.asarray(traces[node.name])
    return {"layer": node.name, **metrics.agreement(np.asarray(keras_layers[node.name]).reshape(fw.shape), fw)}


def _profile_rows(hls_model, keras_layers) -> list[dict]:
    from hepfpga.convert.precision import value_stats
    from hepfpga.csim.compare import type_range

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


def _write_yaml(config: dict, path: Path) -> None:
    import yaml

    path.write_text("# hls4ml configuration used by hepfpga convert; pass it back with --config\n"
                    + yaml.safe_dump(json.loads(json.dumps(config, default=str)), sort_keys=False))


def convert_summary(report: dict) -> str:
    """Markdown tables of a convert report: overall agreement and the layer-by-layer comparison."""
    from hepfpga.report.tables import markdown

    a = report["agreement"]
    o = report["options"]
    if report.get("pre_softmax") is not None:
        verdict = "yes" if report["passed"] else f"NO (argmax agreement < {100 * o['min_agreement']:.1f}%)"
    else:
        verdict = "yes" if report["passed"] else f"NO (max |Δ| > {100 * o['max_relative_error']:.1f}% of output range)"
    parts = [f"Firmware (C-sim) vs Keras on {a['events']} {report['evaluated_on']} events",
             markdown(["argmax agreement %", "values differing", "max |Δ|", "max |Δ| / range %", "mean |Δ|", "passed"],
                      [[100 * a["argmax_agreement"], a["mismatching_values"], a["max_abs_diff"],
                        100 * a.get("relative_max_abs_diff", 0.0), a["mean_abs_diff"], verdict]])]
    if report.get("pre_softmax"):
        p = report["pre_softmax"]
        parts.append(f"pre-softmax outputs ({p['layer']}, first {p['events']} events): {p['mismatching_values']} "
                     f"values differ, max |Δ| {p['max_abs_diff']:.3g}")
    traced = report.get("traced_events", a["events"])
    parts += ["", f"Layer by layer (first {traced} events)", markdown(
        ["layer", "firmware type", "Keras max |x|", "max |Δ|", "relative", "verdict"],
        [[r["layer"], r["type"], r["keras_max"], r["max_abs_diff"], r["relative"], r["verdict"]] for r in report["layers"]])]
    first = report.get("first_divergence")
    if first:
        why = ("its values exceed the type's range (overflow): give it more integer bits" if first["verdict"] == "overflow"
               else "the type's step is too coarse (precision loss): give it more fractional bits")
        parts.append(f"\nFirst divergence: layer {first['layer']} ({first['type']}): {why}.")
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------------------
# hepfpga csim / build: an existing project against Keras, and the vendor flow
# ---------------------------------------------------------------------------------------------------


def _project_input_type(project_dir: Path) -> str | None:
    """The firmware input type recorded in a project's hls4ml_config.yml, if explicit."""
    from hepfpga.convert.project import hls4ml_config

    config = hls4ml_config(project_dir)
    layers = (config.get("HLSConfig") or {}).get("LayerName") or {}
    first = next(iter(layers.values()), {})
    result = (first.get("Precision") or {}).get("result")
    return result if isinstance(result, str) and "fixed<" in result else None


def project_model(project_dir: str | Path) -> Path:
    """The Keras model file of an hls4ml project: hepfpga's `hepfpga/model.h5`, else hls4ml's copy."""
    from hepfpga.convert import MODEL_FILE
    from hepfpga.convert.project import hls4ml_config
    from hepfpga.errors import DataError

    project_dir = Path(project_dir)
    hls4ml_config(project_dir)  # raises if not a project
    for candidate in (project_dir / MODEL_FILE, project_dir / "keras_model.keras"):
        if candidate.is_file():
            return candidate
    raise DataError(f"{project_dir} holds no Keras model (hepfpga/model.h5 or keras_model.keras) to compare with")


def csim_project(project_dir: str | Path, x: np.ndarray, jobs: int | None = None, testbench: bool = False,
                 testbench_events: int = 1000, log=print) -> dict:
    """C-simulate an existing hls4ml project on inputs `x` (N, *input_shape) and compare with Keras.

    The Keras model is the one hls4ml stored in the project (`keras_model.keras`). Inputs are put on the
    firmware input grid first, so both see the same values. Fast batched emulation runs every event; with
    `testbench`, the project's own HLS testbench (g++) runs the first `testbench_events` events too and
    must agree with the emulation at the precision it prints. Report saved as `<project>/hepfpga/csim.json`.
    """
    from hepfpga.compress.quantize import has_input_quantizer, quantize_inputs
    from hepfpga.convert.load import load_model
    from hepfpga.convert.precision import round_to_type
    from hepfpga.csim.fast import BatchEmulator
    from hepfpga.csim.testbench import as_printed, run_testbench
    from hepfpga.errors import DataError
    from hepfpga.report import metrics

    project_dir = Path(project_dir)
    model = load_model(project_model(project_dir))
    shape = tuple(model.input_shape[1:])
    if tuple(x.shape[1:]) != shape:
        raise DataError(f"data has shape {x.shape}; the model in {project_dir} expects (N, {', '.join(map(str, shape))})")
    check_finite(x, "C-sim input data")
    input_type = _project_input_type(project_dir)
    if has_input_quantizer(model):
        x = quantize_inputs(model, x)
    elif input_type:
        x = round_to_type(x, input_type)
    emulator = BatchEmulator(project_dir, log=log)
    t0 = time.perf_counter()
    fw = emulator.predict(x.astype(np.float64), jobs=jobs)
    seconds = time.perf_counter() - t0
    keras_out = model.predict(x, batch_size=1024, verbose=0).reshape(fw.shape)
    report = {"project": str(project_dir), "events": int(len(x)), "emulation_events_per_s": len(x) / seconds,
              "agreement": metrics.agreement(keras_out, fw)}
    if testbench:
        n = min(testbench_events, len(x))
        tb = run_testbench(project_dir, x[:n], keras_out[:n], log=log)
        printed = as_printed(fw[:n])
        report["testbench"] = {"events": n, "values_differing_from_emulation": int(np.count_nonzero(tb != printed)),
                               "agreement_with_keras": metrics.agreement(keras_out[:n], tb)}
    results = project_dir / RESULTS
    results.mkdir(exist_ok=True)
    (results / "csim.json").write_text(json.dumps(report, indent=1))
    log("\n" + csim_summary(report))
    return report


def csim_summary(report: dict) -> str:
    from hepfpga.report.tables import markdown

    a = report["agreement"]
    rows = [["fast emulation (all events)", a["events"], 100 * a["argmax_agreement"], a["max_abs_diff"]]]
    if "testbench" in report:
        t = report["testbench"]["agreement_with_keras"]
        rows.append(["HLS testbench (g++)", t["events"], 100 * t["argmax_agreement"], t["max_abs_diff"]])
    text = markdown(["firmware vs Keras", "events", "argmax agreement %", "max |Δ|"], rows)
    if "testbench" in report:
        text += (f"\ntestbench vs fast emulation: {report['testbench']['values_differing_from_emulation']} values differ "
                 "(at the 6 significant digits the testbench prints)")
    return text + f"\nemulation throughput: {report['emulation_events_per_s']:.0f} events/s"


def build_summary(s: dict) -> str:
    """Markdown table of a vendor build summary (`hepfpga.csim.vendor.summary`)."""
    from hepfpga.report.tables import markdown

    lat, ns, ii = s["latency_cycles"], s["latency_ns"], s["interval_cycles"]
    rows = [["latency", f"{lat['min']}-{lat['max']} cycles", f"{ns['min']:.1f}-{ns['max']:.1f} ns"],
            ["initiation interval", f"{ii['min']}-{ii['max']} cycles", ""],
            ["clock", f"target {s['clock_ns']['target']} ns", f"estimated {s['clock_ns']['estimated']} ns"]]
    for name, r in s["resources"].items():
        pct = f"{r['percent']:.2f} % of {r['available']}" if r["percent"] is not None else ""
        rows.append([name, str(r["used"]), pct])
    for name, used in s.get("vivado_synth", {}).items():
        rows.append([f"{name} (Vivado synthesis)", f"{used:g}", ""])
    return markdown(["quantity", "value", ""], rows)
