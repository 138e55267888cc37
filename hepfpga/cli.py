"""The `hepfpga` command. Each sub-command parses its options and calls one Python API function."""

from __future__ import annotations

import argparse
import os
import sys
import warnings


def _quiet_libraries() -> None:
    """Silence start-up chatter of TensorFlow and known-harmless warnings of the pinned stack."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for message in (r"You are saving your model as an HDF5 file", r"The `keras.constraints.serialize\(\)` API",
                    r"Softmax layer .* is converted from a frontend not supporting bit-exact softmax"):
        warnings.filterwarnings("ignore", message=message)
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")


def _demo(args) -> int:
    from hepfpga.pipeline import demo

    report = demo(args.output, n_events=args.events, force=args.force)
    return 0 if all(report["targets"].values()) else 3


def main(argv: list[str] | None = None) -> int:
    from hepfpga import __version__
    from hepfpga.errors import HepfpgaError

    parser = argparse.ArgumentParser(prog="hepfpga", description="Keras/QKeras models to FPGA firmware via hls4ml.")
    parser.add_argument("--version", action="version", version=f"hepfpga {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="run the whole jet-tagging chain on the synthetic dataset",
                       description="Synthetic jets -> ROOT -> MLP -> pruning -> QKeras QAT -> hls4ml -> C-sim, "
                                   "with a results table, report.json and ROC plot in the project folder. "
                                   "Exits 3 if a target is missed.")
    p.add_argument("--output", default="hls_projects/demo_jet_tagger", help="project folder (default: %(default)s)")
    p.add_argument("--events", type=int, default=200_000, help="synthetic jets to generate (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="replace the output folder even if the demo did not write it")
    p.set_defaults(func=_demo)

    args = parser.parse_args(argv)
    _quiet_libraries()
    try:
        return args.func(args)
    except HepfpgaError as err:
        print(f"hepfpga {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hepfpga {args.command}: interrupted; no partial output was left behind", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
