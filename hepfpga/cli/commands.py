"""`hepfpga demo`, `build`, `estimate`, `scan` and `models`: each builds its options and calls one API function."""

from __future__ import annotations

import sys
from pathlib import Path

from hepfpga import options as opts
from hepfpga.errors import EXIT_TARGET_MISSED


def _demo(args) -> int:
    from hepfpga.chain import JetTaggingOptions, demo

    report = demo(args.output, n_events=args.events, options=opts.from_arguments(JetTaggingOptions, args),
                  force=args.force)
    return 0 if all(report["targets"].values()) else EXIT_TARGET_MISSED


def _build(args) -> int:
    import json

    from hepfpga.report.summaries import build_summary
    from hepfpga.synthesis import hls

    summary = hls.build(args.project, csim=args.csim, synth=args.synth, cosim=args.cosim, vsynth=args.vsynth,
                        hls_tool=args.hls_tool)
    out = Path(args.project) / "hepfpga"
    out.mkdir(exist_ok=True)
    (out / "build.json").write_text(json.dumps(summary, indent=1))
    print(build_summary(summary))
    print(f"report: {out / 'build.json'}")
    return 0


def _estimate(args) -> int:
    import json

    from hepfpga.errors import DataError
    from hepfpga.estimate import estimate_project
    from hepfpga.report.summaries import estimate_summary

    fit = opts.from_arguments(opts.FitOptions, args)
    opts.check(fit)
    result = estimate_project(args.project, part=args.part, tool=args.tool)
    if len(result["not_estimated"]) == len(result["layers"]):
        raise DataError(f"no layer of {args.project} is covered by the estimate model: "
                        f"{', '.join(r['type'] for r in result['layers'])}")
    if fit.fit:
        return _estimate_fit(args, fit, result)
    print(json.dumps(result, indent=1) if args.json else estimate_summary(result))
    if result["device"] is None:
        print(f"hepfpga estimate: {next(n for n in result['notes'] if 'part table' in n)}", file=sys.stderr)
        return 2
    return 0


def _estimate_fit(args, fit, result: dict) -> int:
    """`estimate --fit`: the design search as a dry run (nothing written)."""
    import json

    from hepfpga.convert.fit import fit_summary
    from hepfpga.errors import ConfigError
    from hepfpga.estimate.search import Budget, fit_design
    from hepfpga.firmware import read_firmware

    if result["device"] is None:
        raise ConfigError(f"--fit needs a part in hepfpga's table to fit into; {result['part']!r} is not (--part)")
    search = fit_design(read_firmware(args.project), Budget(fit.max_share, fit.max_latency_ns, fit.min_interval),
                        part=args.part, tool=args.tool)
    search["io_type"] = result["io_type"]
    print(json.dumps(search, indent=1) if args.json else fit_summary(search))
    if not args.json and search["changes"]:
        print("convert with these settings: `hepfpga convert MODEL --fit ...`, or put them in the project's "
              "hls4ml configuration (LayerName: ReuseFactor, Strategy)")
    return 0 if search["fits"] else EXIT_TARGET_MISSED


def _scan(args) -> int:
    from hepfpga.scan.options import ScanOptions
    from hepfpga.scan.run import scan
    from hepfpga.scan.space import DEFAULT_SPACE, MODEL_SPACE, base_point, expand, read_space

    options = opts.from_arguments(ScanOptions, args)
    opts.check(options)
    if args.space:
        points, base = read_space(args.space, with_base=True)
    else:
        space = MODEL_SPACE if args.model else DEFAULT_SPACE
        points, base = expand(space), base_point(space)
    if args.list:
        for k, p in enumerate(points, 1):
            print(f"{k:3d}  {p.key()}  {p.label()}")
        return 0
    extra = {}
    if args.model:
        if not args.data:
            from hepfpga.errors import DataError

            raise DataError("--model needs --data: your training data (.npz with the inputs and y, or .root with "
                            "--tree, --branches and --label-branch)")
        keys = ("tree", "branches", "label_branch", "scaler", "pad", "sort_by", "task")
        extra = dict(model=args.model, validation=args.validation,
                     data_options={k: getattr(args, k) for k in keys if getattr(args, k) is not None})
    elif args.validation or args.label_branch or args.task:
        from hepfpga.errors import ConfigError

        raise ConfigError("--validation, --label-branch and --task go with --model (a scan of your own model); the "
                          "jet scan reads the synthetic set's branches from --data")
    summary = scan(points, args.output, options, data=args.data, recommend_to=args.recommend_to, force=args.force,
                   default=base if args.model else None, **extra)
    print(f"\nscan folder: {args.output} (results.csv, results.json, report.md, pareto_resources.png, "
          "pareto_latency.png)")
    if "recommended_project" in summary:
        print(f"recommended project: {summary['recommended_project']['path']}")
    failed = [r for r in summary["points"] if r["status"] != "ok"]
    if failed:
        print(f"{len(failed)} point(s) failed; their errors are in results.json", file=sys.stderr)
    return 0


def models(args) -> int:
    from hepfpga.models import available, options

    for family, summary in available().items():
        print(f"{family}: {summary}")
        described = ", ".join(f"{k}={v!r}" for k, v in options(family).items())
        print(f"    options: {described}")
    return 0


