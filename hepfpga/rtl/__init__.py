"""Open RTL of a converted project: `rtl_project` traces the firmware through da4ml (`hepfpga.rtl.trace`),
writes pipelined Verilog, builds it with Verilator, runs events through it and compares every output value
with the integer emulator; with `synth`, Yosys maps it onto the part's family (`hepfpga.rtl.tools`)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from hepfpga.data import per_input
from hepfpga.errors import ConfigError, DataError

REPORT = "hepfpga_rtl.json"
#: Marks an RTL folder this command wrote (rerunning replaces it without --force).
MARKER = ".hepfpga-rtl"
#: Output values at most this wide leave the RTL as one word: da4ml's Verilator harness passes 32-bit words.
WORD_BITS = 32
#: Events run by default: the project's test inputs, then uniform values over the input types' ranges.
EVENTS = 10_000


def rtl_project(project_dir: str | Path, output_dir: str | Path | None = None, data=None, events: int = EVENTS,
                latency_cutoff: float | None = None, synth: bool = False, force: bool = False, log=print) -> dict:
    """Verilog of the converted project in `project_dir`, simulated and compared with the emulator.

    `output_dir` (default `<project>/rtl`) receives da4ml's RTL project (src/*.v, the Verilator harness) and
    `hepfpga_rtl.json`. `data`: inputs (N, *input shape), or a list per input, in float: put on the input
    types' grid as the firmware does; default: the project's test inputs, then uniform values over the input
    types' ranges, up to `events`. `latency_cutoff`: da4ml's delay units (about one adder level) between
    pipeline registers; default: the clock period in ns (5 at 5 ns, da4ml's default). `synth`: Yosys synthesis.
    Returns the report: events, mismatches (output values that differ from the emulator), first_mismatch,
    latency_cycles, Verilog size and build time, events_per_s, and with `synth` lut, ff, carry, dsp, bram_18k.
    """
    from hepfpga.csim.bitexact import Emulator, NotCovered
    from hepfpga.firmware import read_firmware
    from hepfpga.project import check_destination, read_config, staged_project
    from hepfpga.rtl.tools import family, verilator_env, yosys_command
    from hepfpga.rtl.trace import check_traceable

    project_dir = Path(project_dir)
    config = read_config(project_dir)
    check_traceable(read_firmware(project_dir))  # refused by name before anything is written
    try:
        emulator = Emulator(project_dir, fuse=False)
    except NotCovered as err:
        raise ConfigError(f"the RTL is checked against the integer emulator, which does not cover this project: "
                          f"{err}") from err
    part = str(config.get("Part") or "xcvu13p-flga2577-2-e")
    clock = float(config.get("ClockPeriod") or 5.0)
    cutoff = float(latency_cutoff) if latency_cutoff is not None else clock
    if cutoff <= 0:
        raise ConfigError(f"--latency-cutoff must be > 0, got {cutoff}")
    if events < 1:
        raise ConfigError(f"--events must be >= 1, got {events}")
    env = verilator_env()
    if synth:  # a part Yosys has no family for, or no Yosys: said before the build
        family(part)
        yosys_command()
    output_dir = Path(output_dir) if output_dir is not None else project_dir / "rtl"
    check_destination(output_dir, force=force, owner_marker=MARKER)
    x = inputs(emulator, project_dir, data, events)
    report = {"project": str(project_dir), "part": part, "clock_ns": clock, "latency_cutoff": cutoff}
    with staged_project(output_dir, force=force, owner_marker=MARKER) as stage:
        model, words, t = build(emulator, stage, cutoff, part, clock, env, log)
        report.update(t)
        log(f"running {len(x[0])} events through the Verilated RTL ...")
        t0 = time.perf_counter()
        rtl = words.join(model.predict([a.reshape(len(a), -1) for a in x], n_threads=0))
        report["events_per_s"] = round(len(x[0]) / max(time.perf_counter() - t0, 1e-9))
        firmware = per_input(emulator.predict(x if len(x) > 1 else x[0]))
        reference = np.concatenate([o.reshape(len(o), -1) for o in firmware], axis=1)
        report.update(compare(rtl, reference))
        if report["mismatches"]:
            report["first_mismatch"]["layer"] = first_layer(emulator, x, report["first_mismatch"]["event"])
        if synth:
            from hepfpga.rtl.tools import synthesise

            report["synthesis"] = synthesise(stage, "myproject", part, log)
        report["estimate"] = hls_estimate(project_dir, part)
        (stage / REPORT).write_text(json.dumps(report, indent=1, default=float))
    report["output"] = str(output_dir)
    return report


def inputs(emulator, project_dir: Path, data, events: int) -> list[np.ndarray]:
    """The events to run, one array (N, size) per input port, on the input types' grid."""
    shapes = [int(np.prod(s)) for s in emulator.input_shapes]
    types = [t for _, t in emulator.inputs]
    if data is None:
        test = project_dir / "hepfpga" / "tb_input.npy"
        given = [np.load(test).reshape(-1, shapes[0])] if test.is_file() and len(shapes) == 1 else \
            [np.zeros((0, s)) for s in shapes]
        rng = np.random.default_rng(0)
        more = max(0, events - len(given[0]))
        filler = [rng.uniform(*t.bounds(), (more, s)) for t, s in zip(types, shapes)]
        xs = [np.concatenate([g[:events], f]) for g, f in zip(given, filler)]
    else:
        xs = [np.asarray(a, dtype=np.float64) for a in (data if isinstance(data, (list, tuple)) else [data])]
        if len(xs) != len(shapes):
            raise DataError(f"the firmware has {len(shapes)} inputs; give one array per input, got {len(xs)}")
        for a, s in zip(xs, shapes):
            if a.ndim < 2 or int(np.prod(a.shape[1:])) != s or len(a) != len(xs[0]):
                raise DataError(f"RTL inputs must have shape (N, ...) with {s} values per event, got {a.shape}")
            if not np.isfinite(a).all():
                raise DataError("the RTL inputs hold NaN/inf values")
        xs = [a.reshape(len(a), -1)[:events] for a in xs]
        if len(xs[0]) == 0:
            raise DataError("the RTL inputs hold no events")
    return [t.quantize_numpy(a) for t, a in zip(types, xs)]


class Words:
    """How the outputs leave the RTL: each value in one word, or, when the outputs need more than 32 bits
    together, in two (its high and low fractional bits), joined again by `join`."""

    def __init__(self, n: int, split: int | None):
        self.n, self.split = n, split

    def join(self, words: np.ndarray) -> np.ndarray:
        words = np.asarray(words, dtype=np.float64)
        if self.split is None:
            return words
        return words[:, :self.n] + words[:, self.n:] * 2.0 ** -self.split


def output_words(outputs):
    """The outputs as da4ml arrays that fit 32-bit words (`Words`)."""
    from da4ml.trace import FixedVariableArray

    out = FixedVariableArray(np.concatenate([np.asarray(o._vars).ravel() for o in outputs]), outputs[0].solver_options)
    k, i, f = (np.asarray(a).max() for a in out.kif)
    if k + i + f <= WORD_BITS:
        return out, Words(out.shape[0], None)
    split = int(np.ceil(f / 2))
    if k + i + split > WORD_BITS or f - split > WORD_BITS:
        raise ConfigError(f"the outputs need {k + i + f} bits ({i} integer, {f} fractional): more than two "
                          f"{WORD_BITS}-bit words of the RTL harness")
    high = out.quantize(k, i, split, "WRAP", "TRN")
    low = out.quantize(0, -split, f, "WRAP", "TRN") * 2.0 ** split  # the low bits, scaled to [0, 1)
    both = FixedVariableArray(np.concatenate([np.asarray(high._vars), np.asarray(low._vars)]), out.solver_options)
    return both, Words(out.shape[0], split)


def build(emulator, stage: Path, cutoff: float, part: str, clock: float, env: dict, log=print):
    """Trace, write and Verilate; returns (da4ml's model, Words, timing and size figures)."""
    from da4ml.codegen import VerilogModel
    from da4ml.trace import FixedVariableArray, comb_trace

    from hepfpga.csim.emulate import compile_progress
    from hepfpga.rtl.trace import trace_firmware

    t0 = time.perf_counter()
    log("tracing the firmware through da4ml ...")
    ports, outputs, _ = trace_firmware(emulator)
    inp = ports[0] if len(ports) == 1 else FixedVariableArray(
        np.concatenate([np.asarray(p._vars).ravel() for p in ports]), ports[0].solver_options)
    out, words = output_words(outputs)
    comb = comb_trace(inp, out)
    traced = time.perf_counter() - t0
    model = VerilogModel(comb, "myproject", stage, latency_cutoff=cutoff, clock_period=clock, part_name=part,
                         print_latency=False)
    model.write()
    verilog = [p for p in (stage / "src").rglob("*.v")]
    lines = sum(len(p.read_text().splitlines()) for p in verilog)
    log(f"  traced in {traced:.1f} s: {len(verilog)} Verilog files, {lines} lines; building with Verilator ...")
    t1 = time.perf_counter()
    try:
        with compile_progress(log, "Verilating"):
            model._compile(_env=env)  # da4ml's build (write() already ran), with the Verilator environment
    except RuntimeError as err:
        from hepfpga.errors import CompilerError

        raise CompilerError(f"the Verilator build of the RTL failed ({err}); its files: {stage}") from err
    metadata = json.loads((stage / "metadata.json").read_text())
    figures = {"trace_seconds": round(traced, 1), "verilator_seconds": round(time.perf_counter() - t1, 1),
               "verilog_files": len(verilog), "verilog_lines": lines,
               "latency_cycles": int(metadata.get("latency", 0)), "da4ml_lut_estimate": round(comb.cost),
               "output_words": "two per value (high and low bits)" if words.split else "one per value"}
    return model, words, figures


def compare(rtl: np.ndarray, reference: np.ndarray) -> dict:
    """Every output value of the RTL against the emulator's: {"events", "mismatches", "first_mismatch"}."""
    rtl = rtl.reshape(reference.shape)
    differ = rtl != reference
    result = {"events": int(len(reference)), "values": int(reference.size), "mismatches": int(differ.sum())}
    if result["mismatches"]:
        event, index = (int(v) for v in np.argwhere(differ)[0])
        result["first_mismatch"] = {"event": event, "output": index, "rtl": float(rtl[event, index]),
                                    "emulator": float(reference[event, index])}
    return result


def first_layer(emulator, x: list[np.ndarray], event: int) -> str | None:
    """The first layer whose da4ml trace (run by da4ml's interpreter) differs from the emulator on `event`; None
    when every layer agrees (the difference is then in the Verilog build or simulation)."""
    from da4ml.trace import FixedVariableArray, comb_trace

    from hepfpga.rtl.trace import trace_firmware

    ports, _, layers = trace_firmware(emulator)
    inp = ports[0] if len(ports) == 1 else FixedVariableArray(
        np.concatenate([np.asarray(p._vars).ravel() for p in ports]), ports[0].solver_options)
    one = [a[event:event + 1] for a in x]
    traces = emulator.trace(one if len(one) > 1 else one[0])
    for name, values in layers.items():
        got = comb_trace(inp, values).predict(np.concatenate(one, axis=1))
        if name in traces and not np.array_equal(np.asarray(got).ravel(), traces[name].ravel()):
            return name
    return None


def hls_estimate(project_dir: Path, part: str) -> dict:
    """`hepfpga estimate` of the HLS design of the same project (totals), or {"error": ...}."""
    from hepfpga.errors import HepfpgaError
    from hepfpga.estimate import estimate_project

    try:
        result = estimate_project(project_dir, part)
    except HepfpgaError as err:
        return {"error": str(err)}
    return {k: result["total"][k] for k in ("latency_cycles", "interval", "dsp", "lut", "ff", "bram_18k")
            if k in result["total"]}
