"""Open RTL of two designs, timed: the demo's QAT jet tagger (`hepfpga demo`'s project) and a QKeras CNN of the
zoo (16x16 jet images, two convolutions of 4 and 8 filters, 16-unit dense layer). For each: `hepfpga rtl
--synth` end to end (da4ml trace, Verilog, Verilator build, 10,000 events against the emulator, Yosys
synth_xilinx) with its Verilog size, build time, events/s, and Yosys LUT/FF/CARRY/DSP/BRAM beside the
estimate of the HLS (Latency strategy) design of the same model.

Usage: python benchmarks/rtl.py [--demo-project DIR] [--skip-cnn]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def demo_project(folder: Path) -> Path:
    from hepfpga.chain import demo

    demo(folder / "demo", log=lambda *a: None)
    return folder / "demo"


def cnn_project(folder: Path) -> Path:
    from hepfpga.convert import convert_model
    from hepfpga.data import read_root, write_jet_images_root
    from hepfpga.data.synthetic import IMAGE_BRANCH
    from hepfpga.models import build
    from hepfpga.train import fit

    images, labels = read_root(write_jet_images_root(folder / "images.root", 6000, 16, seed=3), "images",
                               [IMAGE_BRANCH])
    images = images * 10
    model = build("cnn", input_shape=(16, 16, 1), conv_filters=(4, 8), dense=(16,), quantized=True)
    fit(model, images[:5000], labels[:5000], images[5000:], labels[5000:], epochs=4, batch_size=256, verbose=0)
    convert_model(model, folder / "cnn", images[:1000], validation=images[5000:], log=lambda *a: None)
    return folder / "cnn"


def run(name: str, project: Path) -> dict:
    from hepfpga.rtl import rtl_project

    t0 = time.perf_counter()
    report = rtl_project(project, project / "rtl", synth=True, force=True, log=lambda *a: None)
    report["total_seconds"] = round(time.perf_counter() - t0, 1)
    s, e = report["synthesis"], report["estimate"]
    print(f"\n{name}: {report['events']} events, {report['mismatches']} output values differing from the emulator; "
          f"rtl --synth {report['total_seconds']:.0f} s in all (trace {report['trace_seconds']} s, Verilator "
          f"{report['verilator_seconds']} s, Yosys {s['seconds']} s); {report['verilog_files']} Verilog files, "
          f"{report['verilog_lines']} lines; {report['events_per_s']:,} events/s; {report['latency_cycles']} stages")
    print(f"  RTL (Yosys, {s['family']}): LUT {s['lut']}, FF {s['ff']}, CARRY {s['carry']}, DSP {s['dsp']}, "
          f"BRAM_18K {s['bram_18k']}, LUTRAM/SRL {s['lutram']}")
    print(f"  HLS design (hepfpga estimate): LUT {e.get('lut')}, FF {e.get('ff')}, DSP {e.get('dsp')}, "
          f"BRAM_18K {e.get('bram_18k')}, latency {e.get('latency_cycles')} cycles")
    return report


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--demo-project", help="an existing `hepfpga demo` project (default: run the demo here)")
    parser.add_argument("--skip-cnn", action="store_true")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        project = Path(args.demo_project) if args.demo_project else demo_project(Path(tmp))
        print(f"demo project: {project} ({time.perf_counter() - t0:.0f} s)")
        run("demo QAT jet tagger", project)
        if not args.skip_cnn:
            run("QKeras CNN (zoo)", cnn_project(Path(tmp)))


if __name__ == "__main__":
    main()
