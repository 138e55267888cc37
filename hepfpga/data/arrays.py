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
                key: str | None = None, pad: int | None = None, sort_by: str | None = None) -> np.ndarray:
    """Load model inputs and check them against `input_shape` (the model's, without the batch axis).

    `.npy`: the array. `.npz`: the array named `key`, else the only array, else one named `x` or `X`.
    `.root`: `branches` of `tree`, one column each (read with uproot; jagged ones padded or truncated to `pad`
    entries, sorted by `sort_by` first). A saved `scaler` is applied
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
        x = read_features(path, tree, branches, pad, sort_by)
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
    return _checked(x, input_shape, f"data in {path}")


def _checked(x: np.ndarray, input_shape: Sequence[int], what: str) -> np.ndarray:
    """`x` as float32 (N, *input_shape) (flat rows of the right size reshaped); DataError naming `what` if its
    shape does not fit, it holds no events, or NaN/inf."""
    x = np.asarray(x, dtype=np.float32)
    expected = tuple(int(d) for d in input_shape)
    if x.ndim >= 1 and x.shape[1:] != expected:
        if x.ndim >= 2 and int(np.prod(x.shape[1:])) == int(np.prod(expected)):
            x = x.reshape((len(x), *expected))
        else:
            raise DataError(f"{what} has shape {x.shape}, the model expects (N, {', '.join(map(str, expected))})")
    if len(x) == 0:
        raise DataError(f"{what} holds no events")
    check_finite(x, what)
    return x


def load_model_inputs(path: str | Path, inputs: dict[str, Sequence[int]], tree: str | None = None,
                      branches: str | None = None, scaler: str | Path | None = None, key: str | None = None,
                      pad: int | None = None, sort_by: str | None = None):
    """Inputs of a model with the input names and shapes `inputs` ({name: shape without the batch axis}):
    one array for a one-input model (`load_inputs`, `branches` comma-separated), else a list in the model's
    input order, from
    - `.npz`: one array per input name;
    - `.root`: `branches` as one group per input, "name=b1,b2;name2=b3" (`read_features` per group);
    - `.dat`: hls4ml's testbench text (`load_testbench`).
    A `scaler` applies to one-input models only."""
    path = Path(path)
    names = list(inputs)
    if path.suffix.lower() == ".dat":
        return load_testbench(path, inputs)
    if len(names) == 1:
        return load_inputs(path, inputs[names[0]], tree=tree, branches=branches.split(",") if branches else None,
                           scaler=scaler, key=key, pad=pad, sort_by=sort_by)
    if scaler is not None:
        raise DataError("--scaler applies to one-input models; scale each input before saving it")
    suffix = path.suffix.lower()
    if not path.is_file():
        raise DataError(f"data file not found: {path}")
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = [n for n in names if n not in data.files]
                if missing:
                    raise DataError(f"{path} holds arrays {list(data.files)}; the model's inputs are {names}: save "
                                    f"one array per input name (np.savez(file, {'=..., '.join(names)}=...))")
                arrays = {n: np.asarray(data[n]) for n in names}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise DataError(f"cannot read {path} as a NumPy .npz file ({type(err).__name__}: {err})") from err
    elif suffix == ".root":
        groups = _branch_groups(branches, names, path)
        if not tree:
            raise DataError(f"{path} is a ROOT file: give the tree (--tree)")
        arrays = {n: read_features(path, tree, groups[n], pad, sort_by) for n in names}
    else:
        raise DataError(f"the model has {len(names)} inputs ({', '.join(names)}): give an .npz with one array per "
                        f"input name, a .root file with a branch group per input, or hls4ml testbench .dat "
                        f"(--tb-input); got {path}")
    out = [_checked(arrays[n], inputs[n], f"input '{n}' in {path}") for n in names]
    if len({len(a) for a in out}) > 1:
        raise DataError(f"the inputs in {path} hold different numbers of events: "
                        + ", ".join(f"{n}: {len(a)}" for n, a in zip(names, out)))
    return out


def load_labelled(path: str | Path, inputs: dict[str, Sequence[int]], tree: str | None = None,
                  branches: str | None = None, label_branch: str | None = None, scaler: str | Path | None = None,
                  pad: int | None = None, sort_by: str | None = None):
    """Inputs and targets for training: (x as `load_model_inputs` gives it, y) from
    - `.npz`: the inputs as `load_model_inputs` reads them (`x`, or one array per input name) and an array `y`;
    - `.root`: the inputs from `branches` and the targets from `label_branch` (one branch of class indices or
      regression targets, or several comma-separated branches: one-hot labels or several targets)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".npz":
        if not path.is_file():
            raise DataError(f"data file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                if "y" not in data.files:
                    raise DataError(f"{path} holds arrays {list(data.files)}; training data need the targets as an "
                                    "array named y (np.savez(file, x=..., y=...))")
                y = np.asarray(data["y"])
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
            raise DataError(f"cannot read {path} as a NumPy .npz file ({type(err).__name__}: {err})") from err
        x = load_model_inputs(path, inputs, scaler=scaler, key="x" if len(inputs) == 1 else None)
        return x, y
    if suffix == ".root":
        if not label_branch:
            raise DataError(f"{path} is a ROOT file: say which branch holds the labels or targets (--label-branch)")
        x = load_model_inputs(path, inputs, tree=tree, branches=branches, scaler=scaler, pad=pad, sort_by=sort_by)
        labels = [b.strip() for b in label_branch.split(",") if b.strip()]
        y = read_features(path, tree, labels)
        return x, (y[:, 0] if y.shape[1] == 1 else y)
    raise DataError(f"training data {path}: give an .npz with the inputs and y, or a .root file with --tree, "
                    "--branches and --label-branch")


def _branch_groups(branches: str | None, names: list[str], path) -> dict[str, list[str]]:
    """"name=b1,b2;name2=b3" -> {name: [b1, b2], name2: [b3]}, one group per input in `names`."""
    usage = f"give --branches as one group per input: '{';'.join(n + '=branch,...' for n in names)}'"
    groups = {}
    for part in (branches or "").split(";"):
        if not part.strip():
            continue
        name, _, listed = part.partition("=")
        if not listed:
            raise DataError(f"{path}: branch group {part!r} has no '='; {usage}")
        groups[name.strip()] = [b.strip() for b in listed.split(",") if b.strip()]
    if sorted(groups) != sorted(names):
        raise DataError(f"{path}: branch groups for {sorted(groups)}, the model's inputs are {names}; {usage}")
    return groups


def load_testbench(path: str | Path, inputs: dict[str, Sequence[int]]):
    """hls4ml testbench text (`tb_input_features.dat` style): one event per line, numbers separated by spaces
    or commas, the model's inputs flattened and concatenated in input order. Returns one array for a
    one-input model, else a list split by the input shapes (each reshaped)."""
    path = Path(path)
    sizes = {n: int(np.prod(s)) for n, s in inputs.items()}
    try:
        rows = [np.array(line.replace(",", " ").split(), dtype=np.float64)
                for line in path.read_text().splitlines() if line.strip()]
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise DataError(f"cannot read {path} as testbench text, one event of numbers per line ({err})") from err
    width = sum(sizes.values())
    bad = next((k for k, r in enumerate(rows) if len(r) != width), None)
    if bad is not None:
        layout = " + ".join(f"{n} {tuple(inputs[n])} = {sizes[n]}" for n in inputs)
        raise DataError(f"{path} line {bad + 1} has {len(rows[bad])} values; the model's inputs need {width} per "
                        f"event ({layout}, flattened in this order)")
    if not rows:
        raise DataError(f"{path} holds no events")
    table = np.stack(rows)
    out, start = [], 0
    for n, shape in inputs.items():
        out.append(_checked(table[:, start:start + sizes[n]], shape, f"input '{n}' in {path}"))
        start += sizes[n]
    return as_model_input(out)


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
