"""Edits of a Keras-2 model's layer graph through its JSON configuration: what turning any model into its
compressed form needs (batch normalisation folded into the layer before it, a layer inserted after each input,
layer classes swapped), the weights carried over by layer name.

Written here because Keras 2 has no graph-rewriting API beyond `clone_model` (which cannot remove a layer or
insert one), and QKeras's `model_quantize` and HGQ's converter each rewrite only their own classes.
"""

from __future__ import annotations

import copy
import json

import numpy as np

from hepfpga.errors import ConfigError

#: Layers a BatchNormalization can be folded into (when they have no activation of their own).
FOLDABLE = ("Dense", "Conv1D", "Conv2D")


def functional_config(model) -> dict:
    """The model's JSON configuration as a functional graph (a Sequential model made functional), without the
    "module"/"registered_name" keys Keras 2.13+ writes (they make Keras look custom classes such as QKeras's up
    in keras.layers, where they are not)."""
    import tensorflow as tf

    if isinstance(model, tf.keras.Sequential):
        model = tf.keras.Model(model.inputs, model.outputs, name=model.name)
    return _plain(json.loads(model.to_json()))


def _plain(node):
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items() if k not in ("module", "registered_name")}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def consumers(config: dict, name: str) -> list[dict]:
    """The layers of a functional `config` that take layer `name`'s output."""
    return [layer for layer in config["config"]["layers"]
            if any(ref[0] == name for node in layer.get("inbound_nodes", []) for ref in node)]


def rewire(config: dict, old: str, new: str, skip: str | None = None) -> None:
    """Make every consumer of `old` (but `skip`) read `new` instead, outputs included."""
    for layer in config["config"]["layers"]:
        if layer["name"] == skip:
            continue
        for node in layer.get("inbound_nodes", []):
            for ref in node:
                if ref[0] == old:
                    ref[0] = new
    for ref in config["config"]["output_layers"]:
        if ref[0] == old:
            ref[0] = new


def build(config: dict, objects: dict | None = None):
    """A Keras model from a functional `config` (custom classes from `objects` and hepfpga's registry)."""
    import tensorflow as tf

    from hepfpga.models import custom_objects

    with tf.keras.utils.custom_object_scope({**custom_objects(), **(objects or {})}):
        return tf.keras.models.model_from_json(json.dumps(config))


def copy_weights(source, target, skip=()) -> None:
    """Weights of `source`'s layers into `target`'s layers of the same name and shapes (layers in `skip` and
    those without a counterpart keep theirs)."""
    by_name = {layer.name: layer for layer in source.layers}
    for layer in target.layers:
        match = by_name.get(layer.name)
        if match is None or layer.name in skip or not match.get_weights():
            continue
        theirs = match.get_weights()
        own = layer.get_weights()
        if [w.shape for w in own[: len(theirs)]] == [w.shape for w in theirs]:
            layer.set_weights(theirs + own[len(theirs):])


def fold_batchnorm(model):
    """`model` with every BatchNormalization that follows a Dense/Conv1D/Conv2D without activation (and is its
    only consumer) folded into that layer's kernel and bias: the same function, exactly (float), one layer
    fewer. Returns (new model, names of the folded BatchNormalization layers)."""
    config = functional_config(model)
    layers = {layer["name"]: layer for layer in config["config"]["layers"]}
    folded = {}
    for layer in list(config["config"]["layers"]):
        if layer["class_name"] != "BatchNormalization" or len(layer.get("inbound_nodes", [])) != 1:
            continue
        refs = layer["inbound_nodes"][0]
        source = layers.get(refs[0][0]) if len(refs) == 1 else None
        if source is None or source["class_name"] not in FOLDABLE or \
                source["config"].get("activation", "linear") != "linear" or len(consumers(config, source["name"])) != 1:
            continue
        axis = layer["config"].get("axis", -1)
        if axis not in (-1, [-1], [len(model.get_layer(layer["name"]).input_shape) - 1]):
            continue
        folded[layer["name"]] = source["name"]
        source["config"]["use_bias"] = True
        config["config"]["layers"].remove(layer)
        rewire(config, layer["name"], source["name"])
    if not folded:
        return model, []
    new = build(config)
    copy_weights(model, new, skip=set(folded.values()))
    for bn_name, name in folded.items():
        kernel, bias = _folded(model.get_layer(name), model.get_layer(bn_name))
        new.get_layer(name).set_weights([kernel, bias])
    return new, sorted(folded)


#: Keras preprocessing layers that are affine maps per feature (of the last axis).
AFFINE_PREPROCESSING = ("Normalization", "Rescaling")


