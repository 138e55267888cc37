"""Regenerate the model-zoo support matrix (docs/support-matrix.md) from the C-sim test results.

Runs tests/test_zoo.py with HEPFPGA_SUPPORT_MATRIX set (each conversion test records its outcome, see
tests/conftest.py), renders family x (float, QKeras) x (io_parallel, io_stream) as a Markdown table and
writes it between the support-matrix markers in docs/support-matrix.md. With --from-json, renders an
earlier run.

Usage: python tools/support_matrix.py [--from-json results.json] [--print-only]
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- support-matrix:start -->", "<!-- support-matrix:end -->"
#: Row order and the description of each family in the table.
FAMILIES = {
    "mlp": "MLP (jet features)",
    "cnn2d": "CNN 2D (jet images)",
    "cnn1d": "CNN 1D (pT-ordered constituents)",
    "resnet": "ResNet (Add skips)",
    "lstm": "LSTM (constituent sequence)",
    "gru": "GRU (constituent sequence)",
    "deepsets": "DeepSets / PointNet",
    "garnet": "GarNet (hls4ml's graph layer; hits + hit count)",
    "interaction_network": "Interaction network (message passing, complete graph)",
    "gnn": "GNN of hepfpga MessagePassing layers (k nearest in η, φ)",
    "autoencoder_dense": "Autoencoder, dense, denoising → MSE anomaly score",
    "autoencoder_conv": "Autoencoder, convolutional → MSE anomaly score",
    "vae": "VAE → Σμ² anomaly score",
    "gan": "GAN generator",
    "diffusion": "Diffusion denoiser, MLP (jet features; one call per step)",
    "diffusion_conv": "Diffusion denoiser, Conv2D (8×8 jet images)",
    "transformer": "Transformer encoder (attention, layer norm)",
}
COLUMNS = [("float", "io_parallel"), ("QKeras", "io_parallel"), ("float", "io_stream"), ("QKeras", "io_stream")]


def render(rows: list[dict]) -> str:
    cells = {(r["family"], r["form"], r["io_type"]): r["outcome"] for r in rows}
    lines = ["| family | " + " | ".join(f"{form}, {io}" for form, io in COLUMNS) + " |",
             "|---" * (len(COLUMNS) + 1) + "|"]
    for family, text in FAMILIES.items():
        lines.append(f"| {text} | " + " | ".join(cells.get((family, *c), "not run") for c in COLUMNS) + " |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-json", help="render this recorded run instead of running the tests")
    parser.add_argument("--print-only", action="store_true", help="print only; leave docs/support-matrix.md alone")
    args = parser.parse_args()
    if args.from_json:
        rows = json.loads(Path(args.from_json).read_text())
    else:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "support.json"
            env = {**os.environ, "HEPFPGA_SUPPORT_MATRIX": str(out)}
            code = subprocess.call([sys.executable, "-m", "pytest", str(ROOT / "tests" / "test_zoo.py"), "-q"], env=env)
            if not out.is_file():
                sys.exit(f"the tests recorded no results (pytest exit code {code})")
            rows = json.loads(out.read_text())
            if code != 0:
                print(f"warning: pytest exited with {code}; the table shows what was recorded", file=sys.stderr)
    table = render(rows)
    print(table)
    if not args.print_only:
        target = ROOT / "docs" / "support-matrix.md"
        text = target.read_text()
        if START not in text or END not in text:
            sys.exit(f"{target} has no {START} ... {END} markers")
        head, rest = text.split(START, 1)
        target.write_text(head + START + "\n" + table + "\n" + END + rest.split(END, 1)[1])
        print(f"updated {target}")


if __name__ == "__main__":
    main()
