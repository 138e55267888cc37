"""The jet-tagging chain and `hepfpga demo`, composed from the stage modules:

ROOT --uproot--> features --train--> float MLP --prune--> sparse --QAT--> QKeras
     --hls4ml--> HLS project --g++ C-sim--> firmware outputs --compare--> report

`jet_tagging` runs it on a ROOT file into a project folder; `demo` first writes the synthetic jet dataset.
Each step is one call into hepfpga.data / models / compress / convert / csim / report; this module holds
no logic of its own beyond passing results along and checking the targets.
"""

from __future__ import annotations

import inspect
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hepfpga.convert.verified import project_estimate
from hepfpga.csim.compare import softmax_table_step
from hepfpga.data import JET_CLASSES, JET_FEATURES, Scaler, check_finite, read_root, split, write_jets_root
from hepfpga.errors import ConfigError, DataError
from hepfpga.models.mlp import LOGITS_LAYER, mlp
from hepfpga.options import FirmwareOptions, check, option
from hepfpga.project import RESULTS, staged_project

DEMO_MARKER = ".hepfpga-demo"
DEMO_OUTPUT = Path("hls_projects") / "demo_jet_tagger"
DEMO_EVENTS = 200_000
MIN_DEMO_EVENTS = 1000
#: The MLP builder's defaults are the chain's (one source for the architecture and bit widths).
_MLP = {name: p.default for name, p in inspect.signature(mlp).parameters.items()}


@dataclass
class JetTaggingOptions(FirmwareOptions):
    """Everything the chain needs besides the data; serialised into report.json."""

    tree: str = option("jets", "TTree holding the jets")
    features: list[str] = option(list(JET_FEATURES), "feature branches, in model-input order")
    label_branch: str | list[str] | None = option("label", "branch of integer class labels")
    classes: list[str] = option(list(JET_CLASSES), "class names, in label order")
    hidden: list[int] = option(list(_MLP["hidden"]), "hidden-layer widths of the MLP", low=1)
    epochs: int = option(40, "float training epochs (early stopping on the validation loss)", low=1)
    prune_epochs: int = option(20, "float fine-tune epochs while sparsity ramps up", low=1)
    qat_epochs: int = option(20, "QKeras fine-tune epochs at the target sparsity", low=1)
    batch_size: int = option(1024, "training batch size", low=1)
    target_sparsity: float = option(0.75, "fraction of Dense weights pruned to zero", low=0.0, high=0.99)
    weight_bits: int = option(_MLP["weight_bits"], "QKeras weight and bias bits", low=2, high=32)
    weight_integer: int = option(_MLP["weight_integer"], "integer bits of the weights (sign excluded)", low=0)
    activation_bits: int = option(_MLP["activation_bits"], "quantized ReLU bits", low=2, high=32)
    activation_integer: int = option(_MLP["activation_integer"], "integer bits of the ReLU outputs", low=0)
    input_bits: int = option(_MLP["input_bits"], "firmware input bits", low=2, high=32)
    input_integer: int = option(_MLP["input_integer"], "integer bits of the inputs (sign excluded)", low=0)
    trace_events: int = option(5_000, "test events whose logits are traced in C-sim (all are compared at the "
                                      "output)", low=1)
    seed: int = option(42, "random seed of the data split and training")


#: Targets of the jet-tagging chain, checked and printed by every run.
TARGETS = {
    "firmware accuracy within 1.0 pp of float": lambda r: r["accuracy"]["float"] - r["accuracy"]["firmware"] <= 0.01,
    "sparsity >= 70% in every Dense layer": lambda r: min(r["sparsity"].values()) >= 0.70,
    "0 mismatching logits (firmware vs QAT Keras)": lambda r: r["agreement"]["logits"]["mismatching_values"] == 0,
    "softmax argmax agreement >= 99.9%": lambda r: r["agreement"]["softmax"]["argmax_agreement"] >= 0.999,
}


