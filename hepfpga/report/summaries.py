"""Text summaries of hepfpga's reports (Markdown tables that also read well in a terminal)."""

from __future__ import annotations

from hepfpga.report.tables import markdown


def engine_line(info: dict | None) -> str:
    """Which engine computed the firmware outputs of a verification (`hepfpga.csim.verify.trace_and_run`)."""
    if not info:
        return ""
    if info["engine"] == "emulate":
        checked = info.get("checked_events", info["traced_events"])
        return (f"C-sim engine: integer emulator, identical to the compiled firmware on the {checked} events checked "
                f"(every output and layer value); layers traced on {info['traced_events']} events")
    return "C-sim engine: compiled firmware (g++)" + (f"; {info['notice']}" if info.get("notice") else "")


def differing(a: dict) -> str:
    """The "values differing" cell of an agreement (`hepfpga.report.metrics.agreement`): for a table-based
    softmax, the values beyond one table step of Keras (those within it are as close as the tables allow)."""
    if "tolerance" not in a:
        return str(a["mismatching_values"])
    within = a["mismatching_values"] - a["beyond_tolerance"]
    return f"{a['beyond_tolerance']} beyond one table step ({a['tolerance']:.2g}; {within} within it)"


def chain_summary(report: dict) -> str:
    """The jet-tagging chain's results: per-model accuracy/AUC, firmware agreement, targets."""
    classes = report["options"]["classes"]
    rows = [[k, 100 * report["accuracy"][k], *(report["roc_auc"][k][c] for c in classes)] for k in report["accuracy"]]
    parts = ["Test-set performance", markdown(["model", "accuracy %", *(f"AUC {c}" for c in classes)], rows), "",
             "Firmware (C-sim) vs QAT Keras"]
    rows = [[k, a["events"], 100 * a["argmax_agreement"], differing(a), a["max_abs_diff"]]
            for k, a in report["agreement"].items()]
    parts += [markdown(["output", "events", "argmax agreement %", "values differing", "max |Δ|"], rows)]
    parts += [engine_line(report.get("csim_engine")), ""] if report.get("csim_engine") else [""]
    estimate = report.get("estimate") or {}
    if "total" in estimate:
        t, pct = estimate["total"], estimate["percent"]
        shares = [f"{pct[r]:.2f} %" if pct[r] is not None else "" for r in ("dsp", "lut", "ff", "bram_18k")]
        parts += ["Firmware resources and latency (estimate, no vendor tool)", markdown(
            ["", "latency", "II", "DSP", "LUT", "FF", "BRAM_18K"],
            [["estimate", f"{t['latency_cycles']} cycles = {t['latency_ns']:g} ns", t["interval"], t["dsp"], t["lut"],
              t["ff"], t["bram_18k"]], [f"% of {estimate['device']}", "", "", *shares]]), estimate["verdict"], ""]
    parts.append("Targets")
    parts.append(markdown(["target", "met"], [[k, "yes" if v else "NO"] for k, v in report["targets"].items()]))
    return "\n".join(parts)


def convert_summary(report: dict) -> str:
    """A convert report: overall agreement and the layer-by-layer comparison."""
    a = report["agreement"]
    o = report["options"]
    if report.get("pre_softmax") is not None:
        verdict = "yes" if report["passed"] else f"NO (argmax agreement < {100 * o['min_agreement']:.1f}%)"
    else:
        verdict = "yes" if report["passed"] else f"NO (max |Δ| > {100 * o['max_relative_error']:.1f}% of output range)"
    parts = [f"Firmware (C-sim) vs Keras on {a['events']} {report['evaluated_on']} events",
             markdown(["argmax agreement %", "values differing", "max |Δ|", "max |Δ| / range %", "mean |Δ|", "passed"],
                      [[100 * a["argmax_agreement"], differing(a), a["max_abs_diff"],
                        100 * a.get("relative_max_abs_diff", 0.0), a["mean_abs_diff"], verdict]])]
    if report.get("engine"):
        parts.append(engine_line(report["engine"]))
    if report.get("pre_softmax"):
        p = report["pre_softmax"]
        parts.append(f"pre-softmax outputs ({p['layer']}, first {p['events']} events): {p['mismatching_values']} "
                     f"values differ, max |Δ| {p['max_abs_diff']:.3g}")
    if report.get("bit_exact_fallback"):
        parts.append(f"note: {report['bit_exact_fallback']}")
    for k, r in enumerate(report.get("refinements", []), 1):
        widened = ", ".join(f"{c['layer']} {c['type']} {c['after']}" for c in r["changes"])
        parts.append(f"refinement {k}: argmax agreement {100 * r['before']['argmax_agreement']:.2f} % -> "
                     f"{100 * r['after']['argmax_agreement']:.2f} %, max |Δ| {r['before']['max_abs_diff']:.3g} -> "
                     f"{r['after']['max_abs_diff']:.3g}; widened: {widened}")
    sources = report.get("precision_sources")
    if sources:
        given = [name for name, source in sources.items() if source != "hepfpga"]
        parts.append(f"precisions: {len(given)} layer(s) as the given configuration sets them"
                     + (f" ({', '.join(given)})" if given else "") + f", {len(sources) - len(given)} chosen by hepfpga")
    traced = report.get("traced_events", a["events"])
    parts += ["", f"Layer by layer (first {traced} events)", markdown(
        ["layer", "firmware type", "Keras max |x|", "max |Δ|", "relative", "verdict"],
        [[r["layer"], r["type"], r["keras_max"], r["max_abs_diff"], r["relative"], r["verdict"]]
         for r in report["layers"]])]
    estimate = report.get("estimate")
    if estimate:
        parts.append("")
        parts.append(estimate_summary(estimate) if "total" in estimate else f"estimate: {estimate['error']}")
    first = report.get("first_divergence")
    if first:
        overflow = first["verdict"] == "overflow"
        why = ("its values exceed the type's range (overflow): give it more integer bits" if overflow
               else "the type's step is too coarse (precision loss): give it more fractional bits")
        parts.append(f"\nFirst divergence: layer {first['layer']} ({first['type']}): {why}.")
    return "\n".join(parts)


