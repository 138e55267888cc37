"""`convert_model`: a trained Keras/QKeras model -> a verified HLS project, as a composition of named steps:

check the inputs -> choose the configuration (precision rules, user override) -> put the evaluation data on
the firmware's input grid -> reuse an identical earlier build, or: write the project (hls4ml), verify it
in C-sim against Keras (`hepfpga.csim.verify`), write the reports -> print the summary.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

from hepfpga.compress.hgq import is_hgq, is_proxy, proxy_model
from hepfpga.compress.quantize import weights_as_fixed
from hepfpga.convert.config import base_config, merge_config, write_config_yaml
from hepfpga.convert.hls4ml_yaml import export_project_yaml, precision_sources
from hepfpga.convert.layers import is_quantized
from hepfpga.convert.rules import align_lstm_types, choose_precisions
from hepfpga.data import as_model_input, check_finite, per_input
from hepfpga.errors import DataError
from hepfpga.options import ConvertOptions, check
from hepfpga.project import MODEL_FILE, RESULTS, changed_files, check_destination, fingerprint, staged_project

CONVERT_REPORT = "convert.json"


def convert_model(model, output_dir: str | Path, calibration=None, validation=None,
                  options: ConvertOptions | None = None, config_override: dict | None = None, force: bool = False,
                  log=print, inputs=(), extras=None) -> dict:
    """Convert a trained Keras/QKeras `model` into a verified HLS project in `output_dir`.

    `calibration` (N, *input_shape) sets float-model precisions (`hepfpga.convert.rules`) and, unless
    `validation` is given, is also what the firmware is checked on (at most `options.max_events` events).
    For a model with several inputs, both are lists with one array per input (integer inputs, such as a
    hit count, get an integer firmware type).
    `config_override` is an hls4ml-style config dict merged over the inferred one. An unchanged model,
    configuration and data whose project already exists is not rebuilt: the earlier report is returned.
    `inputs`: files the caller read (model, data, configuration): the project is never written over them.
    `extras(results folder, report, firmware outputs)`: writes more into `<project>/hepfpga/` before the project
    is moved into place (so that it appears complete or not at all).
    Returns the report dict; `report["passed"]`: for softmax classifiers argmax agreement >=
    `options.min_agreement`, for other outputs max |firmware - Keras| <= `options.max_relative_error` of the
    Keras output range.
    """
    from hepfpga.csim.emulate import require_compiler
    from hepfpga.report.summaries import convert_summary

    opt = options or ConvertOptions()
    check(opt)
    check_destination(output_dir, force=True, inputs=inputs)  # a path it may write at all (not yet: over a project)
    model = affine_preprocessing(model, log)
    cal, val = check_inputs(model, calibration, validation, opt)
    require_compiler()
    if is_hgq(model):
        from hepfpga.convert.supported import check_supported

        model = proxy_model(model, as_model_input(cal))
        check_supported(model)
        log("[convert] HGQ model: ranges traced on the calibration data; converting HGQ's proxy (every type from "
            "its quantizers, bit-exact)")
    model, rewritten = weights_as_fixed(model)
    if rewritten:
        log(f"[convert] power-of-two/binary weights of {', '.join(rewritten)} as the same values in fixed point "
            "(hls4ml's bit-exact pass mis-types them)")
    output_dir = Path(output_dir)
    if config_override:
        config_override = read_override(model, config_override, opt, log)
    config = choose_config(model, cal, opt, config_override)
    fields = {}
    if opt.fit:
        from hepfpga.convert.fit import fit_summary, fit_to_part

        config, opt, fields["fit"] = fit_to_part(model, config, opt, log)
        log(fit_summary(fields["fit"]))
    verified_on = val if val is not None else cal
    evaluation = evaluation_inputs(model, config, verified_on, opt.max_events)
    stamp = fingerprint(model, config, asdict(opt), arrays=(*cal, *(val or [None])))
    report, changed = earlier_build(output_dir, stamp)
    if report is not None and changed == []:
        log(f"unchanged model, configuration and data, and the project's files as written: reusing the build in "
            f"{output_dir}")
    else:
        if report is not None:
            may_rebuild(output_dir, changed, force)
            shown = ", ".join((changed or [])[:3]) + (" ..." if len(changed or []) > 3 else "")
            log(f"unchanged model, configuration and data, but {len(changed or [])} of the files in {output_dir} "
                f"are missing or changed ({shown}): building it again")
            force = True
        evaluated_on = "validation" if validation is not None else "calibration"
        with staged_project(output_dir, force=force, inputs=inputs) as stage:
            sources = {"precision_sources": precision_sources(config["LayerName"], config_override)} \
                if config_override else {}
            sources.update(fields)
            report, build = build_and_verify(model, stage, config, evaluation, opt, log, evaluated_on=evaluated_on,
                                             fingerprint=stamp, **sources)
            report, build = refine(model, stage, report, build, verified_on, opt, log, config_override,
                                   evaluated_on=evaluated_on, fingerprint=stamp, **sources)
            write_reports(report, build, stage / RESULTS)
            if extras is not None:
                extras(stage / RESULTS, report, build["predictions"])
    log("\n" + convert_summary(report))
    log(f"\nHLS project: {output_dir}/   config (re-runnable with --config): {output_dir / RESULTS}/hls4ml_config.yml")
    results = output_dir / RESULTS
    log(f"report: {results}/{CONVERT_REPORT}, report.md   plot: {results}/precision_profile.png")
    return report


def refine(model, stage: Path, report: dict, build: dict, data: list[np.ndarray], opt: ConvertOptions, log,
           override: dict | None = None, **fields) -> tuple[dict, dict]:
    """Closed-loop precision (`hepfpga.convert.refine`): while the best build so far misses the target and
    `opt.max_refinements` allows, widen the types where its divergence starts (not those the user's
    `override` sets) and build again beside it; a better build replaces it in `stage`, one that is not better
    is discarded and ends the loop. The report gets "refinements": each one's widened types, its agreement
    before and after, and whether it was kept."""
    import copy

    from hepfpga.convert import refine as loop

    refinements = []
    while not report["passed"] and len(refinements) < opt.max_refinements:
        config = copy.deepcopy(build["config"])
        rows = loop.layers_to_widen(report, config, model.input_names)
        changes = loop.widen(config, rows, weights=not is_quantized(model), keep=loop.user_types(override))
        if not changes:
            log("[refine] the diverging layers have no explicit fixed-point type left to widen; stopping")
            break
        traced = [r for r in rows if "excess" in r]  # the start and the layers after it (inputs aside)
        log(f"[refine] {len(refinements) + 1}/{opt.max_refinements}: the divergence starts at {traced[0]['layer']} "
            f"(max |Δ| {traced[0]['max_abs_diff']:.3g}, {traced[0]['excess']:.1f}x what rounding explains); "
            f"widening it (+{traced[0]['bits']} fractional bits) and the {len(traced) - 1} layers after it "
            f"(+{loop.FRACTION_STEP}), building again")
        attempt = stage / f".refinement-{len(refinements) + 1}"
        attempt.mkdir()
        evaluation = evaluation_inputs(model, config, data, opt.max_events)
        new_report, new_build = build_and_verify(model, attempt, config, evaluation, opt, log, **fields)
        kept = loop.better(new_report, report)
        refinements.append(dict(changes=changes, before=loop.outcome(report), after=loop.outcome(new_report),
                                kept=kept))
        if not kept:
            shutil.rmtree(attempt)
            log("[refine] the rebuild is not better than the build before it: keeping that one and stopping")
            break
        loop.adopt(stage, attempt)
        report, build = new_report, new_build
    if refinements:
        report["refinements"] = refinements
    return report, build


def affine_preprocessing(model, log=print):
    """`model` with its Keras Normalization/Rescaling layers as batch normalization (the same per-feature scale
    and shift, which hls4ml converts: `hepfpga.compress.graph.affine_as_batchnorm`), said in one line."""
    from hepfpga.compress.graph import affine_as_batchnorm

    model, rewritten = affine_as_batchnorm(model)
    if rewritten:
        log(f"[convert] {', '.join(rewritten)} (Keras preprocessing, a scale and shift per feature) converted as "
            "batch normalization: the same map, which hls4ml converts (and folds into the next layer where it can)")
    return model


def check_inputs(model, calibration, validation, opt: ConvertOptions):
    """The model's layers are convertible and the data fit its inputs: (calibration, validation) as lists
    with one array per input (validation may be None)."""
    from hepfpga.convert.supported import check_supported
    from hepfpga.extensions import check_model as check_extension_layers

    if not is_hgq(model):  # HGQ's training layers convert through its proxy (checked once made)
        check_supported(model)
    check_extension_layers(model, opt.io_type)
    if calibration is None:
        raise DataError("no calibration data: precisions of a float model come from the values it sees")
    names = list(model.input_names)
    shapes = [tuple(s[1:]) for s in (model.input_shape if len(names) > 1 else [model.input_shape])]
    cal, val = per_input(calibration), per_input(validation)
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
    return cal, val


def choose_config(model, cal: list[np.ndarray], opt: ConvertOptions, override: dict | None = None) -> dict:
    """hls4ml's per-layer configuration with hepfpga's precisions (calibrated for float models, the
    quantizers' for QKeras), every layer traced, `override` merged over it, LSTM types aligned."""
    config = base_config(model, opt.backend, trace_layers=[], softmax_table_size=opt.table_size,
                         reuse_factor=opt.reuse_factor, strategy=opt.strategy)
    for entry in config["LayerName"].values():
        entry["Trace"] = True  # per-layer firmware outputs, to locate a divergence
    if not is_proxy(model):  # an HGQ proxy's quantizers fix every type
        choose_precisions(model, config, as_model_input(cal), opt.target_error, opt.headroom_bits, opt.table_size)
    if override:
        merge_config(config, override)
    align_lstm_types(model, config)  # may widen the input type
    return config


def read_override(model, override: dict, opt: ConvertOptions, log=print) -> dict:
    """A user's hls4ml configuration as hls4ml 1.3 reads it, per layer (`hepfpga.convert.config.adapt_override`:
    per-layer-type sections, older spellings), with a line for each thing read differently from how it is
    written."""
    from hepfpga.convert.config import adapt_override, layer_classes

    base = base_config(model, opt.backend, softmax_table_size=opt.table_size)
    override, notes = adapt_override(override, base, layer_classes(model))
    for note in notes:
        log(f"[config] {note}")
    return override


def evaluation_inputs(model, config: dict, data: list[np.ndarray], max_events: int):
    """The first `max_events` events of `data` on the firmware's input grid (the same values for Keras and
    the firmware): an array, or a list for several inputs."""
    from hepfpga.compress.quantize import firmware_inputs

    types = [(config["LayerName"][name].get("Precision") or {}).get("result") for name in model.input_names]
    return firmware_inputs(model, [a[:max_events] for a in data], types)


def earlier_build(output_dir: Path, stamp: str) -> tuple[dict | None, list[str] | None]:
    """(the report of an earlier identical build in `output_dir` (same fingerprint), its files missing or
    changed since it was written (`hepfpga.project.changed_files`; None without a record)); (None, None)
    when there is no such build."""
    earlier = output_dir / RESULTS / CONVERT_REPORT
    if not earlier.is_file():
        return None, None
    try:
        report = json.loads(earlier.read_text())
    except ValueError:
        return None, None
    if report.get("fingerprint") != stamp:
        return None, None
    return report, changed_files(output_dir)


def may_rebuild(output_dir: Path, changed: list[str] | None, force: bool) -> None:
    """An identical earlier build whose files are not all as written may be rebuilt in place when files are
    only missing; files changed since (a user's edits) or an unverifiable project need `force`."""
    from hepfpga.errors import ProjectExistsError

    edited = ["(its record of files, hepfpga/files.sha256)"] if changed is None else \
        [name for name in changed if (output_dir / name).is_file()]
    if edited and not force:
        shown = ", ".join(edited[:5]) + (f" and {len(edited) - 5} more" if len(edited) > 5 else "")
        raise ProjectExistsError(
            f"{output_dir} holds this build, but files were changed since it was written: {shown}; nothing was "
            "changed. Pass --force (force=True) to build it again over them, or choose another output folder")


def build_and_verify(model, stage: Path, config: dict, evaluation, opt: ConvertOptions, log,
                     **fields) -> tuple[dict, dict]:
    """Write the project into `stage` and verify it against Keras on `evaluation`. Returns the report (with
    `fields` added) and what `write_reports` needs besides it: the firmware outputs ("predictions"), the
    configuration, the hls4ml model and the Keras layer outputs of the traced events."""
    from hepfpga.compress.quantize import has_input_quantizer
    from hepfpga.convert.write import write_project
    from hepfpga.csim.verify import verify

    results = stage / RESULTS
    results.mkdir()
    t0 = time.perf_counter()
    keras_out = model.predict(evaluation, batch_size=1024, verbose=0)
    testbench = {}
    if not isinstance(evaluation, list):  # hls4ml's testbench data files hold one input
        np.save(results / "tb_input.npy", evaluation[:100])
        np.save(results / "tb_output.npy", keras_out[:100])
        testbench = dict(input_data_tb=str(results / "tb_input.npy"), output_data_tb=str(results / "tb_output.npy"))
    quantized = is_quantized(model)
    kind = ("QKeras (quantizer precisions" + (", bit-exact)" if has_input_quantizer(model) else ")")) if quantized \
        else "float (calibrated precisions)"
    if is_proxy(model):
        kind = "HGQ proxy (quantizer types, bit-exact)"
    log(f"[convert] {kind} model {model.name!r} -> hls4ml {opt.backend}, {opt.io_type}, part {opt.part}")
    hls_model = write_project(model, stage, config=config, backend=opt.backend, part=opt.part,
                              clock_period=opt.clock_period, io_type=opt.io_type, **testbench)
    fallback = getattr(hls_model, "bit_exact_fallback", None)
    if fallback:
        fields = {**fields, "bit_exact_fallback": fallback}
        log(f"[convert] {fallback}")
    checked, fw_out, keras_layers = verify(model, hls_model, evaluation, keras_out, opt.trace_events,
                                           opt.min_agreement, opt.max_relative_error, opt.engine, log)
    report = {"model": model.name, "quantized": quantized, "options": asdict(opt), "events": len(keras_out),
              **fields, **checked, "estimate": project_estimate(stage, opt.part),
              "seconds": round(time.perf_counter() - t0, 1)}
    return report, dict(predictions=fw_out, config=config, hls_model=hls_model, keras_layers=keras_layers)


def project_estimate(project_dir: Path, part: str) -> dict:
    """The resource and latency estimate of the written project (`hepfpga.estimate`), without its folder
    path (the project is still staged); {"error": ...} when it cannot be made."""
    from hepfpga.errors import HepfpgaError
    from hepfpga.estimate import estimate_project

    try:
        result = estimate_project(project_dir, part)
    except HepfpgaError as err:
        return {"error": str(err)}
    result.pop("project")
    return result


def write_reports(report: dict, build: dict, results: Path) -> None:
    """predictions.npy, hls4ml_config.yml, convert.json, report.md and precision_profile.png in `results`."""
    from hepfpga.csim.compare import profile_rows
    from hepfpga.report.plots import precision_profile
    from hepfpga.report.summaries import convert_summary

    np.save(results / "predictions.npy", build["predictions"])
    write_config_yaml(build["config"], results / "hls4ml_config.yml")
    testbench = [f"{RESULTS}/{f}" if (results / f).is_file() else None for f in ("tb_input.npy", "tb_output.npy")]
    export_project_yaml(results.parent, MODEL_FILE, *testbench)
    (results / CONVERT_REPORT).write_text(json.dumps(report, indent=1, default=float))
    (results / "report.md").write_text(convert_summary(report) + "\n")
    precision_profile(profile_rows(build["hls_model"], build["keras_layers"]), results / "precision_profile.png",
                      title=f"{report['model']}: observed ranges vs firmware types")
