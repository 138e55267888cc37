"""The results of a design scan: Pareto fronts, the recommended design, the table, plots and report, and the
recommended point converted again as a ready project."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np

from hepfpga.scan.folder import INPUTS, POINTS, PROJECTS, write_json
from hepfpga.scan.options import ScanOptions
from hepfpga.scan.space import Point


def cost(result: dict) -> float:
    """LUT + DSP as shares of the part, in %: the resource axis of the Pareto front."""
    return result["percent"]["lut"] + result["percent"]["dsp"]


def score(result: dict) -> float:
    """Higher is better: a classifier's accuracy, a regression's negative MSE."""
    return result["accuracy"] if "accuracy" in result else -result["mse"]


def pareto(results: list[dict], x) -> set[str]:
    """Keys of the results no other result beats: at most its `x` and at least its score, one strictly."""
    ok = [r for r in results if r["status"] == "ok"]
    front = set()
    for r in ok:
        beaten = any(x(o) <= x(r) and score(o) >= score(r) and (x(o) < x(r) or score(o) > score(r)) for o in ok)
        if not beaten:
            front.add(r["key"])
    return front


def recommend(results: list[dict], opt: ScanOptions, n_test: int | None = None) -> dict | None:
    """Among the points within the constraints (LUT, DSP, latency, fitting the part), the cheapest (LUT+DSP,
    then latency) whose accuracy is within `opt.accuracy_tolerance` percentage points of the best one's;
    without a tolerance, within one standard error of that accuracy on `n_test` test events (differences
    smaller than that are noise); with neither, the most accurate."""
    def fits(r):
        p = r["percent"]
        return (r["status"] == "ok" and all(v is None or v <= 100 for v in p.values())
                and (opt.max_lut is None or r["lut"] <= opt.max_lut)
                and (opt.max_dsp is None or r["dsp"] <= opt.max_dsp)
                and (opt.max_latency_ns is None or r["latency_ns"] <= opt.max_latency_ns))

    candidates = [r for r in results if fits(r)]
    if not candidates:
        return None
    if "accuracy" not in candidates[0]:  # a regression: within the tolerance (%, default 5) of the best MSE
        best_mse = min(r["mse"] for r in candidates)
        limit = best_mse * (1 + (opt.accuracy_tolerance if opt.accuracy_tolerance is not None else 5.0) / 100)
        close = [r for r in candidates if r["mse"] <= limit + 1e-12]
        return min(close, key=lambda r: (round(cost(r), 9), r["latency_ns"], r["mse"]))
    best = max(r["accuracy"] for r in candidates)
    if opt.accuracy_tolerance is not None:
        margin = opt.accuracy_tolerance / 100
    else:
        margin = (best * (1 - best) / n_test) ** 0.5 if n_test else 0.0
    close = [r for r in candidates if r["accuracy"] >= best - margin - 1e-12]
    return min(close, key=lambda r: (round(cost(r), 9), r["latency_ns"], -r["accuracy"]))


COLUMNS = ["index", "label", "widths", "status", "accuracy %", "vs float pp", "AUC mean", "agreement %", "DSP", "LUT",
           "FF", "BRAM_18K", "latency ns", "II", "LUT+DSP %", "pareto", "train s", "convert s", "seed", "key"]


def table_rows(results: list[dict], teacher: dict, fronts: set[str]) -> list[list]:
    rows = []
    for k, r in enumerate(results, 1):
        if r["status"] != "ok":
            rows.append([k, r["label"], "", "failed: " + r.get("error", "")[:60], *[""] * 15, r["key"]])
            continue
        auc = float(np.mean(list(r["auc"].values()))) if r.get("auc") else ""
        if "accuracy" in r:
            value, versus = round(100 * r["accuracy"], 2), round(100 * (r["accuracy"] - teacher["accuracy"]), 2)
        else:  # a regression: its MSE and the change against float in %
            value, versus = round(r["mse"], 6), round(100 * (r["mse"] / teacher["mse"] - 1), 2)
        rows.append([k, r["label"], "-".join(map(str, r["notes"]["hidden"])), "ok", value, versus,
                     round(auc, 4) if auc != "" else "",
                     round(100 * r["agreement"], 2), r["dsp"], r["lut"], r["ff"], r["bram_18k"], r["latency_ns"],
                     r["interval"], round(cost(r), 3), "yes" if r["key"] in fronts else "", r["seconds"]["train"],
                     r["seconds"]["convert"], r["point"]["seed"], r["key"]])
    return rows


def write_results(folder: Path, points: list[Point], inputs: dict, opt: ScanOptions, run: dict, log,
                  default: Point | None = None) -> dict:
    """Table (terminal, results.csv, results.json, report.md), the two Pareto plots and the recommendation;
    `run`: what this run computed and how long it took; `default`: the starting design the finding compares with
    (the jet tagger's default point unless given)."""
    import csv

    from hepfpga.report.plots import pareto_plot
    from hepfpga.report.tables import markdown

    results = [json.loads((folder / POINTS / f"{p.key()}.json").read_text()) for p in points]
    teacher = inputs["teacher"]
    regression = "mse" in teacher
    resources = pareto(results, cost)
    latency = pareto(results, lambda r: r["latency_ns"])
    with np.load(folder / INPUTS / "data.npz") as f:
        n_test = len(f["y_test"])
    best = recommend(results, opt, n_test)
    rows = table_rows(results, teacher, resources | latency)
    columns = [{"accuracy %": "MSE", "vs float pp": "vs float %"}.get(c, c) for c in COLUMNS] if regression else COLUMNS
    with open(folder / "results.csv", "w", newline="") as f:
        csv.writer(f).writerows([columns, *rows])
    default = (default or Point()).key()
    summary = {**run, "teacher": inputs["teacher"], "options": asdict(opt), "points": results,
               "pareto_resources": sorted(resources), "pareto_latency": sorted(latency),
               "recommended": best["key"] if best else None, "default": default}
    summary["finding"] = _finding(results, teacher, default)
    write_json(folder / "results.json", summary)
    marks = [{**r, "index": k, "cost": cost(r) if r["status"] == "ok" else 0.0, "default": r["key"] == default,
              "recommended": best is not None and r["key"] == best["key"]} for k, r in enumerate(results, 1)]
    ok = [m for m in marks if m["status"] == "ok"]
    metric, reference = ("mse", teacher["mse"]) if regression else ("accuracy", teacher["accuracy"])
    if ok:
        pareto_plot([{**m, "pareto": m["key"] in resources} for m in ok], "cost", f"LUT + DSP (% of {opt.part})",
                    folder / "pareto_resources.png", reference=reference, title=f"Designs: {metric} vs resources",
                    metric=metric)
        pareto_plot([{**m, "pareto": m["key"] in latency} for m in ok], "latency_ns", "latency (ns)",
                    folder / "pareto_latency.png", reference=reference, title=f"Designs: {metric} vs latency",
                    metric=metric)
    shown = [c for c in columns if c not in ("key", "seed", "train s", "convert s", "FF", "BRAM_18K")]
    text = markdown(shown, [[f"{v:g}" if isinstance(v, float) else v for v in (row[columns.index(c)] for c in shown)]
                            for row in rows])
    head = f"float MSE {reference:.4g}" if regression else f"float teacher accuracy {100 * reference:.2f} %"
    lines = [f"Design scan: {len(results)} points; {head}", text, "", summary["finding"]]
    if best:
        shown_score = f"MSE {best['mse']:.4g}" if regression else f"{100 * best['accuracy']:.2f} %"
        lines.append(f"Recommended (the cheapest within the constraints and within the noise of the best "
                     f"{metric}): point {results.index(best) + 1}, {best['label']}: {shown_score}, {best['lut']} LUT, "
                     f"{best['dsp']} DSP, {best['latency_ns']:g} ns")
    else:
        lines.append("No point meets the constraints (--max-lut, --max-dsp, --max-latency-ns, the part).")
    report = "\n".join(lines)
    (folder / "report.md").write_text(report + "\n")
    log("\n" + report)
    return summary


def _finding(results: list[dict], teacher: dict, default_key: str) -> str:
    """The scan's answer to: is there a design with half the LUT+DSP of the default (the space's base point) at
    <= 1 pp below float (a regression: <= 10 % more MSE)?"""
    default = next((r for r in results if r["key"] == default_key and r["status"] == "ok"), None)
    if default is None:
        return "The default design (6 bits, magnitude pruning: the space's base point) is not among the results."
    if "mse" in teacher:
        cheap = [r for r in results if r["status"] == "ok" and cost(r) <= 0.5 * cost(default)
                 and r["mse"] <= 1.1 * teacher["mse"]]
        if not cheap:
            return (f"No point has at most half the LUT+DSP share of the default design ({cost(default):.3f} %) "
                    "within 10 % of the float MSE (see pareto_resources.png).")
        best = min(cheap, key=lambda r: r["mse"])
        return (f"{len(cheap)} point(s) have at most half the LUT+DSP share of the default design within 10 % of the "
                f"float MSE; the best: {best['label']} (MSE {best['mse']:.4g}, {cost(best):.3f} %)")
    teacher = teacher["accuracy"]
    cheap = [r for r in results if r["status"] == "ok" and cost(r) <= 0.5 * cost(default)
             and r["accuracy"] >= teacher - 0.01]
    if not cheap:
        return (f"No point has at most half the LUT+DSP share of the default design ({cost(default):.3f} %) within "
                "1 pp of the float accuracy (see pareto_resources.png).")
    best = max(cheap, key=lambda r: r["accuracy"])
    return (f"{len(cheap)} point(s) have at most half the LUT+DSP share of the default design "
            f"({cost(default):.3f} %) within 1 pp of float; the most accurate: {best['label']} "
            f"({100 * best['accuracy']:.2f} %, {cost(best):.3f} %: {best['lut']} LUT, {best['dsp']} DSP "
            f"against {default['lut']} LUT, {default['dsp']} DSP).")


def write_recommended(folder: Path, best: dict, opt: ScanOptions, destination: Path, log) -> dict:
    """The recommended point as a ready project: its QAT model converted again by `convert_model` (full
    verification: traced events through the compiled C++, all through the emulator) into `destination`."""
    from hepfpga.convert import ConvertOptions, convert_model
    from hepfpga.models.load import load_model

    model = load_model(folder / PROJECTS / best["key"] / "hepfpga" / "model.h5")
    with np.load(folder / INPUTS / "data.npz") as f:
        if "n_inputs" in f.files:  # a user's model, one array per input
            n = int(f["n_inputs"])
            calibration = [f[f"x_train_{k}"][:2000] for k in range(n)]
            validation = [f[f"x_test_{k}"][:10_000] for k in range(n)]
            calibration, validation = (a[0] if n == 1 else a for a in (calibration, validation))
        else:
            calibration, validation = f["x_train"][:2000], f["x_test"][:10_000]
    p = best["point"]
    options = ConvertOptions(part=opt.part, clock_period=opt.clock_period, reuse_factor=p["reuse_factor"],
                             strategy=p["strategy"], io_type=p["io_type"])
    log(f"\n[recommended] converting point {best['label']} into {destination}")
    owned = destination.resolve().is_relative_to(folder.resolve())
    return convert_model(model, destination, calibration, validation, options=options, force=owned, log=log)