def csim_summary(report: dict) -> str:
    """A `hepfpga csim` report: the engine's (and the testbench's) outputs against Keras, throughput."""
    a = report["agreement"]
    names = {"emulate": "integer emulator", "cxx": "compiled C++ (g++)", "testbench": "HLS testbench (g++)"}
    rows = [[f"{names[report['engine']]}, all events", a["events"], 100 * a["argmax_agreement"], a["max_abs_diff"]]]
    if "testbench" in report:
        t = report["testbench"]["agreement_with_keras"]
        rows.append(["HLS testbench (g++)", t["events"], 100 * t["argmax_agreement"], t["max_abs_diff"]])
    text = markdown(["firmware vs Keras", "events", "argmax agreement %", "max |Δ|"], rows)
    if "testbench" in report:
        differing = report["testbench"]["values_differing_from_engine"]
        text += (f"\ntestbench vs {names[report['engine']]}: {differing} values differ "
                 "(at the 6 significant digits the testbench prints)")
    if report.get("notice"):
        text += f"\nnote: {report['notice']}"
    return text + f"\nthroughput: {report['events_per_s']:.0f} events/s"


def build_summary(s: dict) -> str:
    """A vendor build summary (`hepfpga.synthesis.reports.summary`): latency, interval, clock, resources."""
    lat, ns, ii = s["latency_cycles"], s["latency_ns"], s["interval_cycles"]
    rows = [["latency", f"{lat['min']}-{lat['max']} cycles", f"{ns['min']:.1f}-{ns['max']:.1f} ns"],
            ["initiation interval", f"{ii['min']}-{ii['max']} cycles", ""],
            ["clock", f"target {s['clock_ns']['target']} ns", f"estimated {s['clock_ns']['estimated']} ns"]]
    for name, r in s["resources"].items():
        pct = f"{r['percent']:.2f} % of {r['available']}" if r["percent"] is not None else ""
        rows.append([name, str(r["used"]), pct])
    for name, used in s.get("vivado_synth", {}).items():
        rows.append([f"{name} (Vivado synthesis)", f"{used:g}", ""])
    return markdown(["quantity", "value", ""], rows)