def jet_tagging(source, output_dir: str | Path, options: JetTaggingOptions | None = None,
                force: bool = False, log=print) -> dict:
    """Run the whole chain on ROOT data `source` (see `hepfpga.data.read_root`) into `output_dir`.

    The HLS project and `<output_dir>/hepfpga/` (models, scaler, report.json, report.md, roc.png) appear
    only when the run succeeded; an existing `output_dir` is replaced only with `force`. Returns the report.
    """
    opt = options or JetTaggingOptions()
    check(opt)
    with staged_project(output_dir, force=force) as stage:
        report = _run(source, stage, opt, log)
    return _finish(report, Path(output_dir), log)


def demo(output_dir: str | Path = DEMO_OUTPUT, n_events: int = DEMO_EVENTS, options: JetTaggingOptions | None = None,
         force: bool = False, log=print) -> dict:
    """Write the synthetic jet dataset (`n_events` jets) to ROOT, then run `jet_tagging` on it into
    `output_dir`. Replaces its own earlier output (folders carrying the demo marker); any other existing
    folder needs `force`. Returns the report."""
    opt = options or JetTaggingOptions()
    check(opt)
    if not isinstance(n_events, int) or n_events < MIN_DEMO_EVENTS:
        raise ConfigError(f"--events must be an integer of at least {MIN_DEMO_EVENTS} (training, validation and test "
                          f"sets come from them), got {n_events!r}")
    with staged_project(output_dir, force=force, owner_marker=DEMO_MARKER) as stage:
        (stage / RESULTS).mkdir()
        log(f"[data] writing {n_events} synthetic jets to ROOT with uproot")
        root_file = write_jets_root(stage / RESULTS / "jets.root", n_events, seed=opt.seed)
        report = _run(root_file, stage, opt, log, source_label=f"{RESULTS}/jets.root (synthetic, {n_events} events)")
    return _finish(report, Path(output_dir), log)


class _Stages:
    """Prints a header per stage and records when each began."""

    def __init__(self, log):
        self.log, self.times = log, {}

    def __call__(self, name: str) -> None:
        self.times[name] = time.perf_counter()
        self.log(f"\n[{name}]")

    def seconds(self) -> dict[str, float]:
        self.times["end"] = time.perf_counter()
        names = list(self.times)
        return {names[i]: round(self.times[names[i + 1]] - self.times[names[i]], 1) for i in range(len(names) - 1)}


def _run(source, out: Path, opt: JetTaggingOptions, log, source_label: str | None = None) -> dict:
    from hepfpga.csim.emulate import require_compiler

    require_compiler()  # fail before training, not after
    t_start = time.perf_counter()
    results = out / RESULTS
    results.mkdir(exist_ok=True)
    stage = _Stages(log)
    stage("data")
    data = _read_data(source, opt, results, log)
    stage("float")
    models = {"float": _train_float(data, opt, results)}
    stage("prune")
    models["pruned"] = _prune(models["float"], data, opt, results)
    stage("qat")
    models["qat"], sparsity = _quantize(models["pruned"], data, opt, log)
    stage("convert")
    hls_model, x_fw, keras_out = _convert(models["qat"], data, out, opt, log)
    stage("csim")
    firmware = _simulate(models["qat"], hls_model, x_fw, keras_out, opt, log)
    stage("report")
    report = _report(source_label or str(source), opt, data, models, firmware, sparsity, hls_model, results)
    report["estimate"] = project_estimate(out, opt.part)
    report["seconds"] = {**stage.seconds(), "total": round(time.perf_counter() - t_start, 1)}
    report["targets"] = {name: bool(target(report)) for name, target in TARGETS.items()}
    (results / "report.json").write_text(json.dumps(report, indent=1))
    (results / "report.md").write_text(_summary(report) + "\n")
    return report


