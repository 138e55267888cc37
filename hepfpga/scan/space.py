"""A design space: the points a scan trains, converts and measures.

A space is a `base` point and a list of `grids`; each grid is the Cartesian product of its lists, every
combination laid over the base. Written as YAML::

    base: {hidden: [64, 32, 32], weight_bits: 6, sparsity: 0.75}
    grids:
      - {weight_bits: [4, 6, 8], sparsity: [0.5, 0.75, 0.9]}
      - {hidden: [[32, 16, 16]], training: [alone, distilled]}

Points are deduplicated by their key (a hash of every field): the same design appears once.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import yaml

from hepfpga.errors import ConfigError
from hepfpga.options import IO_TYPES, STRATEGIES

PRUNING = ("magnitude", "neurons", "aggregate", "none")
TRAINING = ("alone", "distilled")
METHODS = ("qkeras", "hgq")
#: Fields of the jet tagger's own builder; a scan of a user's model (`--model`) leaves them at their defaults.
BUILDER_FIELDS = ("hidden", "training", "temperature", "distill_weight", "aggregate_tolerance")


@dataclass(frozen=True)
class Point:
    """One design. Widths and bits are tuples (bits: one value for every layer, or one per layer)."""

    hidden: tuple = (64, 32, 32)
    weight_bits: int | tuple = 6  # per Dense layer: hidden layers, then the logits
    activation_bits: int | tuple = 6  # per hidden layer
    #: magnitude: fraction of weights zeroed (tfmot); neurons: fraction of neurons removed per hidden
    #: layer; aggregate: ignored (see aggregate_tolerance); none: dense.
    sparsity: float = 0.75
    pruning: str = "magnitude"
    aggregate_tolerance: float = 0.05  # cosine distance under which neurons merge (pruning: aggregate)
    reuse_factor: int = 1
    strategy: str = "Latency"
    io_type: str = "io_parallel"
    training: str = "alone"  # or "distilled" from the float teacher
    temperature: float = 4.0  # distillation temperature
    distill_weight: float = 0.1  # weight of the labels' loss in distillation (the rest: the teacher's)
    method: str = "qkeras"  # or "hgq": per-weight bit widths learned under the resource regulariser beta
    beta: float = 1e-5
    seed: int = 42

    def key(self) -> str:
        """16 hex digits identifying the design (every field, seed included)."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]

    def label(self) -> str:
        """A short description for tables: the fields that differ from the default point."""
        default = Point()
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value != getattr(default, f.name) and f.name != "seed":
                if isinstance(value, tuple) and value and isinstance(value[0], tuple):  # per layer name
                    shown = "/".join(f"{k}:{v}" for k, v in value)
                else:
                    shown = "-".join(map(str, value)) if isinstance(value, tuple) else value
                parts.append(f"{f.name}={shown}")
        return ", ".join(parts) or "default"


