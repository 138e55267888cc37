"""`hepfpga convert` and `hepfpga csim`: a model and its input data from files, through the API."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hepfpga import options as opts
from hepfpga.errors import EXIT_TARGET_MISSED


def add_data_options(p) -> None:
    """Options saying how to read a model-input file (see `hepfpga.data.load_inputs`)."""
    p.add_argument("--tree", help="TTree name for .root data")
    p.add_argument("--branches", help="comma-separated feature branches for .root data, in model-input order; for "
                                      "a model with several inputs one group per input: 'hits=b1,b2;n_hits=b3'")
    p.add_argument("--scaler", help="scaler.json to standardise .root/.npy features as in training")
    p.add_argument("--key", help="array name inside an .npz file (several inputs: one array per input name)")
    p.add_argument("--pad", type=int, help="jagged .root branches (a list per event, e.g. particles): pad with zeros "
                                           "or truncate every event to PAD entries")
    p.add_argument("--sort-by", help="with --pad: sort each event's entries by this jagged branch, largest first, "
                                     "before truncating (e.g. the particles' pT)")


def _load_data(args, path, model):
    from hepfpga.data import load_model_inputs

    return load_model_inputs(path, _input_shapes(model), tree=args.tree, branches=args.branches, scaler=args.scaler,
                             key=args.key, pad=args.pad, sort_by=args.sort_by)


def _input_shapes(model) -> dict[str, tuple]:
    """{input name: shape without the batch axis}, in the model's input order."""
    return {name: tuple(t.shape[1:]) for name, t in zip(model.input_names, model.inputs)}


def _check_testbench_outputs(model, tb_input, path: str) -> None:
    """Keras on the testbench inputs against the testbench outputs `path` (one event per line): a check that
    the inputs were split as the model expects. A mismatch is reported, not fatal (the outputs may come
    from an earlier version of the model)."""
    import numpy as np

    from hepfpga.data import load_testbench, n_events

    keras = np.asarray(model.predict(tb_input, verbose=0)).reshape(n_events(tb_input), -1)
    expected = load_testbench(path, {"output": keras.shape[1:]})
    if len(expected) != len(keras):
        print(f"WARNING: {path} holds {len(expected)} events, the testbench inputs {len(keras)}", file=sys.stderr)
        return
    spread = float(keras.max() - keras.min()) or 1.0
    worst = float(np.abs(expected - keras).max()) / spread
    off = worst > 0.01
    verdict = "WARNING: more than 1 % off; are the inputs split as the model expects?" if off else "as expected"
    print(f"Keras on --tb-input against --tb-output: max |Δ| {100 * worst:.3g} % of the output range ({verdict})",
          file=sys.stderr if off else sys.stdout)


def _read_override(path: str | None) -> dict | None:
    import yaml

    from hepfpga.errors import ConfigError

    if not path:
        return None
    try:
        override = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as err:
        raise ConfigError(f"cannot read the --config YAML {path}: {err}") from err
    if not isinstance(override, dict):
        raise ConfigError(f"{path} is not an hls4ml configuration (a mapping with Model/LayerName keys)")
    return override


def _hls4ml_project(args):
    """With --hls4ml-config: read hls4ml's project YAML and fill in what the command line left unset (the
    model, weights, output folder, testbench files, and firmware options still at their defaults); the
    parsed project, else None."""
    import dataclasses

    from hepfpga.convert.hls4ml_yaml import read_project_yaml
    from hepfpga.errors import ConfigError

    if not args.hls4ml_config:
        if not args.model:
            raise ConfigError("give the MODEL file, or --hls4ml-config FILE.yml (an hls4ml project YAML naming it)")
        return None
    project = read_project_yaml(args.hls4ml_config)
    if args.model is None:
        args.model, args.weights = str(project.model), str(project.weights) if project.weights else args.weights
    if args.output is None and project.output_dir:
        args.output = str(project.output_dir)
    if args.tb_input is None and project.input_data and project.input_data.suffix == ".dat":
        args.tb_input = str(project.input_data)
        if args.tb_output is None and project.output_predictions and project.output_predictions.suffix == ".dat":
            args.tb_output = str(project.output_predictions)
    elif args.calibration is None and project.input_data:
        args.calibration = str(project.input_data)
    defaults = {f.name: f.default for f in dataclasses.fields(opts.ConvertOptions)}
    for name, value in project.options.items():
        if getattr(args, name) == defaults[name]:  # the command line's own flags win
            setattr(args, name, value)
    for note in project.ignored:
        print(f"note: {args.hls4ml_config}: not taken over: {note}", file=sys.stderr)
    return project