def _read_data(source, opt: JetTaggingOptions, results: Path, log) -> dict:
    """Features and labels from ROOT, split, standardised (scaler saved beside the models)."""
    x, y = read_root(source, opt.tree, opt.features, opt.label_branch)
    check_finite(x, "features read from ROOT")
    if y.min() < 0 or y.max() >= len(opt.classes):
        raise DataError(f"labels run from {y.min()} to {y.max()}, but {len(opt.classes)} classes {opt.classes} "
                        f"were given: labels must be 0..{len(opt.classes) - 1}")
    (x_tr, y_tr), (x_va, y_va), (x_te, y_te) = split(x, y, seed=opt.seed)
    scaler = Scaler.fit(x_tr, opt.features)
    scaler.save(results / "scaler.json")
    x_tr, x_va, x_te = (scaler.transform(a) for a in (x_tr, x_va, x_te))
    log(f"  {len(x)} events: {len(x_tr)} train / {len(x_va)} validation / {len(x_te)} test; "
        f"{len(opt.features)} features, {len(opt.classes)} classes")
    return dict(x_train=x_tr, y_train=y_tr, x_val=x_va, y_val=y_va, x_test=x_te, y_test=y_te)


def _architecture(opt: JetTaggingOptions) -> dict:
    return dict(n_inputs=len(opt.features), n_classes=len(opt.classes), hidden=tuple(opt.hidden))


def _fit_args(data: dict, opt: JetTaggingOptions) -> dict:
    return dict(x_train=data["x_train"], y_train=data["y_train"], x_val=data["x_val"], y_val=data["y_val"],
                batch_size=opt.batch_size, seed=opt.seed)


def _steps_per_epoch(data: dict, opt: JetTaggingOptions) -> int:
    return int(np.ceil(len(data["x_train"]) / opt.batch_size))


def _train_float(data: dict, opt: JetTaggingOptions, results: Path):
    from hepfpga import train
    from hepfpga.models import build

    model = build("mlp", **_architecture(opt), name="float")
    train.fit(model, epochs=opt.epochs, **_fit_args(data, opt))
    model.save(results / "float.h5")
    return model


