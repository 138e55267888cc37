"""The hls4ml configuration of a model: hls4ml's per-layer starting point, user overrides, the YAML hepfpga
writes back."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from hepfpga.convert.layers import softmax_layer_name
from hepfpga.convert.softmax import set_softmax
from hepfpga.errors import ConfigError
from hepfpga.options import BACKEND, REUSE_FACTOR, STRATEGY, TABLE_SIZE


def base_config(model, backend: str = BACKEND, trace_layers: Iterable[str] = (), softmax_table_size: int = TABLE_SIZE,
                reuse_factor: int = REUSE_FACTOR, strategy: str = STRATEGY) -> dict:
    """Per-layer (`granularity='name'`) hls4ml configuration for `model`, before precisions are chosen.

    Layers named in `trace_layers` are traced (their firmware outputs can be read back in C-sim).
    Softmax layers get the table size `softmax_table_size` (a power of two, at most 2**16) and table and
    accumulator types from `hepfpga.convert.softmax.softmax_config`.
    """
    import hls4ml

    from hepfpga.extensions import register as register_extensions

    register_extensions()  # hepfpga's custom HLS layers
    if softmax_table_size < 2 or softmax_table_size & (softmax_table_size - 1) or softmax_table_size > 2**16:
        raise ConfigError(f"softmax_table_size must be a power of two in [2, 65536], got {softmax_table_size}")
    config = hls4ml.utils.config_from_keras_model(model, granularity="name", backend=backend,
                                                   default_reuse_factor=reuse_factor)
    config["Model"]["Strategy"] = strategy
    layers = config["LayerName"]
    for name in trace_layers:
        if name not in layers:
            raise ConfigError(f"cannot trace layer {name!r}: the model has {', '.join(layers)}")
        layers[name]["Trace"] = True
    for layer in model.layers:
        target = softmax_layer_name(layer)
        if target in layers:
            set_softmax(layers[target], int(np.prod(layer.output_shape[1:])), softmax_table_size)
    return config


def merge_config(config: dict, override: dict) -> dict:
    """Merge an hls4ml-style `override` (e.g. a user's edited YAML, in the per-layer form `adapt_override`
    gives) over `config`, in place; ConfigError if it names layers the model does not have."""
    check_config_values(override)
    unknown = sorted(set(override.get("LayerName") or {}) - set(config["LayerName"]))
    if unknown:
        raise ConfigError(f"the configuration names layer(s) {', '.join(unknown)} that the model does not have; "
                          f"its layers: {', '.join(config['LayerName'])}")
    return deep_merge(config, override)


def layer_classes(model) -> dict[str, str]:
    """hls4ml's class name (what hls4ml's `LayerType` sections are keyed by: Dense for QDense, Softmax for a
    split-off softmax, ...) of each layer hls4ml makes of Keras `model`, by layer name."""
    import hls4ml
    from hls4ml.model.layers import layer_map

    reader = hls4ml.converters.KerasModelReader(model)
    layers, *_ = hls4ml.converters.parse_keras_model(json.loads(model.to_json()), reader)
    return {layer["name"]: getattr(layer_map.get(layer["class_name"]), "__name__", layer["class_name"])
            for layer in layers}


#: How hls4ml before 0.8 chose a softmax's implementation: `Strategy: Stable` (now `Implementation`).
SOFTMAX_STRATEGIES = ("stable", "argmax", "legacy")


def adapt_override(override: dict, config: dict, classes: dict[str, str]) -> tuple[dict, list[str]]:
    """An hls4ml configuration as hls4ml 1.3 reads it, in the per-layer form hepfpga merges: (a copy of
    `override`, notes). `LayerType` sections apply to every layer of that hls4ml class that the layer's own
    `LayerName` entry leaves unset (hls4ml's precedence); a `Precision` given as one type sets every type of
    the layer; a softmax's `Strategy: Stable` (how hls4ml before 0.8 chose the implementation) is its
    `Implementation`; type spellings (`ap_fixed<16, 6>`, `ap_fixed<16,6,AP_RND,AP_SAT>`) are written
    hls4ml's canonical way. Types the configuration does not set stay hepfpga's."""
    import copy

    from hepfpga.fixed import Fixed

    if not isinstance(override, dict):
        return override, []
    override, notes = copy.deepcopy(override), []
    types = override.pop("LayerType", None)
    layers = override.get("LayerName")
    if types is not None:
        if not isinstance(types, dict) or not isinstance(layers if layers is not None else {}, dict):
            raise ConfigError("LayerType must map hls4ml layer classes (Dense, Activation, Softmax, ...) to settings")
        layers = override.setdefault("LayerName", {})
        by_class = {}
        for name, cls in classes.items():
            by_class.setdefault(cls.lower(), []).append(name)
        for cls, settings in types.items():
            if not isinstance(settings, dict):
                raise ConfigError(f"LayerType/{cls} must be a mapping of settings, got {settings!r}")
            names = [n for n in by_class.get(str(cls).lower(), []) if n in config["LayerName"]]
            if not names:
                notes.append(f"LayerType {cls}: the model has no layer of that hls4ml class (hls4ml ignores it too)")
            for name in names:
                entry = layers.get(name)
                if entry is not None and not isinstance(entry, dict):
                    continue  # check_config_values names it
                layers[name] = deep_merge(copy.deepcopy(settings), entry or {})
    for name, entry in (layers or {}).items() if isinstance(layers, dict) else ():
        if not isinstance(entry, dict):
            continue
        base = config["LayerName"].get(name) or {}
        precision = entry.get("Precision")
        if precision is not None and not isinstance(precision, dict):
            keys = list((base.get("Precision") or {}) or ["result"])
            entry["Precision"] = precision = {key: precision for key in keys}
        for key, value in (precision or {}).items():
            if isinstance(value, str) and value.strip().lower() != "auto":
                try:
                    parsed = Fixed.parse(value)
                except ConfigError:
                    continue  # check_config_values names it
                if _saturation_bits(value) == 0:
                    precision[key] = str(parsed)
        strategy = str(entry.get("Strategy", "")).strip().lower()
        softmax = classes.get(name) == "Softmax" or "Implementation" in base
        if softmax and strategy in SOFTMAX_STRATEGIES:
            entry.pop("Strategy")
            entry.setdefault("Implementation", strategy)
            notes.append(f"{name}: Strategy {strategy.capitalize()} read as Implementation: {strategy} (how hls4ml "
                         "before 0.8 chose a softmax's implementation)")
    return override, notes


def _saturation_bits(text: str) -> int:
    """The fifth argument of an ap_fixed<W,I,Q,O,N> spelling (saturation bits), 0 when absent."""
    inside = text.split("<", 1)[-1].rstrip(" >").split(",")
    try:
        return int(inside[4]) if len(inside) > 4 else 0
    except ValueError:
        return 0


def check_config_values(override: dict) -> None:
    """ConfigError naming the first entry of an hls4ml-style configuration hls4ml would choke on: sections
    that are not mappings, precisions that are not types, reuse factors, strategies, table sizes."""
    from hepfpga.fixed import Fixed

    if not isinstance(override, dict):
        raise ConfigError("an hls4ml configuration is a mapping with Model and/or LayerName keys")
    sections = [("Model", override.get("Model"))] if "Model" in override else []
    layers = override.get("LayerName", {})
    if not isinstance(layers, dict):
        raise ConfigError("LayerName must map layer names to their settings")
    sections += [(f"LayerName/{k}", v) for k, v in layers.items()]
    for where, entry in sections:
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be a mapping of settings, got {entry!r}")
        precision = entry.get("Precision", {})
        values = precision.items() if isinstance(precision, dict) else [("", precision)]
        for key, value in values:
            if str(value).strip().lower() != "auto":
                try:
                    Fixed.parse(value)
                except ConfigError as err:
                    raise ConfigError(f"{where}: Precision {key} is {value!r}: {err}") from None
        reuse = entry.get("ReuseFactor", 1)
        if isinstance(reuse, bool) or not isinstance(reuse, int) or reuse < 1:
            raise ConfigError(f"{where}: ReuseFactor must be a positive integer, got {reuse!r}")
        if str(entry.get("Strategy", "Latency")).lower() not in ("latency", "resource", "distributed_arithmetic"):
            raise ConfigError(f"{where}: Strategy must be Latency or Resource, got {entry['Strategy']!r}")
        size = entry.get("TableSize", 1024)
        if isinstance(size, bool) or not isinstance(size, int) or size < 2 or size & (size - 1) or size > 2**16:
            raise ConfigError(f"{where}: TableSize must be a power of two in [2, 65536], got {size!r}")


def deep_merge(base: dict, override: dict) -> dict:
    """`override` merged into `base` in place (nested mappings merged key by key); returns `base`."""
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            deep_merge(base[k], v)
        else:
            base[k] = v
    return base


def write_config_yaml(config: dict, path: Path) -> None:
    """Write `config` as YAML that `hepfpga convert --config` takes back."""
    import yaml

    path.write_text("# hls4ml configuration used by hepfpga convert; pass it back with --config\n"
                    + yaml.safe_dump(json.loads(json.dumps(config, default=str)), sort_keys=False))
