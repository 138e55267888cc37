"""Structured compression of MLPs: whole neurons removed or merged, so layers get narrower.

Magnitude pruning (`hepfpga.compress.prune`) zeroes single weights: the firmware skips their multipliers
but keeps every neuron, its adder tree and its pipeline. Removing a neuron shrinks the layer itself. Two
ways, both on models of the `mlp` builder (Dense layers `dense_0..`, `logits`):

* `remove_neurons`: keep the most important neurons of each hidden layer, importance being the product of
  the L2 norms of a neuron's incoming and outgoing weights (a neuron with small weights either way changes
  the output little); fine-tune afterwards.
* `aggregate_neurons`: merge neurons whose incoming weight vectors (bias included) point the same way. For
  ReLU, relu(c * z) = c * relu(z) for c > 0, so a neuron that is c times another is replaced exactly by
  adding c times its outgoing weights to the other's; neurons within `tolerance` (cosine distance) of a
  kept one are merged the same way, approximately.

Written here because tensorflow-model-optimization prunes weights (unstructured, or 2:4 patterns within a
layer), never whole neurons, and no maintained Keras-2 library does.
"""

from __future__ import annotations

import re

import numpy as np

from hepfpga.errors import ConfigError


def _dense_chain(model) -> list:
    """The Dense layers of an `mlp` model, inputs to logits; ConfigError for any other model."""
    names = [layer.name for layer in model.layers]
    hidden = sorted((n for n in names if re.fullmatch(r"dense_\d+", n)), key=lambda n: int(n.split("_")[1]))
    kinds = {type(layer).__name__ for layer in model.layers}
    if "logits" not in names or not hidden or not kinds <= {"InputLayer", "Dense", "Activation"}:
        raise ConfigError(f"structured pruning works on float models of the 'mlp' builder (Dense layers dense_0.., "
                          f"logits); {model.name!r} has layers {', '.join(names)}")
    if any(n.startswith("bn_") for n in names):
        raise ConfigError("structured pruning of an MLP with batch normalisation is not supported")
    return [model.get_layer(n) for n in (*hidden, "logits")]


def _activations(model) -> set[str]:
    """The activation functions of the hidden layers (Activation layers other than the softmax)."""
    return {layer.get_config()["activation"] for layer in model.layers
            if type(layer).__name__ == "Activation" and layer.name != "softmax"}


def _rebuild(model, weights: list[tuple[np.ndarray, np.ndarray]], name: str):
    """A float `mlp` like `model` whose Dense layers hold `weights` [(kernel, bias), ...] (widths follow)."""
    from hepfpga.models import build

    names = [layer.name for layer in model.layers]
    kind = next(iter(_activations(model)), "relu")
    new = build("mlp", n_inputs=int(weights[0][0].shape[0]), n_classes=int(weights[-1][0].shape[1]),
                hidden=tuple(int(k.shape[1]) for k, _ in weights[:-1]), activation=kind, softmax="softmax" in names,
                name=name)
    for layer, (kernel, bias) in zip(_dense_chain(new), weights):
        layer.set_weights([kernel, bias])
    return new


def remove_neurons(model, fraction: float, name: str | None = None):
    """A narrower copy of float `mlp` `model`: each hidden layer keeps its ceil((1 - fraction) * width) most
    important neurons (in their original order). Returns the new model (not yet fine-tuned)."""
    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"the fraction of neurons removed must be in [0, 1), got {fraction}")
    weights = [tuple(layer.get_weights()) for layer in _dense_chain(model)]
    for i in range(len(weights) - 1):
        kernel, bias = weights[i]
        following = weights[i + 1][0]
        importance = np.linalg.norm(np.vstack([kernel, bias[None]]), axis=0) * np.linalg.norm(following, axis=1)
        keep = np.sort(np.argsort(-importance, kind="stable")[: max(1, int(np.ceil((1 - fraction) * len(bias))))])
        weights[i] = (kernel[:, keep], bias[keep])
        weights[i + 1] = (following[keep], weights[i + 1][1])
    return _rebuild(model, weights, name or f"{model.name}_neurons")


