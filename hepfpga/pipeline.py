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

    with staged_project(output_dir, force=force, owner_marker=DEMO_MARKER) as stage:
        (stage / RESULTS).mkdir()
        log(f"[data] writing {n_events} synthetic jets to ROOT with uproot")
        root_file = write_jets_root(stage / RESULTS / "jets.root", n_events, seed=(options or JetTaggingOptions()).seed)
        report = _run(root_file, stage, options or JetTaggingOptions(), log,
                      source_label=f"{RESULTS}/jets.root (synthetic, {n_events} events)")
    return _finish(report, Path(output_dir), log)


def _run(source, out: Path, opt: JetTaggingOptions, log, source_label: str | None = None) -> dict:
    from hepfpga import convert as conv
    from hepfpga import train
    from hepfpga.csim import emulate
    from hepfpga.compress import prune, quantize
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
    qmodel.save(results / "qat.h5")
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
    fw_out, traces = emulate.run(hls_model, x_fw, trace=True, log=log)
    fw_logits = traces["logits"]

    stage("report")
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
    log(f"Models/scaler: {output_dir / RESULTS}/{{float,pruned,qat}}.h5, scaler.json")
    log(f"Report:        {output_dir / RESULTS}/report.json, report.md")
    log(f"ROC curves:    {output_dir / RESULTS}/roc.png")
    return report