def _convert(args) -> int:
    import numpy as np

    from hepfpga.convert import convert_model
    from hepfpga.data import as_model_input, load_testbench, random_inputs
    from hepfpga.errors import ConfigError, DataError
    from hepfpga.models.load import load_model
    from hepfpga.project import check_destination

    project = _hls4ml_project(args)
    options = opts.from_arguments(opts.ConvertOptions, args)
    opts.check(options)
    if args.calibration and args.random_calibration:
        raise ConfigError("--calibration and --random-calibration exclude each other: give one")
    inputs = [p for p in (args.model, args.weights, args.calibration, args.validation, args.config, args.scaler,
                          args.tb_input, args.tb_output, args.hls4ml_config) if p]
    output = args.output or str(Path("hls_projects") / Path(args.model).stem)
    check_destination(output, force=True, inputs=inputs)  # safety only; an existing output is convert_model's call
    predictions = output_file(args.predictions_out, args.force, inputs)
    model = load_model(args.model, args.weights)
    shapes = _input_shapes(model)
    testbench = load_testbench(args.tb_input, shapes) if args.tb_input else None
    if args.tb_output:
        if testbench is None:
            raise ConfigError("--tb-output needs --tb-input (the inputs those outputs belong to)")
        _check_testbench_outputs(model, testbench, args.tb_output)
    if args.calibration:
        calibration = _load_data(args, args.calibration, model)
    elif testbench is not None:
        calibration = testbench
    elif args.random_calibration:
        calibration = as_model_input([random_inputs(shape, n=2000, seed=k) for k, shape in enumerate(shapes.values())])
        print("WARNING: no calibration data: precisions are chosen for N(0,1) random inputs and are GUESSES. "
              "Real inputs outside that range may overflow. Pass --calibration with data the model will see.",
              file=sys.stderr)
    else:
        raise DataError("no calibration data: give --calibration FILE (.npy, .npz, or .root with --tree and "
                        "--branches), --tb-input FILE, or --random-calibration to accept guessed precisions")
    validation = _load_data(args, args.validation, model) if args.validation else None
    if validation is None and testbench is not None and args.calibration:
        validation = testbench
    override = _read_override(args.config)
    if project is not None and project.override:
        import copy

        from hepfpga.convert.config import deep_merge

        override = deep_merge(copy.deepcopy(project.override), override or {})  # --config over the hls4ml YAML
    report = convert_model(model, output, calibration, validation, options, override, force=args.force,
                           inputs=inputs)
    if predictions:
        save_array(predictions, np.load(Path(output) / "hepfpga" / "predictions.npy"))
        print(f"firmware predictions ({report['events']} events): {predictions}")
    if "fit" in report and not report["fit"]["fits"]:
        print(f"hepfpga convert: --fit found no design within the budget; the project holds the closest one "
              f"(it misses {'; '.join(report['fit']['misses'])})", file=sys.stderr)
        return EXIT_TARGET_MISSED
    return 0 if report["passed"] else EXIT_TARGET_MISSED


def _csim(args) -> int:
    from hepfpga.csim.simulate import csim_project
    from hepfpga.models.load import load_model
    from hepfpga.project import project_model

    options = opts.from_arguments(opts.CsimOptions, args)
    opts.check(options)
    inputs = [p for p in (args.data, args.scaler) if p]
    predictions = output_file(args.predictions_out, args.force, inputs)
    x = _load_data(args, args.data, load_model(project_model(args.project)))
    report = csim_project(args.project, x, engine=options.engine, jobs=options.jobs, testbench=options.testbench,
                          testbench_events=options.testbench_events)
    if predictions:
        save_array(predictions, report.pop("firmware_outputs"))
        print(f"firmware predictions ({len(x)} events): {predictions}")
    ok = report["agreement"]["argmax_agreement"] >= options.min_agreement
    if "testbench" in report:
        ok = ok and report["testbench"]["values_differing_from_engine"] == 0
    return 0 if ok else EXIT_TARGET_MISSED


