"""Closed-loop precision: when the firmware misses the agreement target, widen the types where the divergence
starts and build again, keeping the best build seen, within a budget (`ConvertOptions.max_refinements`).

Precisions chosen once from calibration data can leave a classifier whose top two outputs are close short
of the target: a few events flip. The traced C-sim says, layer by layer, how far the firmware is from Keras
and how much of that its result type's rounding and its inputs' errors explain (`hepfpga.csim.compare`:
"excess"). The earliest layer whose error exceeds what they explain is where the divergence starts: it gets
more fractional bits in its result and accumulator (and, in float models, weight and bias) types, enough to
bring its error under one step of its result type (at least `FRACTION_STEP`), and every layer after it
`FRACTION_STEP` more (the error it made grows downstream, and widening one layer alone leaves the rounding
after it as it was); one more integer bit where values overflowed; the model's inputs are widened with it
when it is the first layer. When every layer's error is explained, the widening starts at the layer with
the largest relative error. A rebuild that
does not improve on the best build so far ends the loop, and the best build stays in place.
Types a user's configuration sets stay as given.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from hepfpga.fixed import Fixed

#: Least fractional bits added per refinement (a quarter of the rounding error).
FRACTION_STEP = 2
#: Most fractional bits added to one type in one refinement.
MAX_STEP = 8
#: A layer's error above this multiple of what its result type and its inputs explain marks where a
#: divergence starts.
UNEXPLAINED = 1.0
#: Keys of a softmax layer's configuration (its tables are sized by `table_size`, not widened here).
_SOFTMAX_KEYS = ("exp_table_t", "inv_table_t", "Implementation")


def layers_to_widen(report: dict, config: dict, input_names=()) -> list[dict]:
    """Traced layer rows (`report["layers"]`, in graph order) to widen: from the earliest layer whose error
    exceeds `UNEXPLAINED` x (its result type's rounding + the error its inputs carry in) (or, when none does,
    the one with the largest relative error) to the output, softmax layers aside (their tables are not
    widened here); with the model's inputs first when it is the first traced layer. Each row gets "bits": the
    fractional bits to add (at the start, enough for its error to fit one step; `FRACTION_STEP` after it)."""
    rows = [r for r in report.get("layers", []) if not _is_softmax(config, r["layer"])]
    if not rows or max(r["max_abs_diff"] for r in rows) <= 0:
        return []
    start = next((k for k, r in enumerate(rows) if r.get("excess", 0.0) > UNEXPLAINED), None)
    if start is None:
        start = max(range(len(rows)), key=lambda k: rows[k]["relative"])
    excess = rows[start].get("excess", 0.0)
    bits = FRACTION_STEP if not math.isfinite(excess) or excess <= 1 else \
        min(MAX_STEP, max(FRACTION_STEP, math.ceil(math.log2(excess)) + 1))
    chosen = [dict(rows[start], bits=bits)] + [dict(r, bits=FRACTION_STEP) for r in rows[start + 1:]]
    if start == 0:
        chosen = [dict(layer=name, verdict="ok", bits=bits) for name in input_names] + chosen
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
            bits = row.get("bits", FRACTION_STEP)
            wider = Fixed(t.width + bits + extra_integer, t.integer + extra_integer, t.signed, t.rounding,
                          t.overflow)
            precision[key] = str(wider)
            changes.append(dict(layer=row["layer"], type=key, before=str(text), after=str(wider)))
    return changes


def better(report: dict, than: dict) -> bool:
    """Whether build `report` improves on build `than`: passing beats failing; then higher argmax agreement
    for classifiers (both verified on the same events), else a smaller largest difference."""
    if report["passed"] != than["passed"]:
        return report["passed"]
    if report.get("pre_softmax") is not None:
        return report["agreement"]["argmax_agreement"] > than["agreement"]["argmax_agreement"]
    return report["agreement"]["max_abs_diff"] < than["agreement"]["max_abs_diff"]


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
