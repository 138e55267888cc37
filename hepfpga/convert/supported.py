"""Which Keras layers hls4ml converts, and what to use instead of those it does not."""

from __future__ import annotations

import difflib

from hepfpga.errors import ConfigError

#: Layers hls4ml's Keras-2 front end drops (inference no-ops), beside the ones it converts.
SKIPPED_LAYERS = ("Dropout",)
#: What to use instead, for layers people commonly meet that hls4ml 1.3.0 does not convert.
ALTERNATIVES = {
    "MultiHeadAttention": "no Keras-2 handler in hls4ml 1.3.0; build attention from Dense/Dot/Softmax layers",
    "Lambda": "arbitrary Python cannot become firmware; express it with Keras layers hls4ml supports",
    "SpatialDropout1D": "drop it for inference (no-op) or use Dropout, which hls4ml skips",
    "SpatialDropout2D": "drop it for inference (no-op) or use Dropout, which hls4ml skips",
    "GaussianNoise": "a training-only layer: remove it before conversion",
    "Conv3D": "no hls4ml handler; use Conv2D over merged axes",
}


def _all_layers(model, prefix: str = ""):
    """(name, layer) of every layer, nested models' layers included under "outer/inner" names."""
    for layer in model.layers:
        if hasattr(layer, "layers") and type(layer).__name__ in ("Sequential", "Functional", "Model"):
            yield from _all_layers(layer, f"{prefix}{layer.name}/")
        else:
            yield f"{prefix}{layer.name}", layer


def check_supported(model) -> None:
    """Raise ConfigError listing every layer (name and type) hls4ml 1.3.0 (with hepfpga's custom layers,
    `hepfpga.extensions`) cannot convert."""
    from hls4ml.converters import get_supported_keras_layers

    from hepfpga.extensions import register

    register()
    supported = set(get_supported_keras_layers()) | set(SKIPPED_LAYERS)
    bad = [(name, type(layer).__name__) for name, layer in _all_layers(model)
           if type(layer).__name__ not in supported]
    if not bad:
        return
    lines = []
    for name, kind in bad:
        hint = ALTERNATIVES.get(kind)
        if hint is None:
            close = difflib.get_close_matches(kind, sorted(supported), n=3, cutoff=0.5)
            hint = f"closest supported: {', '.join(close)}" if close else "no close hls4ml equivalent"
        lines.append(f"  {name} ({kind}): {hint}")
    raise ConfigError(f"hls4ml cannot convert {len(bad)} layer(s) of model {model.name!r}:\n" + "\n".join(lines)
                      + "\nhls4ml 1.3.0 converts: " + ", ".join(sorted(supported - {"InputLayer"})))