def output_file(path: str | None, force: bool, inputs) -> Path | None:
    """A file the run will write: checked before any work (its folder exists; it is no input; an existing
    file is replaced only with --force)."""
    from hepfpga.errors import DataError, ProjectExistsError

    if not path:
        return None
    out = Path(path)
    if any(out.resolve() == Path(p).resolve() for p in inputs):
        raise DataError(f"{out} is one of this run's inputs; it would be overwritten: choose another output file")
    if out.is_dir():
        raise DataError(f"{out} is a folder; give a file name ending in .npy")
    if not out.parent.is_dir():
        raise DataError(f"cannot write {out}: the folder {out.parent} does not exist")
    if out.exists() and not force:
        raise ProjectExistsError(f"{out} already exists; pass --force to replace it, or choose another file")
    return out


def save_array(path: Path, values) -> None:
    """Write `values` as .npy to `path` in one rename: no half-written file on failure."""
    import numpy as np

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            np.save(f, values)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def convert_parser(sub) -> None:
    p = sub.add_parser("convert", allow_abbrev=False,
                       help="convert a trained Keras/QKeras model into a verified HLS project",
                       description="Load MODEL, choose firmware precisions (from calibration data for float models, "
                                   "from the quantizers for QKeras models), write an hls4ml project, compile its "
                                   "C++ emulation with g++ and compare it with Keras. With --fit, first choose "
                                   "per-layer reuse factors and strategies (and io_stream if needed) that make the "
                                   "design fit the part. Exits 3 when argmax agreement is below --min-agreement or "
                                   "--fit cannot fit, 2 on bad input.")
    p.add_argument("model", nargs="?", help="full-model .h5, .keras, SavedModel folder, or architecture .json (with "
                                            "--weights); optional with --hls4ml-config")
    p.add_argument("--weights", help="weights .h5 for an architecture .json")
    p.add_argument("--calibration", help="inputs the model will see: .npy, .npz, or .root (with --tree, --branches)")
    p.add_argument("--random-calibration", action="store_true",
                   help="no data: use N(0,1) inputs (precisions are guesses)")
    p.add_argument("--validation", help="held-out inputs to verify on (same formats); default: the calibration set")
    p.add_argument("--tb-input", help="hls4ml testbench inputs (tb_input_features.dat: one event per line, the "
                                      "inputs flattened in model-input order): the calibration set without "
                                      "--calibration, else the validation set without --validation")
    p.add_argument("--tb-output", help="hls4ml testbench outputs for --tb-input: Keras is checked against them")
    add_data_options(p)
    p.add_argument("--config", help="hls4ml-style YAML merged over the chosen configuration (e.g. a hls4ml_config.yml "
                                    "written by an earlier run, edited)")
    p.add_argument("--hls4ml-config", help="an hls4ml project YAML (KerasModel or KerasJson/KerasH5, OutputDir, Part, "
                                           "ClockPeriod, IOType, HLSConfig, InputData, ...): model, folder and options "
                                           "from it unless given here; its LayerName precisions and reuse factors "
                                           "are kept, the other layers get hepfpga's")
    opts.add_arguments(p, opts.ConvertOptions)
    p.add_argument("--output", help="project folder (default: hls_projects/<model file name>/)")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.add_argument("--predictions-out", help="write firmware outputs on the verified events to this .npy file")
    p.set_defaults(func=_convert)


def csim_parser(sub) -> None:
    p = sub.add_parser("csim", allow_abbrev=False,
                       help="C-simulate an existing HLS project on data and compare it with Keras",
                       description="The firmware outputs of PROJECT on --data (by default from the integer "
                                   "emulator: bit-exact, no compiling, all cores), compared with the Keras model "
                                   "stored in the project; --testbench also compiles and runs the project's own HLS "
                                   "testbench, as vendor C-sim does. Exits 3 when agreement is below "
                                   "--min-agreement or the testbench disagrees with the engine.")
    p.add_argument("project", help="hls4ml project folder")
    p.add_argument("--data", required=True, help="inputs: .npy, .npz, or .root (with --tree, --branches)")
    add_data_options(p)
    opts.add_arguments(p, opts.CsimOptions)
    p.add_argument("--predictions-out", help="write the firmware outputs to this .npy file")
    p.add_argument("--force", action="store_true", help="replace an existing --predictions-out file")
    p.set_defaults(func=_csim)