def affine_as_batchnorm(model):
    """`model` with every Keras `Normalization` and `Rescaling` layer (per-feature affine maps, which hls4ml
    does not convert) as a BatchNormalization of the same name computing the same map, which hls4ml converts
    as a scale and shift (and folds into a following Dense/Conv where it can): y = x * gamma + beta, with
    moving mean 0 and moving variance + epsilon = 1 exactly, so that Keras and hls4ml both take gamma and beta
    as the scale and shift. Normalization: gamma = 1 / max(sqrt(variance), Keras epsilon), beta = -mean *
    gamma (inverted: gamma = sqrt(variance), beta = mean); Rescaling: gamma = scale, beta = offset. Returns
    (new model, names of the rewritten layers); ConfigError for a normalisation over other axes than the last.
    """
    import tensorflow as tf

    targets = [layer for layer in model.layers if type(layer).__name__ in AFFINE_PREPROCESSING]
    if not targets:
        return model, []
    config = functional_config(model)
    entries = {layer["name"]: layer for layer in config["config"]["layers"]}
    params = {}
    for layer in targets:
        channels = int(layer.output_shape[-1])
        if type(layer).__name__ == "Normalization":
            axis = tuple(np.atleast_1d(layer.axis).tolist())
            rank = len(layer.input_shape)
            if axis not in ((-1,), (rank - 1,)):
                raise ConfigError(f"layer {layer.name} (Normalization) normalises over axis {layer.axis}; hepfpga "
                                  "converts a normalisation per feature of the last axis (axis=-1): standardise the "
                                  "inputs outside the model for other axes")
            mean = np.broadcast_to(np.asarray(layer.mean, np.float64).reshape(-1), (channels,))
            std = np.maximum(np.sqrt(np.broadcast_to(np.asarray(layer.variance, np.float64).reshape(-1),
                                                     (channels,))), tf.keras.backend.epsilon())
            gamma, beta = (std, mean) if getattr(layer, "invert", False) else (1.0 / std, -mean / std)
        else:
            gamma = np.broadcast_to(np.asarray(layer.scale, np.float64), (channels,))
            beta = np.broadcast_to(np.asarray(layer.offset, np.float64), (channels,))
        params[layer.name] = [gamma, beta, np.zeros(channels), np.full(channels, 0.5)]
        entries[layer.name]["class_name"] = "BatchNormalization"
        entries[layer.name]["config"] = {"name": layer.name, "axis": -1, "epsilon": 0.5, "center": True,
                                         "scale": True, "trainable": False, "dtype": "float32"}
    new = build(config)
    copy_weights(model, new, skip=set(params))
    for name, weights in params.items():
        new.get_layer(name).set_weights([np.asarray(w, np.float32) for w in weights])
    return new, sorted(params)


def _folded(layer, bn) -> tuple[np.ndarray, np.ndarray]:
    """Kernel and bias of `layer` followed by batch normalisation `bn`: w * g / s, (b - m) * g / s + beta."""
    weights = layer.get_weights()
    kernel = weights[0]
    bias = weights[1] if len(weights) > 1 else np.zeros(kernel.shape[-1], dtype=kernel.dtype)
    params = dict(zip([w.name.split("/")[-1].split(":")[0] for w in bn.weights], bn.get_weights()))
    scale = params.get("gamma", np.ones_like(params["moving_mean"])) / np.sqrt(params["moving_variance"] + bn.epsilon)
    shift = params.get("beta", np.zeros_like(params["moving_mean"]))
    return (kernel * scale).astype(kernel.dtype), ((bias - params["moving_mean"]) * scale + shift).astype(kernel.dtype)


def insert_after_inputs(config: dict, make) -> list[str]:
    """Insert a layer after each input of functional `config`: `make(input name)` returns its JSON entry
    ({"class_name", "config"}); every consumer of the input reads it instead. Returns the new layers' names."""
    layers = config["config"]["layers"]
    names = []
    for ref in config["config"]["input_layers"]:
        name = ref[0]
        entry = copy.deepcopy(make(name))
        entry["name"] = entry["config"]["name"]
        entry["inbound_nodes"] = [[[name, 0, 0, {}]]]
        rewire(config, name, entry["name"])
        position = next(k for k, layer in enumerate(layers) if layer["name"] == name)
        layers.insert(position + 1, entry)
        names.append(entry["name"])
    return names


def split_activations(model, kinds=("relu",)):
    """`model` with the `kinds` activations built into Dense/Conv layers as layers of their own, named
    `<layer>_<activation>` (QKeras then gives them a QActivation; hls4ml's profiler reads quantizers only there)."""
    config = functional_config(model)
    layers = config["config"]["layers"]
    split = []
    for position in range(len(layers) - 1, -1, -1):
        layer = layers[position]
        kind = layer["config"].get("activation")
        if layer["class_name"] not in ("Dense", "Conv1D", "Conv2D") or kind not in kinds:
            continue
        name = f"{layer['name']}_{kind}"
        layer["config"]["activation"] = "linear"
        rewire(config, layer["name"], name)
        layers.insert(position + 1, {"class_name": "Activation", "name": name, "inbound_nodes": [[[layer["name"], 0, 0,
                                     {}]]], "config": {"name": name, "trainable": True, "dtype": "float32",
                                                       "activation": kind}})
        split.append(layer["name"])
    if not split:
        return model
    new = build(config)
    copy_weights(model, new)
    return new


def layer_classes(model) -> set[str]:
    """The class names of `model`'s layers."""
    return {type(layer).__name__ for layer in model.layers}


def check_names_unique(model) -> None:
    names = [layer.name for layer in model.layers]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise ConfigError(f"layer names {', '.join(doubled)} occur more than once; give every layer its own name")