def make_point(values: dict) -> Point:
    """A Point from a mapping, every value checked; ConfigError naming the first bad one."""
    known = {f.name for f in fields(Point)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"unknown design-space field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    v = dict(values)
    for name in ("hidden", "weight_bits", "activation_bits"):
        if isinstance(v.get(name), list):
            v[name] = tuple(v[name])
        elif isinstance(v.get(name), dict):  # bits per layer name (a user's model): sorted (name, bits) pairs
            v[name] = tuple(sorted((str(k), b) for k, b in v[name].items()))
    point = Point(**v)
    _check(point)
    return point


def _int(name: str, value, low: int, high: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{name} must be an integer in [{low}, {high}], got {value!r}")


def _check(p: Point) -> None:
    if not isinstance(p.hidden, tuple) or not p.hidden:
        raise ConfigError(f"hidden must be a non-empty list of layer widths, got {p.hidden!r}")
    for w in p.hidden:
        _int("hidden (each width)", w, 1, 4096)
    for name, count in (("weight_bits", len(p.hidden) + 1), ("activation_bits", len(p.hidden))):
        bits = getattr(p, name)
        values = bits if isinstance(bits, tuple) else (bits,)
        if isinstance(bits, tuple) and bits and isinstance(bits[0], tuple):  # per layer name
            if not bits or any(len(pair) != 2 for pair in bits):
                raise ConfigError(f"{name} per layer name must map layer names to bits, got {bits!r}")
            values = tuple(b for _, b in bits)
        elif isinstance(bits, tuple) and len(bits) != count:
            raise ConfigError(f"{name} per layer needs {count} values for hidden {list(p.hidden)}, got {list(bits)}")
        for b in values:
            _int(f"{name} (each)", b, 2, 16)
    number = (int, float)
    if not isinstance(p.sparsity, number) or isinstance(p.sparsity, bool) or not 0.0 <= p.sparsity < 1.0:
        raise ConfigError(f"sparsity must be in [0, 1), got {p.sparsity!r}")
    if p.pruning not in PRUNING:
        raise ConfigError(f"pruning must be one of {', '.join(PRUNING)}, got {p.pruning!r}")
    if not isinstance(p.aggregate_tolerance, number) or not 0.0 <= p.aggregate_tolerance < 1.0:
        raise ConfigError(f"aggregate_tolerance must be in [0, 1), got {p.aggregate_tolerance!r}")
    _int("reuse_factor", p.reuse_factor, 1, 4096)
    if p.strategy not in STRATEGIES:
        raise ConfigError(f"strategy must be one of {', '.join(STRATEGIES)}, got {p.strategy!r}")
    if p.io_type not in IO_TYPES:
        raise ConfigError(f"io_type must be one of {', '.join(IO_TYPES)}, got {p.io_type!r}")
    if p.method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {p.method!r}")
    if not isinstance(p.beta, number) or isinstance(p.beta, bool) or not p.beta >= 0:
        raise ConfigError(f"beta must be a number >= 0, got {p.beta!r}")
    if p.method == "hgq" and p.pruning == "aggregate":
        raise ConfigError("method hgq learns its own bit widths after magnitude or neuron pruning; not with aggregate")
    if p.training not in TRAINING:
        raise ConfigError(f"training must be one of {', '.join(TRAINING)}, got {p.training!r}")
    if not isinstance(p.temperature, number) or not p.temperature > 0:
        raise ConfigError(f"temperature must be > 0, got {p.temperature!r}")
    if not isinstance(p.distill_weight, number) or not 0.0 <= p.distill_weight <= 1.0:
        raise ConfigError(f"distill_weight must be in [0, 1], got {p.distill_weight!r}")
    _int("seed", p.seed, 0, 2**31 - 1)
    if p.strategy == "Latency" and p.reuse_factor > 1:
        raise ConfigError(f"reuse_factor {p.reuse_factor} needs strategy Resource (Latency is fully parallel)")


def expand(space: dict) -> list[Point]:
    """The points of a space {base: {...}, grids: [{field: [values]}, ...]} in order, without repeats.
    A space without grids is its base alone. ConfigError for an empty or contradictory space."""
    if not isinstance(space, dict) or set(space) - {"base", "grids"}:
        got = sorted(space) if isinstance(space, dict) else type(space).__name__
        raise ConfigError("a design space is a mapping with the keys 'base' (one point) and 'grids' (a list of "
                          f"{{field: [values]}}), got {got}")
    base = space.get("base") or {}
    grids = space.get("grids") or [{}]
    if not isinstance(base, dict) or not isinstance(grids, list) or not all(isinstance(g, dict) for g in grids):
        raise ConfigError("'base' must be a mapping and 'grids' a list of mappings {field: [values, ...]}")
    points, seen = [], set()
    for k, grid in enumerate(grids):
        axes = []
        for name, values in grid.items():
            if not isinstance(values, list) or not values:
                raise ConfigError(f"grid {k + 1}: {name} must be a non-empty list of values, got {values!r}")
            axes.append([(name, v) for v in values])
        for combination in itertools.product(*axes):
            point = make_point({**base, **dict(combination)})
            if point.key() not in seen:
                seen.add(point.key())
                points.append(point)
    if not points:
        raise ConfigError("the design space holds no point")
    return points


def read_space(path: str | Path, with_base: bool = False):
    """The points of a YAML design space file (and, `with_base`, its base point as well)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"design-space file not found: {path}")
    try:
        space = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path} is not valid YAML: {str(err).splitlines()[0]}") from err
    points = expand(space or {})
    return (points, base_point(space or {})) if with_base else points


def base_point(space: dict) -> Point:
    """The base point of a space (the design the variations start from)."""
    return make_point((space or {}).get("base") or {})


#: The default space: the demo's jet tagger and 31 variations of it: bits (together and apart), sparsity,
#: cheap corners (4-5 bits, 80-90 % sparsity), neurons removed or aggregated, narrower networks trained alone
#: and distilled, reuse factors with the Resource strategy, io_stream, and HGQ's learned bit widths at four
#: strengths of its resource regulariser.
DEFAULT_SPACE = {
    "base": {"hidden": [64, 32, 32], "weight_bits": 6, "activation_bits": 6, "sparsity": 0.75,
             "pruning": "magnitude"},
    "grids": [
        {"weight_bits": [4, 6, 8], "activation_bits": [4, 6, 8], "sparsity": [0.75]},
        {"sparsity": [0.5, 0.9]},
        {"weight_bits": [4], "activation_bits": [4], "sparsity": [0.8, 0.85, 0.9]},
        {"weight_bits": [4, 5], "activation_bits": [6], "sparsity": [0.8]},
        {"pruning": ["neurons"], "sparsity": [0.5, 0.75]},
        {"pruning": ["aggregate"], "aggregate_tolerance": [0.3, 0.4]},
        {"hidden": [[32, 16, 16], [16, 8]], "training": ["alone", "distilled"], "sparsity": [0.5]},
        {"hidden": [[16, 8]], "training": ["distilled"], "sparsity": [0.5], "temperature": [2.0],
         "distill_weight": [0.5]},
        {"strategy": ["Resource"], "reuse_factor": [2, 4]},
        {"io_type": ["io_stream"]},
        {"method": ["hgq"], "beta": [1e-6, 3e-6, 1e-5, 3e-5], "sparsity": [0.0]},
    ],
}

#: The default space of a scan of a user's model (`scan --model`): bits, sparsity, pruning kind and HGQ around
#: 6 bits and 50 % magnitude pruning.
MODEL_SPACE = {
    "base": {"weight_bits": 6, "activation_bits": 6, "sparsity": 0.5, "pruning": "magnitude"},
    "grids": [
        {"weight_bits": [4, 6, 8], "activation_bits": [6], "sparsity": [0.5]},
        {"sparsity": [0.25, 0.75]},
        {"pruning": ["neurons"], "sparsity": [0.25]},
        {"method": ["hgq"], "beta": [1e-6, 1e-5], "sparsity": [0.0]},
    ],
}
