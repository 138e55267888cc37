"""Closed-loop precision: when the firmware misses the agreement target, widen the types where it departs
from Keras and build again, within a budget (`ConvertOptions.max_refinements`).

Precisions chosen once from calibration data can leave a classifier whose top two outputs are close short
of the target: a few events flip. The traced C-sim says where the firmware departs from Keras, layer by
layer. The layers with the largest relative errors (at least `WORST_SHARE` of the largest; with the model's
inputs when the first layer is among them, since its error starts with the input's rounding) get
`FRACTION_STEP` more fractional bits in their result and accumulator (and, in float models, weight and
bias) types, one more integer bit where values overflowed, and the project is built and verified again.
Types a user's configuration sets stay as given.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from hepfpga.fixed import Fixed

#: Fractional bits added per refinement (a quarter of the rounding error).
FRACTION_STEP = 2
#: Layers whose relative error is at least this share of the largest one are widened together.
WORST_SHARE = 0.5
#: Keys of a softmax layer's configuration (its tables are sized by `table_size`, not widened here).
_SOFTMAX_KEYS = ("exp_table_t", "inv_table_t", "Implementation")


def layers_to_widen(report: dict, config: dict, input_names=()) -> list[dict]:
    """Traced layer rows (`report["layers"]`, in graph order) to widen: those whose relative error is at
    least `WORST_SHARE` of the largest (softmax layers aside: their tables are not widened here), and the
    model's inputs when the first traced layer is among them (its error starts with the input's rounding)."""
    rows = [r for r in report.get("layers", []) if not _is_softmax(config, r["layer"])]
    worst = max((r["relative"] for r in rows), default=0.0)
    if worst <= 0:
        return []
    chosen = [r for r in rows if r["relative"] >= WORST_SHARE * worst]
    if chosen and rows and chosen[0] is rows[0]:
        chosen = [dict(layer=name, verdict="ok") for name in input_names] + chosen
    return chosen


def _is_softmax(config: dict, layer: str) -> bool:
    entry = config["LayerName"].get(layer) or {}
    return any(k in entry for k in _SOFTMAX_KEYS)


def user_types(override: dict | None) -> set[tuple[str, str]]:
    """(layer, precision key) pairs a user's configuration sets: refinement leaves them as given."""
    layers = (override or {}).get("LayerName") or {}
    return {(name, key) for name, entry in layers.items() for key in ((entry or {}).get("Precision") or {})}


def widen(config: dict, rows: list[dict], weights: bool, keep: set[tuple[str, str]] = frozenset()) -> list[dict]:
    """Widen the types of the layers in `rows` in `config` (in place), except the (layer, key) pairs in `keep`;
    returns the changes as [{"layer", "type", "before", "after"}] (empty when nothing is left to widen)."""
    keys = ("result", "accum", "weight", "bias") if weights else ("result", "accum")
    changes = []
    for row in rows:
        precision = (config["LayerName"].get(row["layer"]) or {}).get("Precision") or {}
        if _is_softmax(config, row["layer"]):
            continue
        extra_integer = 1 if row.get("verdict") == "overflow" else 0
        for key in keys:
            text = precision.get(key)
            if (row["layer"], key) in keep:
                continue
            if not text or str(text).strip().lower() == "auto" or "fixed<" not in str(text):
                continue
            t = Fixed.parse(text)
            wider = Fixed(t.width + FRACTION_STEP + extra_integer, t.integer + extra_integer, t.signed, t.rounding,
                          t.overflow)
            precision[key] = str(wider)
            changes.append(dict(layer=row["layer"], type=key, before=str(text), after=str(wider)))
    return changes


def outcome(report: dict) -> dict:
    """The agreement figures a refinement is judged by."""
    a = report["agreement"]
    return {"passed": report["passed"], "argmax_agreement": a["argmax_agreement"],
            "relative_max_abs_diff": a.get("relative_max_abs_diff"), "max_abs_diff": a["max_abs_diff"]}


def adopt(stage: Path, attempt: Path) -> None:
    """Make the project built in `attempt` (a folder inside `stage`) the staged project: the earlier build's
    files are removed, the attempt's moved up, and hls4ml's record of its output folder updated."""
    for entry in stage.iterdir():
        if entry != attempt:
            shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
    for entry in attempt.iterdir():
        entry.replace(stage / entry.name)
    attempt.rmdir()
    config = stage / "hls4ml_config.yml"
    if config.is_file():
        config.write_text(config.read_text().replace(str(attempt), str(stage)))
