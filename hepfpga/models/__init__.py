"""Keras / QKeras model builders, looked up by family name.

Builders register themselves with `@register("name")`, as hls4ml registers its layer handlers, so a new
architecture is an added module, not an edit here::

    from hepfpga.models import build
    model = build("mlp", n_inputs=16, n_classes=5, quantized=True, weight_bits=6)

Every builder returns an ordinary `keras.Model` that can be `fit`, saved and loaded.
"""

from __future__ import annotations

import inspect
from typing import Callable

from hepfpga.errors import ConfigError

_BUILDERS: dict[str, Callable] = {}


def register(name: str):
    """Decorator: make `fn` available as `build(name, ...)`."""

    def wrap(fn):
        _BUILDERS[name] = fn
        return fn

    return wrap


def available() -> dict[str, str]:
    """Return {family name: first paragraph of its docstring} of every registered builder."""
    _load_builtin()
    return {k: " ".join((inspect.getdoc(v) or "").split("\n\n")[0].split()) for k, v in sorted(_BUILDERS.items())}


def options(name: str) -> dict[str, object]:
    """Return {option: default} of builder `name`."""
    return {k: p.default for k, p in inspect.signature(get(name)).parameters.items()}


def get(name: str) -> Callable:
    """Return the builder function registered as `name`."""
    _load_builtin()
    if name not in _BUILDERS:
        raise ConfigError(f"unknown model family {name!r}; available: {', '.join(sorted(_BUILDERS))}")
    return _BUILDERS[name]


def build(family: str, /, **kwargs):
    """Build a model of `family` (e.g. "mlp") with the builder's keyword options."""
    return get(family)(**kwargs)


def custom_objects() -> dict:
    """Keras custom objects needed to load any hepfpga model (QKeras layers and quantizers)."""
    from hls4ml.contrib.garnet import GarNet
    from qkeras.utils import _add_supported_quantized_objects

    from hepfpga.extensions import custom_objects as extension_objects
    from hepfpga.models.generative import Sampling

    objects: dict = {"Sampling": Sampling, "GarNet": GarNet, **extension_objects()}
    _add_supported_quantized_objects(objects)
    try:  # HGQ models and their proxies, when the optional HGQ is installed (importing it registers them)
        import HGQ.layers
        import HGQ.proxy

        objects.update({f"HGQ>{name}": getattr(HGQ.layers, name) for name in dir(HGQ.layers) if name[:1] == "H"})
        objects.update({"HGQ>FixedPointQuantizer": HGQ.proxy.FixedPointQuantizer, "HGQ>UnaryLUT": HGQ.proxy.UnaryLUT})
    except ImportError:
        pass
    return objects


def _load_builtin():
    from hepfpga.models import (  # noqa: F401  (each registers itself)
        autoencoder,
        cnn,
        deepsets,
        diffusion,
        generative,
        graph,
        mlp,
        recurrent,
        resnet,
        transformer,
    )
