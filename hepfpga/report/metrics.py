"""Classification metrics and firmware-vs-Keras agreement."""

from __future__ import annotations

import numpy as np


def accuracy(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Fraction of events whose highest score (shape (N, C)) is the true class (shape (N,))."""
    return float(np.mean(np.argmax(scores, axis=1) == y_true))


def roc_auc_per_class(y_true: np.ndarray, scores: np.ndarray, classes) -> dict[str, float]:
    """One-vs-rest ROC AUC for each class, from scores of shape (N, C)."""
    from sklearn.metrics import roc_auc_score

    return {name: float(roc_auc_score(y_true == k, scores[:, k])) for k, name in enumerate(classes)}


def roc_curves(y_true: np.ndarray, scores: np.ndarray, classes) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """One-vs-rest ROC curves: {class: (signal efficiency, background efficiency)}."""
    from sklearn.metrics import roc_curve

    out = {}
    for k, name in enumerate(classes):
        fpr, tpr, _ = roc_curve(y_true == k, scores[:, k])
        out[name] = (tpr, fpr)
    return out


def agreement(reference: np.ndarray, firmware: np.ndarray, tolerance: float | None = None) -> dict[str, float]:
    """Compare firmware outputs with Keras outputs of the same shape (N, ...).

    Returns argmax agreement (fraction of events with the same highest output), the number of
    values that differ at all, and the max and mean absolute difference. With a `tolerance` (e.g. one step
    of a softmax's tables, `hepfpga.csim.compare.softmax_table_step`): also "tolerance" and
    "beyond_tolerance", the number of values further than that from Keras.
    """
    if reference.shape != firmware.shape:
        raise ValueError(f"shapes differ: Keras {reference.shape} vs firmware {firmware.shape}")
    ref = reference.reshape(len(reference), -1).astype(np.float64)
    fw = firmware.reshape(len(firmware), -1).astype(np.float64)
    diff = np.abs(ref - fw)
    result = {
        "events": int(len(ref)),
        "argmax_agreement": float(np.mean(np.argmax(ref, axis=1) == np.argmax(fw, axis=1))),
        "mismatching_values": int(np.count_nonzero(diff)),
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
    }
    if tolerance is not None:
        result.update(tolerance=float(tolerance), beyond_tolerance=int(np.count_nonzero(diff > tolerance)))
    return result


