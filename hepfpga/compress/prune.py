"""Magnitude pruning with tensorflow-model-optimization.

`prune` wraps every layer that has a kernel (Dense, Conv, and their QKeras forms) in tfmot's
`prune_low_magnitude` with a `PolynomialDecay` schedule; train the result with `pruning_callbacks()`;
`strip` (from `hepfpga.models.load`) removes the wrappers (the zeros stay) before conversion; `sparsity`
reports what was reached.
"""

from __future__ import annotations

import numpy as np

from hepfpga.errors import ConfigError
from hepfpga.models.load import strip  # noqa: F401  (the last step of pruning: re-exported here)


def _has_kernel(layer) -> bool:
    return any(w.name.split("/")[-1].startswith(("kernel", "depthwise_kernel")) for w in layer.weights)


def prune(model, target_sparsity: float = 0.75, end_step: int = 1000, begin_step: int = 0,
          initial_sparsity: float = 0.0, frequency: int = 100):
    """Return a copy of `model` whose kernel layers are wrapped for magnitude pruning.

    Sparsity ramps from `initial_sparsity` at optimizer step `begin_step` to `target_sparsity` (fraction
    of kernel weights set to zero, in [0, 1)) at `end_step`, updated every `frequency` steps. Weights are
    copied from `model`. Train with `callbacks=pruning_callbacks()`.
    """
    import tensorflow as tf
    import tensorflow_model_optimization as tfmot

    if not 0.0 <= target_sparsity < 1.0:
        raise ConfigError(f"target_sparsity must be in [0, 1), got {target_sparsity}")
    if not 0.0 <= initial_sparsity <= target_sparsity:
        raise ConfigError(f"initial_sparsity must be in [0, target_sparsity={target_sparsity}], got {initial_sparsity}")
    if end_step <= begin_step:
        raise ConfigError(f"end_step ({end_step}) must be after begin_step ({begin_step})")
    schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=initial_sparsity, final_sparsity=target_sparsity,
        begin_step=begin_step, end_step=end_step, frequency=min(frequency, max(1, end_step - begin_step)))

    def wrap(layer):
        fresh = layer.__class__.from_config(layer.get_config())  # never train `model`'s own layers
        if _has_kernel(layer):
            return tfmot.sparsity.keras.prune_low_magnitude(fresh, pruning_schedule=schedule)
        return fresh

    with tfmot.sparsity.keras.prune_scope():
        pruned = tf.keras.models.clone_model(model, clone_function=wrap)
    # Copy layer by layer: wrapped layers carry extra mask/threshold variables.
    for layer, target in zip(model.layers, pruned.layers):
        getattr(target, "layer", target).set_weights(layer.get_weights())
    return pruned


def pruning_callbacks() -> list:
    """Keras callbacks that advance the pruning schedule during `fit`."""
    import tensorflow_model_optimization as tfmot

    return [tfmot.sparsity.keras.UpdatePruningStep()]


def sparsity(model) -> dict[str, float]:
    """Fraction of exactly-zero kernel weights per kernel layer: {layer name: fraction in [0, 1]}."""
    out = {}
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        kernels = [w for w in inner.weights if w.name.split("/")[-1].startswith(("kernel", "depthwise_kernel"))]
        if kernels:
            values = np.concatenate([k.numpy().ravel() for k in kernels])
            out[inner.name] = float(np.mean(values == 0.0))
    return out
