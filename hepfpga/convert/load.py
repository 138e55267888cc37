"""Loading a trained model from any Keras-2 format, and checking hls4ml can convert every layer."""

from __future__ import annotations

import difflib
import json
from pathlib import Path

from hepfpga.errors import ConfigError, DataError

#: Layers hls4ml's Keras-2 front end drops (inference no-ops), beside the ones it converts.
SKIPPED_LAYERS = ("Dropout",)
#: What to use instead, for layers people commonly meet that hls4ml 1.3.0 does not convert.
ALTERNATIVES = {
    "MultiHeadAttention": "no Keras-2 handler in hls4ml 1.3.0; build attention from Dense/Dot/Softmax layers",
    "Lambda": "arbitrary Python cannot become firmware; express it with Keras layers hls4ml supports",
    "SpatialDropout1D": "drop it for inference (no-op) or use Dropout, which hls4ml skips",
    "SpatialDropout2D": "drop it for inference (no-op) or use Dropout, which hls4ml skips",
    "GaussianNoise": "a training-only layer: remove it before conversion",
    "Normalization": "standardise inputs outside the firmware (hepfpga's Scaler) or fold it into the first layer",
    "Rescaling": "fold the scale into the next Dense/Conv weights",
    "Conv3D": "no hls4ml handler; use Conv2D over merged axes",
}


def load_model(path: str | Path, weights: str | Path | None = None):
    """Load a Keras model: full-model `.h5`, `.keras`, a SavedModel folder, or `.json` plus `weights` `.h5`.

    QKeras layers and quantizers load without the caller passing custom objects; tfmot pruning wrappers
    load too and are stripped (their zeros kept). Raises DataError for missing, corrupt or truncated files.
    """
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot

    from hepfpga.compress.prune import strip
    from hepfpga.models import custom_objects

    path = Path(path)
    if not path.exists():
        raise DataError(f"model file not found: {path}")
    objects = custom_objects()
    try:
        with tfmot.sparsity.keras.prune_scope(), tf.keras.utils.custom_object_scope(objects):
            if path.suffix == ".json":
                if weights is None:
                    raise DataError(f"{path} holds only the architecture; give the weights file too "
                                    "(`--weights WEIGHTS.h5`)")
                model = tf.keras.models.model_from_json(path.read_text())
                model.load_weights(str(weights))
            else:
                model = tf.keras.models.load_model(str(path), compile=False)
    except DataError:
        raise
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError, AttributeError) as err:
        raise DataError(f"cannot load a Keras model from {path} ({type(err).__name__}: {str(err)[:300]}). "
                        "Is the file complete and a Keras-2 model (.h5, .keras, SavedModel folder, or "
                        ".json + weights .h5)?") from err
    if not isinstance(model, tf.keras.Model):
        raise DataError(f"{path} did not load as a Keras model (got {type(model).__name__})")
    return strip(model)


def check_supported(model) -> None:
    """Raise ConfigError listing every layer (name and type) hls4ml 1.3.0 (with hepfpga's custom layers,
    `hepfpga.extensions`) cannot convert."""
    from hls4ml.converters import get_supported_keras_layers

    from hepfpga.extensions import register

    register()
    supported = set(get_supported_keras_layers()) | set(SKIPPED_LAYERS)
    bad = [(layer.name, type(layer).__name__) for layer in model.layers if type(layer).__name__ not in supported]
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
