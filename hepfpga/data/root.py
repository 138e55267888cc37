"""Reading features and labels from ROOT TTrees with uproot.

Two layouts are supported:

* one file (or several) whose tree holds the feature branches and an integer label branch
  (`read_root(path, tree, features, label_branch="label")`), or one-hot label branches
  (`label_branch=["j_g", "j_q", ...]`);
* one file per class (`read_root({"g": "g.root", "q": "q.root"}, tree, features)`): the label is the
  position of the file in the mapping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from hepfpga.errors import DataError


def _open_tree(path: str | Path, tree: str):
    import uproot

    path = Path(path)
    if not path.is_file():
        raise DataError(f"ROOT file not found: {path}. Check the path (relative paths start at {Path.cwd()}).")
    try:
        f = uproot.open(path)
        trees = [k.split(";")[0] for k, cls in f.classnames().items() if cls.startswith(("TTree", "ROOT::RNTuple"))]
        if tree not in trees:
            raise DataError(f"{path} has no tree {tree!r}; trees in the file: {', '.join(trees) or 'none'}")
        return f[tree]
    except DataError:
        raise
    except Exception as err:  # uproot raises many types for damaged files
        raise DataError(f"cannot read {path} as a ROOT file ({type(err).__name__}: {err}); "
                        "is it complete and really a ROOT file?") from err


def _read_branches(path, tree: str, branches: Sequence[str], pad: int | None = None,
                   sort_by: str | None = None) -> dict[str, np.ndarray]:
    """Numeric arrays of `branches`; jagged ones (a list per entry, e.g. per-particle values) padded with zeros
    or truncated to `pad` entries, after sorting each entry by branch `sort_by` (descending) when given."""
    t = _open_tree(path, tree)
    try:
        keys = list(t.keys())
    except Exception as err:  # a damaged tree or RNTuple header
        raise DataError(f"cannot list the branches of {tree!r} in {path} ({type(err).__name__}: {err}); the file may "
                        "be truncated") from err
    wanted = list(dict.fromkeys([*branches, *([sort_by] if sort_by else [])]))
    missing = [b for b in wanted if b not in keys]
    if missing:
        raise DataError(f"tree {tree!r} in {path} has no branch {', '.join(map(repr, missing))}; "
                        f"branches in the tree: {', '.join(keys)}")
    try:
        arrays = t.arrays(wanted, library="np")
    except Exception as err:
        raise DataError(f"cannot read branches from {tree!r} in {path} ({type(err).__name__}: {err}); "
                        "the file may be truncated") from err
    if not isinstance(arrays, dict) or any(not isinstance(arrays.get(b), np.ndarray) for b in wanted):
        raise DataError(f"{tree!r} in {path} did not read as numeric arrays (an RNTuple or nested types?); write "
                        "the features as flat numeric TTree branches")
    jagged = [b for b in wanted if arrays[b].dtype == object]
    if jagged and pad is None:
        raise DataError(f"branch {jagged[0]!r} in {path} is jagged (a different length per entry); give --pad N to "
                        "pad with zeros or truncate every entry to N values (and --sort-by BRANCH to keep the N "
                        "largest of BRANCH)")
    if sort_by and sort_by not in jagged:
        raise DataError(f"--sort-by {sort_by!r}: that branch of {path} is not jagged; sort by a per-entry list "
                        "branch (e.g. the particles' pT)")
    if jagged:
        arrays.update(_padded(t, jagged, pad, sort_by, path))
    return arrays


def _padded(t, branches: list[str], pad: int, sort_by: str | None, path) -> dict[str, np.ndarray]:
    """Jagged branches as (N, pad) arrays: each entry sorted by `sort_by` (descending), truncated, zero-padded."""
    import awkward as ak

    if not isinstance(pad, int) or pad < 1:
        raise DataError(f"--pad must be a positive number of entries, got {pad!r}")
    arrays = t.arrays(branches, library="ak")
    order = ak.argsort(arrays[sort_by], ascending=False) if sort_by else None
    out = {}
    for b in branches:
        values = arrays[b]
        if order is not None:
            if not ak.all(ak.num(values) == ak.num(arrays[sort_by])):
                raise DataError(f"branch {b!r} in {path} has other entry lengths than --sort-by {sort_by!r}")
            values = values[order]
        try:
            out[b] = ak.to_numpy(ak.fill_none(ak.pad_none(values, pad, clip=True), 0)).astype(np.float64)
        except (ValueError, TypeError) as err:
            raise DataError(f"branch {b!r} in {path} is not a list of numbers per entry ({err})") from err
    return out


def _stack(arrays: dict[str, np.ndarray], features: Sequence[str], path) -> np.ndarray:
    """Stack feature branches on a new last axis: flat branches give (N, F); fixed-size array branches
    of shape (N, *S) (e.g. per-particle values, image pixels) give (N, *S, F)."""
    shapes = {b: arrays[b].shape[1:] for b in features}
    if len(set(shapes.values())) > 1:
        raise DataError(f"feature branches in {path} have different shapes per entry: "
                        + ", ".join(f"{b} {s or '(scalar)'}" for b, s in shapes.items()))
    return np.stack([arrays[b] for b in features], axis=-1)


def read_features(path: str | Path, tree: str, branches: Sequence[str], pad: int | None = None,
                  sort_by: str | None = None) -> np.ndarray:
    """Read numeric `branches` of `tree` into an array (N, len(branches)), float32; fixed-size array
    branches of shape (N, *S) give (N, *S, len(branches)); jagged branches, padded or truncated to `pad`
    entries (sorted by `sort_by` first), give (N, pad, len(branches))."""
    arrays = _read_branches(path, tree, list(branches), pad, sort_by)
    return _stack(arrays, list(branches), path).astype(np.float32)


def read_root(source: str | Path | Sequence[str | Path] | Mapping[str, str | Path], tree: str,
              features: Sequence[str], label_branch: str | Sequence[str] | None = "label",
              ) -> tuple[np.ndarray, np.ndarray]:
    """Load features and labels from ROOT.

    `source` is a path, a list of paths (concatenated), or a {class name: path} mapping (one file per
    class; `label_branch` is then ignored). Returns `x` of shape (N, len(features)), float32 (for
    fixed-size array branches of shape (N, *S): (N, *S, len(features))), and `y` of shape (N,), int32
    class indices. Raises DataError naming what is missing and what the file has.
    """
    features = list(features)
    if not features:
        raise DataError("no feature branches given")
    if isinstance(source, Mapping):
        xs, ys = [], []
        for k, path in enumerate(source.values()):
            arrays = _read_branches(path, tree, features)
            xs.append(_stack(arrays, features, path))
            ys.append(np.full(len(xs[-1]), k, dtype=np.int32))
        return np.concatenate(xs).astype(np.float32), np.concatenate(ys)

    paths = [source] if isinstance(source, (str, Path)) else list(source)
    if label_branch is None:
        raise DataError("label_branch is required unless one file per class is given")
    labels = [label_branch] if isinstance(label_branch, str) else list(label_branch)
    xs, ys = [], []
    for path in paths:
        arrays = _read_branches(path, tree, features + labels)
        xs.append(_stack(arrays, features, path))
        if len(labels) == 1:
            ys.append(arrays[labels[0]].astype(np.int32))
        else:  # one-hot branches
            ys.append(np.argmax(np.stack([arrays[b] for b in labels], axis=1), axis=1).astype(np.int32))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys)


def split(x: np.ndarray, y: np.ndarray, fractions: tuple[float, float, float] = (0.6, 0.15, 0.25),
          seed: int = 42):
    """Shuffle with `seed` and split into train / validation / test by `fractions` (summing to 1).

    Returns ((x_train, y_train), (x_val, y_val), (x_test, y_test)); the same seed gives the same split.
    """
    if len(x) != len(y):
        raise DataError(f"features and labels differ in length: {len(x)} vs {len(y)}")
    if abs(sum(fractions) - 1.0) > 1e-6 or min(fractions) <= 0:
        raise DataError(f"split fractions must be positive and sum to 1, got {fractions}")
    order = np.random.default_rng(seed).permutation(len(x))
    n_train = int(fractions[0] * len(x))
    n_val = int(fractions[1] * len(x))
    parts = np.split(order, [n_train, n_train + n_val])
    return tuple((x[p], y[p]) for p in parts)