def _prune(float_model, data: dict, opt: JetTaggingOptions, results: Path):
    from hepfpga import train
    from hepfpga.compress import prune

    end = _steps_per_epoch(data, opt) * max(1, opt.prune_epochs // 2)
    pruned = prune.prune(float_model, opt.target_sparsity, end_step=end)
    train.fit(pruned, epochs=opt.prune_epochs, learning_rate=5e-4, callbacks=prune.pruning_callbacks(),
              early_stopping=False, **_fit_args(data, opt))
    pruned = prune.strip(pruned)
    pruned.save(results / "pruned.h5")
    return pruned


def _quantize(pruned, data: dict, opt: JetTaggingOptions, log):
    """QKeras twin of the pruned model, fine-tuned at the target sparsity; returns it and its sparsity."""
    from hepfpga import train
    from hepfpga.compress import prune, quantize

    bits = {k: getattr(opt, k) for k in ("weight_bits", "weight_integer", "activation_bits", "activation_integer",
                                         "input_bits", "input_integer")}
    qmodel = quantize.quantize(pruned, "mlp", _architecture(opt), **bits)
    qmodel = prune.prune(qmodel, opt.target_sparsity, initial_sparsity=opt.target_sparsity,
                         end_step=_steps_per_epoch(data, opt))
    train.fit(qmodel, epochs=opt.qat_epochs, learning_rate=5e-4, callbacks=prune.pruning_callbacks(),
              early_stopping=False, **_fit_args(data, opt))
    qmodel = prune.strip(qmodel)
    sparsity = prune.sparsity(qmodel)
    for name, s in sparsity.items():
        log(f"  {name}: {100 * s:.1f}% of weights pruned")
    return qmodel, sparsity


def _convert(qmodel, data: dict, out: Path, opt: JetTaggingOptions, log):
    """hls4ml project of the QAT model (logits traced), testbench data from the test set; returns the
    project's hls4ml model, the test inputs on the firmware grid and the QAT model's outputs on them."""
    from hepfpga.compress import quantize
    from hepfpga.convert import base_config, write_project

    x_fw = quantize.quantize_inputs(qmodel, data["x_test"])
    keras_out = qmodel.predict(x_fw, batch_size=8192, verbose=0)
    results = out / RESULTS
    np.save(results / "tb_input.npy", x_fw[:1000])
    np.save(results / "tb_output.npy", keras_out[:1000])
    config = base_config(qmodel, opt.backend, trace_layers=[LOGITS_LAYER])
    hls_model = write_project(qmodel, out, config=config, backend=opt.backend, part=opt.part,
                              clock_period=opt.clock_period, io_type=opt.io_type,
                              input_data_tb=str(results / "tb_input.npy"),
                              output_data_tb=str(results / "tb_output.npy"))
    log(f"  hls4ml {opt.backend} project, part {opt.part}, {opt.clock_period} ns clock, {opt.io_type}")
    return hls_model, x_fw, keras_out


def _simulate(qmodel, hls_model, x_fw, keras_out, opt: JetTaggingOptions, log) -> dict:
    """Firmware outputs of every test event, traced logits of the first `trace_events`, and Keras's."""
    import tensorflow as tf

    from hepfpga.csim.verify import trace_and_run

    logits_model = tf.keras.Model(qmodel.inputs, qmodel.get_layer(LOGITS_LAYER).output)
    fw_out, traces, engine = trace_and_run(hls_model, x_fw, opt.trace_events, log=log)
    fw_logits = traces[LOGITS_LAYER]
    keras_logits = logits_model.predict(x_fw, batch_size=8192, verbose=0)[: len(fw_logits)]
    return dict(qat=keras_out, qat_logits=keras_logits, firmware=fw_out.reshape(keras_out.shape),
                firmware_logits=fw_logits, engine=engine)


def _report(source_label: str, opt: JetTaggingOptions, data: dict, models: dict, fw: dict, sparsity: dict,
            hls_model, results: Path) -> dict:
    from hepfpga.report import metrics
    from hepfpga.report.plots import roc_plot

    y_te = data["y_test"]
    np.savez_compressed(results / "test_outputs.npz", y=y_te, firmware=fw["firmware"].astype(np.float32),
                        firmware_logits=fw["firmware_logits"].astype(np.float32), qat=fw["qat"],
                        qat_logits=fw["qat_logits"])
    scores = {"float": models["float"].predict(data["x_test"], batch_size=8192, verbose=0),
              "pruned": models["pruned"].predict(data["x_test"], batch_size=8192, verbose=0),
              "qat": fw["qat"], "firmware": fw["firmware"]}
    report = {
        "options": asdict(opt),
        "data": {"source": source_label, "events": {"train": len(data["x_train"]), "validation": len(data["x_val"]),
                                                    "test": len(y_te)}},
        "accuracy": {k: metrics.accuracy(y_te, s) for k, s in scores.items()},
        "roc_auc": {k: metrics.roc_auc_per_class(y_te, s, opt.classes) for k, s in scores.items()},
        "sparsity": sparsity,
        "csim_engine": fw["engine"],
        "agreement": {"logits": metrics.agreement(fw["qat_logits"], fw["firmware_logits"]),
                      "softmax": metrics.agreement(fw["qat"], fw["firmware"], softmax_table_step(hls_model))},
        "precisions": {layer.name: {k: str(v.precision) for k, v in layer.get_layer_precision().items()}
                       for layer in hls_model.get_layers()},
    }
    curves = {k: metrics.roc_curves(y_te, scores[k], opt.classes) for k in ("float", "firmware")}
    roc_plot(curves, results / "roc.png", title="Jet tagging: float Keras vs firmware (C-sim)")
    return report


def _summary(report: dict) -> str:
    from hepfpga.report.summaries import chain_summary

    return chain_summary(report)


def _finish(report: dict, output_dir: Path, log) -> dict:
    log("\n" + _summary(report))
    log(f"\nHLS project:   {output_dir}/ (build with Vitis HLS: `vitis_hls -f build_prj.tcl` there)")
    log(f"Models/scaler: {output_dir / RESULTS}/float.h5, pruned.h5, model.h5 (QAT, in firmware), scaler.json")
    log(f"Report:        {output_dir / RESULTS}/report.json, report.md")
    log(f"ROC curves:    {output_dir / RESULTS}/roc.png")
    return report
