"""`hepfpga rtl`: Verilog of a converted project through da4ml, simulated with Verilator against the emulator,
optionally synthesised with Yosys."""

from __future__ import annotations

import json

from hepfpga.errors import EXIT_TARGET_MISSED


def _rtl(args) -> int:
    from hepfpga.data import load_model_inputs
    from hepfpga.project import read_config
    from hepfpga.report.summaries import rtl_summary
    from hepfpga.rtl import rtl_project

    data = None
    if args.data:
        shapes = {name: tuple(shape) for name, shape in read_config(args.project)["InputShapes"].items()}
        data = load_model_inputs(args.data, shapes)
    log = (lambda *a: None) if args.json else print
    report = rtl_project(args.project, args.output, data=data, events=args.events,
                         latency_cutoff=args.latency_cutoff, synth=args.synth, force=args.force, log=log)
    if args.json:
        print(json.dumps(flat_report(report), indent=1, default=float))
    else:
        print(rtl_summary(report))
    return EXIT_TARGET_MISSED if report["mismatches"] else 0


def flat_report(report: dict) -> dict:
    """`--json`'s object: the run's figures with Yosys's counts at the top level (None without --synth);
    `bram` and `bram_18k` are both block RAM in 18 Kb units."""
    flat = {k: v for k, v in report.items() if k not in ("synthesis", "estimate")}
    synthesis = report.get("synthesis") or {}
    flat.update({k: synthesis.get(k) for k in ("lut", "ff", "carry", "dsp", "bram_18k")})
    flat["bram"] = flat["bram_18k"]
    flat["estimate"] = report.get("estimate")
    return flat


def rtl_parser(sub) -> None:
    from hepfpga.rtl import EVENTS

    p = sub.add_parser("rtl", allow_abbrev=False,
                       help="Verilog of a converted project (da4ml), checked event by event with Verilator",
                       description="Traces every layer of a converted project through da4ml (products as adder "
                                   "graphs, no DSP), writes pipelined Verilog, builds it with Verilator, runs "
                                   "events through it and compares every output value with the integer emulator: "
                                   "identical, or the first layer and event that differ (exit 3). --synth: Yosys "
                                   "synthesis for the part's family beside the HLS design's estimate. Layers or "
                                   "rounding modes da4ml cannot express exactly are refused by name (exit 2).")
    p.add_argument("project", help="a project `hepfpga convert` wrote")
    p.add_argument("--output", help="RTL folder (default: PROJECT/rtl)")
    p.add_argument("--data", help="inputs (.npy, or .npz with one array per input); default: the project's test "
                                  "inputs, then uniform values over the input types' ranges")
    p.add_argument("--events", type=int, default=EVENTS, help="events to run (default: %(default)s)")
    p.add_argument("--latency-cutoff", type=float,
                   help="da4ml delay units (about one adder level) between pipeline registers (default: the "
                        "project's clock period in ns)")
    p.add_argument("--synth", action="store_true", help="synthesise with Yosys (synth_xilinx) and report LUT/FF/...")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.add_argument("--force", action="store_true", help="replace the RTL folder even if this command did not write it")
    p.set_defaults(func=_rtl)
