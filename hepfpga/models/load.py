"""Keras models from files, and plain Keras models from wrapped ones (tfmot pruning wrappers removed)."""

from __future__ import annotations

from pathlib import Path

from hepfpga.errors import ConfigError, DataError


def load_model(path: str | Path, weights: str | Path | None = None):
    """Load a Keras model: full-model `.h5`, `.keras`, a SavedModel folder, or `.json` plus `weights` `.h5`.

    QKeras layers and quantizers load without the caller passing custom objects; tfmot pruning wrappers
    load too and are stripped (their zeros kept). Raises DataError for missing, corrupt or truncated files.
    """
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot

    from hepfpga.models import custom_objects
    from hepfpga.models.keras3 import h5_keras_version, keras_version, load_keras3, refusal

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
            elif path.suffix == ".keras" and (keras_version(path) or "2").split(".")[0] >= "3":
                model = load_keras3(path, objects)
            else:
                model = tf.keras.models.load_model(str(path), compile=False)
    except DataError:
        raise
    except Exception as err:  # Keras and h5py raise many kinds for damaged or foreign files
        version = h5_keras_version(path) if path.suffix in (".h5", ".hdf5") else None
        if version and version.split(".")[0] >= "3":
            raise refusal(path, version, f"{type(err).__name__}: {' '.join(str(err).split())[:200]}") from err
        if "Lambda" in str(err):
            raise ConfigError(f"{path} holds a Lambda layer: arbitrary Python cannot become firmware; express it "
                              "with Keras layers hls4ml supports") from err
        raise DataError(f"cannot load a Keras model from {path} ({type(err).__name__}: {str(err)[:300]}). "
                        "Is the file complete and a Keras-2 model (.h5, .keras, SavedModel folder, or "
                        ".json + weights .h5)?") from err
    if not isinstance(model, tf.keras.Model):
        raise DataError(f"{path} did not load as a Keras model (got {type(model).__name__})")
    wrapped = any(type(layer).__name__ == "PruneLowMagnitude" for layer in model.layers)
    return strip(model) if wrapped else model


def strip(model):
    """Remove tfmot pruning wrappers; the pruned weights stay zero.

    Returns a fresh model: `strip_pruning` reuses the unwrapped layer objects, which then belong to
    two models and break `layer.output`; cloning once more gives every layer a single owner.
    """
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot

    if any(type(layer).__module__.startswith("HGQ.proxy") for layer in model.layers):
        return model  # an HGQ proxy has no pruning wrappers, and its quantizers refuse to be cloned
    stripped = tfmot.sparsity.keras.strip_pruning(model)
    clean = tf.keras.models.clone_model(stripped)
    clean.set_weights(stripped.get_weights())
    return clean
