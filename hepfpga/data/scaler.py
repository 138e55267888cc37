"""Feature standardisation saved beside the model.

Written here rather than using scikit-learn's StandardScaler because the scaler must travel with the
model as a small, human-readable, version-independent file (JSON with the feature names, so inference
data with its columns in another order is caught), not as a pickle tied to a library version.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hepfpga.errors import DataError


@dataclass
class Scaler:
    """x -> (x - mean) / scale per feature; `features` names the columns in order."""

    features: list[str]
    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray, features: list[str]) -> Scaler:
        """Fit on `x` of shape (N, F); constant features get scale 1."""
        check_finite(x, "training features")
        if x.ndim != 2 or x.shape[1] != len(features):
            raise DataError(f"expected features of shape (N, {len(features)}), got {x.shape}")
        std = x.std(axis=0, dtype=np.float64)
        return cls(list(features), x.mean(axis=0, dtype=np.float64), np.where(std > 0, std, 1.0))

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Standardise `x` of shape (N, F); returns float32."""
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise DataError(f"scaler expects {len(self.features)} features {self.features}, got shape {x.shape}")
        return ((x - self.mean) / self.scale).astype(np.float32)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps({"features": self.features, "mean": self.mean.tolist(),
                                    "scale": self.scale.tolist()}, indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> Scaler:
        try:
            d = json.loads(Path(path).read_text())
            return cls(list(d["features"]), np.asarray(d["mean"]), np.asarray(d["scale"]))
        except (OSError, ValueError, KeyError) as err:
            raise DataError(f"cannot read scaler file {path}: {err}") from err


def check_finite(x: np.ndarray, what: str) -> None:
    """Raise DataError if `x` holds NaN or inf, saying how many and where the first is."""
    bad = ~np.isfinite(x)
    if bad.any():
        first = np.argwhere(bad)[0].tolist()
        raise DataError(f"{what} contain {int(bad.sum())} NaN/inf values (first at index {first}); "
                        "remove or impute them before training or conversion")
