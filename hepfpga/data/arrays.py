"""Model-input arrays from `.npy`, `.npz` or ROOT files (calibration and validation sets)."""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hepfpga.data.root import read_features
from hepfpga.data.scaler import Scaler, check_finite
from hepfpga.errors import DataError


def load_inputs(path: str | Path, input_shape: Sequence[int], tree: str | None = None,
                branches: Sequence[str] | None = None, scaler: str | Path | None = None,
                key: str | None = None) -> np.ndarray:
    """Load model inputs and check them against `input_shape` (the model's, without the batch axis).

    `.npy`: the array. `.npz`: the array named `key`, else the only array, else one named `x` or `X`.
    `.root`: `branches` of `tree`, one column each (read with uproot). A saved `scaler` is applied
    (column names must match). Flat data whose row size equals the input size is reshaped.
    Returns float32 of shape (N, *input_shape); raises DataError on shape mismatch or NaN/inf.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{path} is a folder; give a data file (.npy, .npz or .root)")
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".root":
        if not tree or not branches:
            raise DataError(f"{path} is a ROOT file: give the tree and the feature branches (--tree, --branches)")
        x = read_features(path, tree, branches)
    elif suffix in (".npy", ".npz"):
        try:
            data = np.load(path, allow_pickle=False)
            if suffix == ".npz" or hasattr(data, "files"):
                names = list(data.files)
                pick = key or (names[0] if len(names) == 1 else next((k for k in ("x", "X") if k in names), None))
                if pick not in names:
                    raise DataError(f"{path} holds arrays {names}; say which one is the model input (--key)")
                data = data[pick]
            x = np.asarray(data)
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as err:
            raise DataError(f"cannot read {path} as a NumPy file ({type(err).__name__}: {err}); is it complete, and "
                            "numeric (object arrays are not read)?") from err
    else:
        raise DataError(f"unsupported data file {path}: use .npy, .npz or .root")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool) or x.ndim == 0:
        raise DataError(f"{path} holds {x.dtype} values of shape {x.shape}, not numeric model inputs (N, ...)")
    if scaler is not None:
        x = Scaler.load(scaler).transform(x.reshape(len(x), -1))
    x = np.asarray(x, dtype=np.float32)
    expected = tuple(int(d) for d in input_shape)
    if x.ndim >= 1 and x.shape[1:] != expected:
        if x.ndim >= 2 and int(np.prod(x.shape[1:])) == int(np.prod(expected)):
            x = x.reshape((len(x), *expected))
        else:
            raise DataError(f"data in {path} has shape {x.shape}, the model expects "
                            f"(N, {', '.join(map(str, expected))})")
    if len(x) == 0:
        raise DataError(f"{path} holds no events")
    check_finite(x, f"data in {path}")
    return x


def random_inputs(input_shape: Sequence[int], n: int = 2000, seed: int = 0) -> np.ndarray:
    """N(0, 1) inputs of shape (n, *input_shape): a stand-in when no calibration data exist."""
    return np.random.default_rng(seed).standard_normal((n, *input_shape)).astype(np.float32)


def per_input(data) -> list[np.ndarray] | None:
    """Data for a model's inputs as a list of arrays: `data` is one array (a single-input model) or a
    list/tuple with one array per input; None stays None."""
    if data is None:
        return None
    return [np.asarray(a) for a in data] if isinstance(data, (list, tuple)) else [np.asarray(data)]


def as_model_input(arrays: list[np.ndarray]):
    """The inverse of `per_input`: one array for a single-input model, else the list."""
    return arrays[0] if len(arrays) == 1 else list(arrays)


def head(x, n: int):
    """The first `n` events of an input array, or of each array in a list (several inputs)."""
    return [a[:n] for a in x] if isinstance(x, (list, tuple)) else x[:n]


def n_events(x) -> int:
    """Number of events in an input array or a list of them."""
    return len(x[0]) if isinstance(x, (list, tuple)) else len(x)
