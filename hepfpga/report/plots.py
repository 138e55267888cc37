"""Plots for slides: ROC curves, per-layer precision profiles, Pareto fronts of design scans."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _save(fig, ax, path: str | Path, title: str, dpi: int) -> Path:
    """Title the axes, lay the figure out, write it as PNG and free it."""
    import matplotlib.pyplot as plt

    if title:
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def roc_plot(curves: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], path: str | Path,
             title: str = "") -> Path:
    """Draw one-vs-rest ROC curves of several models on one figure and save it as PNG.

    `curves` maps a model label (e.g. "float", "firmware") to {class: (signal eff., background eff.)}.
    Classes share a colour, models a line style; background efficiency on a log axis, as in
    jet-tagging papers.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    styles = ["-", "--", ":", "-."]
    fig, ax = plt.subplots(figsize=(7, 6))
    first = next(iter(curves.values()))
    colours = dict(zip(first, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for style, (label, per_class) in zip(styles * 4, curves.items()):
        for name, (tpr, fpr) in per_class.items():
            keep = fpr > 0
            ax.plot(tpr[keep], fpr[keep], style, color=colours[name], lw=1.4,
                    label=f"{name} ({label})")
    ax.set_yscale("log")
    ax.set_xlim(0, 1)
    ax.set_ylim(1e-4, 1)
    ax.set_xlabel("signal efficiency")
    ax.set_ylabel("background efficiency")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2, loc="lower right")
    return _save(fig, ax, path, title, dpi=130)


def precision_profile(rows: list[dict], path: str | Path, title: str = "") -> Path:
    """Per-layer plot of observed value range against the chosen fixed-point type, on a log2 axis.

    `rows`: [{"layer", "max" (observed max |x|), "rms", "integer" (I, sign included), "fraction" (F)}].
    The grey bar spans what the type holds, [2**-F, 2**(I-1)); the blue bar spans the observed RMS to
    max; a blue bar reaching past the grey one would overflow.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.5))
    for k, r in enumerate(rows):
        lo, hi = -r["fraction"], r["integer"] - 1
        ax.barh(k, hi - lo, left=lo, height=0.7, color="0.8", label="type range" if k == 0 else None)
        if r["max"] > 0:
            low = np.log2(r["rms"]) if r["rms"] > 0 else np.log2(r["max"])
            ax.barh(k, max(np.log2(r["max"]) - low, 0.05), left=low, height=0.35, color="tab:blue",
                    label="observed RMS..max |x|" if k == 0 else None)
    ax.set_yticks(range(len(rows)), [f"{r['layer']}  {r.get('result', '')}" for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("log2 |value|")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, ax, path, title, dpi=120)


def pareto_plot(points: list[dict], x: str, x_label: str, path: str | Path, reference: float | None = None,
                title: str = "", metric: str = "accuracy") -> Path:
    """Accuracy (%) — or, with `metric="mse"`, a regression's MSE — against a cost (`x`: a key of each point)
    for the design points of a scan.

    `points`: [{x, "accuracy" (fraction) or "mse", "index" (shown beside the marker), "pareto" (on the front),
    "default" (the starting design), "recommended"}]. Front points are joined by a step line; the default
    design is a square, the recommended one a star; `reference` (e.g. the float model's accuracy) is a
    dashed horizontal line with the 1 pp band below it shaded (MSE: the band up to 10 % above it).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    def value(p):
        return p["mse"] if metric == "mse" else 100 * p["accuracy"]

    xs = np.array([p[x] for p in points], dtype=float)
    ys = np.array([value(p) for p in points])
    front = sorted((p for p in points if p.get("pareto")), key=lambda p: p[x])
    ax.scatter(xs, ys, s=22, color="0.6", label="design point", zorder=2)
    if front:
        ax.step([p[x] for p in front], [value(p) for p in front], where="post", color="tab:blue",
                lw=1.5, label="Pareto front", zorder=3)
        ax.scatter([p[x] for p in front], [value(p) for p in front], s=30, color="tab:blue", zorder=4)
    for p, xv, yv in zip(points, xs, ys):
        ax.annotate(str(p["index"]), (xv, yv), textcoords="offset points", xytext=(4, 3), fontsize=7)
        if p.get("default"):
            ax.scatter([xv], [yv], s=90, marker="s", facecolors="none", edgecolors="k", lw=1.3,
                       label="default design", zorder=5)
        if p.get("recommended"):
            ax.scatter([xv], [yv], s=220, marker="*", color="tab:orange", edgecolors="k", lw=0.6,
                       label="recommended", zorder=6)
    if reference is not None and metric == "mse":
        ax.axhline(reference, ls="--", color="k", lw=1, label="float model")
        ax.axhspan(reference, 1.1 * reference, color="tab:green", alpha=0.08, label="within 10 % of float")
    elif reference is not None:
        ax.axhline(100 * reference, ls="--", color="k", lw=1, label="float model")
        ax.axhspan(100 * reference - 1, 100 * reference, color="tab:green", alpha=0.08, label="within 1 pp of float")
    if xs.min() > 0 and xs.max() / xs.min() > 20:  # costs spanning decades: a log axis keeps the cheap ones apart
        ax.set_xscale("log")
    ax.set_xlabel(x_label)
    ax.set_ylabel("firmware MSE" if metric == "mse" else "firmware accuracy (%)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, ax, path, title, dpi=130)


def compression_plot(stages: dict[str, float], sparsity: dict[str, float], metric: str, path: str | Path,
                     title: str = "") -> Path:
    """Two panels: the model's metric after each compression step (float, pruned, quantized, firmware), and the
    share of zero weights per layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1, 1.6]})
    names, values = list(stages), [stages[k] for k in stages]
    bars = left.bar(names, values, color=["#4c72b0", "#55a868", "#c44e52", "#8172b2"][: len(names)])
    for bar, value in zip(bars, values):
        left.annotate(f"{value:.4g}", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom",
                      fontsize=8)
    low, high = min(values), max(values)
    pad = (high - low) * 0.6 or abs(high) * 0.05 or 1.0
    left.set_ylim(max(0.0, low - pad) if metric.startswith("accuracy") else 0.0, high + pad)
    left.set_ylabel(metric)
    left.set_title("after each step")
    layers = list(sparsity)
    right.barh(layers, [100 * sparsity[k] for k in layers], color="#55a868")
    right.set_xlim(0, 100)
    right.set_xlabel("zero weights (%)")
    right.invert_yaxis()
    right.tick_params(axis="y", labelsize=7)
    right.set_title("sparsity per layer")
    if title:
        fig.suptitle(title)
    return _save(fig, right, path, "", dpi=130)
