"""`hepfpga compress`: a trained model and its data from files -> pruned, quantized, verified firmware."""

from __future__ import annotations

import sys
from pathlib import Path

from hepfpga import options as opts
from hepfpga.errors import EXIT_TARGET_MISSED


def _compress(args) -> int:
    from hepfpga.cli.convert import _input_shapes
    from hepfpga.compression import compress_model
    from hepfpga.data import load_labelled
    from hepfpga.models.load import load_model
    from hepfpga.project import check_destination

    options = opts.from_arguments(opts.CompressOptions, args)
    opts.check(options)
    inputs = [p for p in (args.model, args.data, args.validation, args.scaler) if p]
    output = args.output or str(Path("hls_projects") / f"{Path(args.model).stem}_compressed")
    check_destination(output, force=True, inputs=inputs)
    model = load_model(args.model)
    shapes = _input_shapes(model)

    def read(path):
        return load_labelled(path, shapes, tree=args.tree, branches=args.branches, label_branch=args.label_branch,
                             scaler=args.scaler, pad=args.pad, sort_by=args.sort_by)

    x, y = read(args.data)
    validation = read(args.validation) if args.validation else None
    report = compress_model(model, x, y, output, options, validation=validation, force=args.force, inputs=inputs)
    print(f"\nproject: {output}/   report: {output}/hepfpga/report.json, report.md   plot: "
          f"{output}/hepfpga/compression.png")
    if not report["passed"]:
        unit = "accuracy points" if report["task"] == "classification" else "relative MSE"
        print(f"hepfpga compress: the firmware loses {report['loss']:.4g} {unit} against float, more than "
              f"--max-loss {report['max_loss']:g}", file=sys.stderr)
        return EXIT_TARGET_MISSED
    return 0


def compress_parser(sub) -> None:
    from hepfpga.cli.convert import add_data_options

    p = sub.add_parser("compress", allow_abbrev=False,
                       help="prune, quantize (QKeras or HGQ), convert and verify any trained model on your data",
                       description="Float metrics -> pruning (magnitude or neurons) -> quantization-aware training "
                                   "of the same architecture (QKeras, or HGQ's learned bit widths) -> verified hls4ml "
                                   "project -> estimate; every step's accuracy (or MSE) reported. DATA: .npz with "
                                   "the inputs (x, or one array per input name) and y, or .root with --tree, "
                                   "--branches and --label-branch. Exits 0 when the firmware is within --max-loss of "
                                   "float, 3 when not, 2 on bad input (before any training, nothing written).")
    p.add_argument("model", help="trained Keras-2 model (.h5, .keras, SavedModel folder)")
    p.add_argument("--data", required=True, help="training data (.npz with inputs and y, or .root)")
    p.add_argument("--validation", help="validation data in the same form (default: --validation-fraction of DATA)")
    p.add_argument("--label-branch", help=".root: branch of class indices or regression targets (several, comma-"
                                          "separated: one-hot labels or several targets)")
    add_data_options(p)
    opts.add_arguments(p, opts.CompressOptions)
    p.add_argument("--output", help="project folder (default: hls_projects/<model file name>_compressed/)")
    p.add_argument("--force", action="store_true", help="replace an existing output folder")
    p.set_defaults(func=_compress)