def demo_parser(sub) -> None:
    from hepfpga.chain import DEMO_EVENTS, DEMO_OUTPUT, JetTaggingOptions

    p = sub.add_parser("demo", allow_abbrev=False,
                       help="run the whole jet-tagging chain on the synthetic dataset",
                       description="Synthetic jets -> ROOT -> MLP -> pruning -> QKeras QAT -> hls4ml -> C-sim, "
                                   "with a results table, report.json and ROC plot in the project folder. "
                                   "Exits 3 if a target is missed.")
    p.add_argument("--output", default=str(DEMO_OUTPUT), help="project folder (default: %(default)s)")
    p.add_argument("--events", type=int, default=DEMO_EVENTS, help="synthetic jets to generate (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="replace the output folder even if the demo did not write it")
    opts.add_arguments(p, JetTaggingOptions, skip=("tree", "features", "label_branch", "classes"))
    p.set_defaults(func=_demo)


def build_parser(sub) -> None:
    p = sub.add_parser("build", allow_abbrev=False,
                       help="run Vivado/Vitis HLS on a project and report latency and resources",
                       description="Runs the project's build_prj.tcl with the vendor HLS tool (hls4ml's build) and "
                                   "reads the reports back. Needs vitis_hls (Vitis backend) or vivado_hls (Vivado).")
    p.add_argument("project")
    p.add_argument("--csim", action="store_true", help="vendor C-simulation")
    p.add_argument("--synth", action="store_true", help="C synthesis (latency, resources)")
    p.add_argument("--cosim", action="store_true", help="C/RTL co-simulation")
    p.add_argument("--vsynth", action="store_true", help="Vivado logic synthesis")
    p.add_argument("--hls-tool", help="path or name of the HLS executable, if not on PATH")
    p.set_defaults(func=_build)


def estimate_parser(sub) -> None:
    p = sub.add_parser("estimate", allow_abbrev=False,
                       help="estimate latency and resources of an HLS project without vendor tools",
                       description="Reads PROJECT as the HLS tool does (firmware/*.cpp, parameters.h, defines.h, "
                                   "weights, Tcl) and prints per layer and in total: latency (cycles, ns), initiation "
                                   "interval, DSP, LUT, FF, BRAM_18K and each as a share of the part; beside the "
                                   "vendor's C-synthesis report when the project holds one; each total with its "
                                   "uncertainty band. --fit: the per-layer reuse factors and strategies that would "
                                   "make the design fit (a dry run; exits 3 when none does). Exits 2 on bad input or "
                                   "an unknown part.")
    p.add_argument("project", help="hls4ml project folder (any hls4ml version; hls4ml_config.yml not needed)")
    p.add_argument("--part", help="FPGA part to compare with (default: the project's own)")
    p.add_argument("--tool", choices=("vivado_hls", "vitis_hls"),
                   help="HLS tool whose coefficients to use (default: from the project's hls4ml backend)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    opts.add_arguments(p, opts.FitOptions)
    p.set_defaults(func=_estimate)


def scan_parser(sub) -> None:
    from hepfpga.scan.options import ScanOptions

    p = sub.add_parser("scan", allow_abbrev=False,
                       help="explore accuracy against resources and latency over a design space, on Dask",
                       description="Trains, converts, emulates and estimates every point of a design space (bits, "
                                   "sparsity, pruning kind, widths, distillation, reuse factor, strategy, io type) "
                                   "on Dask workers; writes a table (results.csv, results.json), Pareto plots and "
                                   "the recommended point as a ready project. Rerun to resume: finished points are "
                                   "kept. Default space: the demo's jet tagger and 27 variations "
                                   "(docs/scan.md).")
    p.add_argument("--space", help="design space YAML (base: {...}, grids: [{field: [values]}, ...]); default: "
                                   "hepfpga.scan.space.DEFAULT_SPACE")
    p.add_argument("--output", default="hls_projects/scan_jet_tagger", help="scan folder (default: %(default)s)")
    p.add_argument("--data", help="with --model: your data (.npz with the inputs and y, or .root); without: a ROOT "
                                  "file of jets (tree 'jets', the synthetic set's branches) instead of the synthetic "
                                  "set")
    p.add_argument("--model", help="scan your own trained Keras model (.h5, .keras, SavedModel) instead of the jet "
                                   "tagger: bits (per model or {layer: bits}), sparsity, pruning, method, beta, reuse "
                                   "factor, strategy, io type; default space: hepfpga.scan.space.MODEL_SPACE")
    p.add_argument("--validation", help="--model: validation data in the same form (halved into validation and test; "
                                        "default: 15 %% and 25 %% of --data)")
    p.add_argument("--label-branch", help="--model with .root data: branch(es) of the labels or targets")
    p.add_argument("--task", choices=("classification", "regression"),
                   help="--model: classification or regression (default: from the model's output activation)")
    from hepfpga.cli.convert import add_data_options

    add_data_options(p)
    p.add_argument("--recommend-to", help="folder of the recommended project (default: <output>/recommended)")
    p.add_argument("--list", action="store_true", help="print the points of the space and exit")
    p.add_argument("--force", action="store_true", help="replace an output folder that holds something else")
    opts.add_arguments(p, ScanOptions)
    p.set_defaults(func=_scan)