def estimate_summary(result: dict) -> str:
    """An estimate (`hepfpga.estimate.estimate_project`): per layer and total (with its uncertainty band), the
    share of the part, the vendor report beside it when there is one, and the one-line verdict. Layers of a
    kind without calibration data are marked with *."""
    columns = ("latency_cycles", "interval", "dsp", "lut", "ff", "bram_18k")
    rows = []
    for layer in result["layers"]:
        cells = [layer.get(c, "") for c in columns] if layer.get("estimated", True) else \
            ["not estimated"] + [""] * (len(columns) - 1)
        kind = layer.get("kind", layer["type"]) + ("" if layer.get("calibrated", True) else " *")
        rows.append([layer["name"], kind, *cells])
    for part in result.get("overhead", []):
        rows.append([f"({part['kind']})", "top function", "", "", *(part[c] for c in columns[2:])])
    total, band = result["total"], result.get("band", {})
    rows.append(["total", "", *(_with_band(total[c], band.get(c)) for c in columns)])
    if any(v is not None for v in result["percent"].values()):
        rows.append([f"% of {result['device']}", "", "", "",
                     *(f"{result['percent'][r]:.2f} %" for r in ("dsp", "lut", "ff", "bram_18k"))])
    report = result.get("report")
    if report:
        rows.append(["vendor report", "", *(report["figures"][c] for c in columns)])
        rows.append(["error %", "", *("" if report["error_percent"][c] is None else f"{report['error_percent'][c]:+.0f}"
                                      for c in columns)])
    headers = ["layer", "kind", "latency (cycles)", "II", "DSP", "LUT", "FF", "BRAM_18K"]
    lines = [f"Estimate (no vendor tool) for {result['part']} ({result.get('family', '?')}, {result.get('tool', '?')}) "
             f"at {result['clock_ns']:g} ns ({result['io_type']}, multipliers: {result['mul_impl']})",
             markdown(headers, rows)]
    if result.get("uncalibrated"):
        lines.append(f"* no calibration data for {', '.join(result['uncalibrated'])}: indicative figures")
    lines += [f"note: {n}" for n in result["notes"]]
    lines.append(result["verdict"])
    return "\n".join(lines)


def _with_band(value, band) -> str:
    """'74,000 ± 20 %' (the band: the calibration residuals of the kinds the total is made of)."""
    if not band or not value:
        return f"{value:,}"
    return f"{value:,} ± {100 * band:.0f} %"


def compress_summary(result: dict) -> str:
    """A `compress` report: the metric after each step, the firmware's loss against float, sparsity, the
    estimate's verdict."""
    steps = result.get("metrics", {})
    rows = [[label, f"{value:.4g}"] for label, value in steps.items()]
    table = markdown(["step", result["metric"]], rows)
    unit = "accuracy points" if result["task"] == "classification" else "relative MSE"
    lines = [f"Compression of a {result['task']} model ({result['options']['method']}, "
             f"{result['options']['pruning']} pruning)", table]
    if "loss" in result:
        word = "within" if result["passed"] else "NOT within"
        lines.append(f"firmware against float: {result['loss']:+.4g} {unit} lost, {word} the allowed "
                     f"{result['max_loss']:g}")
    sparsity = result.get("sparsity") or {}
    if sparsity:
        lines.append("zero weights per layer: " + ", ".join(f"{k} {100 * v:.0f} %" for k, v in sparsity.items()))
    if result.get("note"):
        lines.append(f"note: {result['note']}")
    estimate = result.get("estimate") or {}
    if estimate.get("verdict"):
        lines.append(estimate["verdict"])
    return "\n".join(lines)


def rtl_summary(report: dict) -> str:
    """`hepfpga rtl`: the Verilated RTL against the emulator, and with --synth Yosys's counts beside the HLS
    design's estimate."""
    verdict = "identical" if not report["mismatches"] else (
        f"{report['mismatches']} values differ; first: event {report['first_mismatch']['event']}, output "
        f"{report['first_mismatch']['output']} (RTL {report['first_mismatch']['rtl']:g}, emulator "
        f"{report['first_mismatch']['emulator']:g})" + (f", first differing layer {report['first_mismatch']['layer']}"
                                                        if report["first_mismatch"].get("layer") else ""))
    lines = [f"RTL (da4ml, {report['verilog_files']} Verilog files, {report['verilog_lines']} lines, "
             f"{report['latency_cycles']} pipeline stages at latency cutoff {report['latency_cutoff']:g}) vs the "
             f"emulator on {report['events']} events: {verdict}",
             f"Verilator build {report['verilator_seconds']:.0f} s, {report['events_per_s']:,} events/s; outputs "
             f"{report['output_words']}"]
    synthesis, estimate = report.get("synthesis"), report.get("estimate") or {}
    if synthesis:
        rows = [["RTL (Yosys synth_xilinx -family " + synthesis["family"] + ")", report["latency_cycles"],
                 synthesis["lut"], synthesis["ff"], synthesis["carry"], synthesis["dsp"], synthesis["bram_18k"]]]
        if "lut" in estimate:
            rows.append(["HLS design (hepfpga estimate)", estimate.get("latency_cycles"), estimate["lut"],
                         estimate["ff"], "", estimate["dsp"], estimate["bram_18k"]])
        lines += ["", markdown(["design", "latency (cycles)", "LUT", "FF", "CARRY", "DSP", "BRAM_18K"], rows),
                  f"Yosys: {synthesis['seconds']:.0f} s ({synthesis['yosys']})"]
    lines.append(f"RTL folder: {report['output']}")
    return "\n".join(lines)
