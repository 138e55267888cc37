"""Plots for slides: ROC curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np


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
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path