def aggregate_neurons(model, tolerance: float, name: str | None = None):
    """A copy of float `mlp` `model` (ReLU activations) in which each hidden neuron whose incoming weights
    and bias lie within cosine distance `tolerance` of an earlier kept neuron's is merged into it: its
    outgoing weights, scaled by the ratio c of the two vectors' lengths, are added to the kept neuron's.
    Exact for tolerance 0 (parallel vectors); returns the new model and the neurons merged per layer."""
    if not 0.0 <= tolerance < 1.0:
        raise ConfigError(f"the aggregation tolerance (a cosine distance) must be in [0, 1), got {tolerance}")
    kinds = _activations(model)
    if kinds != {"relu"}:
        raise ConfigError(f"neuron aggregation needs ReLU hidden activations (relu(c z) = c relu(z)), got {kinds}")
    weights = [tuple(layer.get_weights()) for layer in _dense_chain(model)]
    merged = []
    for i in range(len(weights) - 1):
        kernel, bias = weights[i]
        following = weights[i + 1][0].copy()
        vectors = np.vstack([kernel, bias[None]]).T.astype(np.float64)  # (neurons, inputs + 1)
        lengths = np.linalg.norm(vectors, axis=1)
        unit = vectors / np.where(lengths > 0, lengths, 1.0)[:, None]
        kept: list[int] = []
        for n in range(len(vectors)):
            partner = next((k for k in kept if lengths[n] > 0 and lengths[k] > 0 and 1.0 - unit[n] @ unit[k]
                            <= tolerance), None)
            if partner is None:
                kept.append(n)
            else:  # relu(c z_k) = c relu(z_k): neuron n's contribution moves to neuron k
                following[partner] += (lengths[n] / lengths[partner]) * following[n]
        keep = np.array(kept)
        merged.append(len(vectors) - len(keep))
        weights[i] = (kernel[:, keep], bias[keep])
        weights[i + 1] = (following[keep], weights[i + 1][1])
    return _rebuild(model, weights, name or f"{model.name}_aggregated"), merged


#: Layers that act on each feature alone: a neuron removed before them is removed through them.
PER_FEATURE = ("Activation", "ReLU", "LeakyReLU", "Dropout", "BatchNormalization")


def remove_units(model, fraction: float, name: str | None = None):
    """Any model: each Dense layer whose output reaches exactly one other Dense layer (through per-feature layers:
    activations, dropout, batch normalisation) keeps its ceil((1 - fraction) * units) most important neurons
    (importance as in `remove_neurons`); the next layer loses the matching inputs. Layers feeding several
    layers, merges, flattens or the output keep every neuron. Returns (new model, {layer: neurons removed})."""
    from hepfpga.compress import graph

    if not 0.0 <= fraction < 1.0:
        raise ConfigError(f"the fraction of neurons removed must be in [0, 1), got {fraction}")
    graph.check_names_unique(model)
    config = graph.functional_config(model)
    entries = {layer["name"]: layer for layer in config["config"]["layers"]}
    outputs = {ref[0] for ref in config["config"]["output_layers"]}
    plans = {}  # dense -> (kept neurons, per-feature layers between, next dense)
    for layer in model.layers:
        if type(layer).__name__ != "Dense" or layer.name in outputs:
            continue
        path, current = [], layer.name
        following = graph.consumers(config, current)
        while len(following) == 1 and following[0]["class_name"] in PER_FEATURE and current not in outputs:
            current = following[0]["name"]
            path.append(current)
            following = graph.consumers(config, current)
        if len(following) != 1 or following[0]["class_name"] != "Dense" or current in outputs:
            continue
        kernel, *rest = layer.get_weights()
        bias = rest[0] if rest else np.zeros(kernel.shape[1])
        out_kernel = model.get_layer(following[0]["name"]).get_weights()[0]
        importance = np.linalg.norm(np.vstack([kernel, bias[None]]), axis=0) * np.linalg.norm(out_kernel, axis=1)
        keep = np.sort(np.argsort(-importance, kind="stable")[: max(1, int(np.ceil((1 - fraction) * len(bias))))])
        plans[layer.name] = (keep, path, following[0]["name"])
        entries[layer.name]["config"]["units"] = int(len(keep))
    if not plans:
        raise ConfigError(f"no Dense layer of {model.name!r} feeds exactly one other Dense layer: there is no neuron "
                          "to remove (use magnitude pruning)")
    new = graph.build(config)
    inputs_kept = {nxt: keep for keep, _, nxt in plans.values()}
    features_kept = {p: keep for keep, path, _ in plans.values() for p in path}
    originals = {layer.name: layer for layer in model.layers}
    for layer in new.layers:
        if layer.name not in originals:  # the input layer of a Sequential model made functional
            continue
        weights = originals[layer.name].get_weights()
        if layer.name in inputs_kept:
            weights[0] = weights[0][inputs_kept[layer.name]]
        if layer.name in plans:
            keep = plans[layer.name][0]
            weights = [weights[0][:, keep], *(w[keep] for w in weights[1:])]
        elif layer.name in features_kept:
            weights = [w[features_kept[layer.name]] for w in weights]
        if weights:
            layer.set_weights(weights)
    removed = {n: int(model.get_layer(n).units - len(keep)) for n, (keep, _, _) in plans.items()}
    if name:
        new._name = name
    return new, removed
