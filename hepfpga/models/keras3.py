"""Keras 3 `.keras` files loaded into the installed Keras 2 (TensorFlow 2.14, which hls4ml's QKeras path needs).

A Keras 3 `.keras` file is a zip of `metadata.json` (the Keras version), `config.json` and
`model.weights.h5`. Its configuration differs from Keras 2's in spelling: `batch_shape` for
`batch_input_shape`, dtype policies as objects, every nested object with "module"/"registered_name" keys,
inbound nodes as call arguments holding `keras_history`, arguments Keras 2 does not know
(`quantization_config`, ...). Its weights file keys layers by names Keras 3 derives from the class
(`q_dense`, `q_dense_1`, ... in the order the layers appear), not by the layer names. Keras 2 reads none of
this, and no library translates it back; so it is done here: the configuration is rewritten in Keras 2's
spelling (initializers, regularizers and constraints left at their defaults: they do not change what a
trained model computes), built, and each layer's weights read from the file in order. Whatever cannot be
translated is refused naming the Keras version that wrote the file.
"""

from __future__ import annotations

import inspect
import json
import re
import zipfile
from pathlib import Path

from hepfpga.errors import DataError

#: Keras 2 layer arguments every layer takes (keras.layers.Layer's **kwargs).
BASE_ARGUMENTS = {"name", "trainable", "dtype", "batch_input_shape", "input_shape", "batch_size", "input_dim",
                  "dynamic", "autocast"}
#: Arguments that only shape training (weights are read from the file): left at Keras 2's defaults.
TRAINING_ONLY = re.compile(r".*_(initializer|regularizer|constraint)$")


def keras_version(path: Path) -> str | None:
    """The Keras version that wrote `.keras` file `path` (its metadata.json), or None when it is not such a zip."""
    try:
        with zipfile.ZipFile(path) as archive:
            return str(json.loads(archive.read("metadata.json")).get("keras_version", "")) or None
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None


def h5_keras_version(path: Path) -> str | None:
    """The Keras version recorded in an HDF5 model file (its `keras_version` attribute), or None."""
    try:
        import h5py

        with h5py.File(path, "r") as h5:
            version = h5.attrs.get("keras_version")
    except (OSError, ValueError):
        return None
    return version.decode() if isinstance(version, bytes) else (str(version) if version is not None else None)


def refusal(path: Path, version: str, why: str) -> DataError:
    import keras
    import tensorflow as tf

    return DataError(
        f"{path} was written by Keras {version}; hepfpga runs Keras {keras.__version__} (TensorFlow "
        f"{tf.__version__}, the version hls4ml's QKeras support needs) and could not translate it: {why}. Load the "
        "model where it was made and save it as Keras 2 would read it: with tf_keras (`import tf_keras as keras`; "
        "`model.save('model.h5')`), or save its weights (`model.save_weights('w.weights.h5')`) and rebuild the "
        "architecture in Keras 2")


def load_keras3(path: Path, objects: dict):
    """A Keras 2 model computing what the Keras 3 `.keras` file `path` holds (`objects`: custom classes, e.g.
    QKeras's); DataError naming the Keras version when it cannot be translated."""
    import h5py
    import tensorflow as tf

    version = keras_version(path) or "3"
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
            weights = archive.read("model.weights.h5")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise refusal(path, version, f"the archive lacks its configuration or weights ({err})") from err
    try:
        keras2 = translate(config, objects)
        model = tf.keras.models.model_from_json(json.dumps(keras2), custom_objects=objects)
    except DataError as err:
        raise refusal(path, version, str(err)) from err
    except Exception as err:  # Keras raises many kinds for configurations it cannot build
        raise refusal(path, version, f"Keras 2 cannot build the translated configuration "
                                     f"({type(err).__name__}: {' '.join(str(err).split())[:200]})") from err
    import io

    with h5py.File(io.BytesIO(weights), "r") as h5:
        stored = h5.get("layers", {})
        for layer, key in zip(_layers_in_order(model, keras2), weight_keys(keras2)):
            if layer is None or not layer.weights:
                continue
            group = stored.get(f"{key}/vars") if key in stored else None
            values = [group[str(k)][()] for k in range(len(group))] if group is not None else []
            if [v.shape for v in values] != [tuple(w.shape) for w in layer.weights]:
                raise refusal(path, version, f"the weights of layer {layer.name} (stored as {key!r}: "
                                             f"{[v.shape for v in values]}) do not fit its Keras 2 form "
                                             f"({[tuple(w.shape) for w in layer.weights]})")
            layer.set_weights(values)
    return model


def translate(config: dict, objects: dict) -> dict:
    """A Keras 3 model configuration in Keras 2's spelling (Sequential or functional)."""
    kind = config.get("class_name")
    if kind not in ("Sequential", "Functional", "Model"):
        raise DataError(f"the file holds a {kind!r}, not a Sequential or functional model")
    inner = config["config"]
    layers = [_layer(entry, objects, functional=kind != "Sequential") for entry in inner.get("layers", [])]
    out = {"name": inner.get("name", "model"), "layers": layers}
    if kind != "Sequential":
        out["input_layers"] = _refs(inner.get("input_layers"))
        out["output_layers"] = _refs(inner.get("output_layers"))
    return {"class_name": "Sequential" if kind == "Sequential" else "Functional", "config": out}


def _refs(value) -> list:
    """Keras 3 writes a single input/output as ["name", 0, 0]; Keras 2 always as a list of them."""
    if isinstance(value, list) and value and isinstance(value[0], str):
        return [value]
    return value or []


def _layer(entry: dict, objects: dict, functional: bool) -> dict:
    import tensorflow as tf

    name = entry.get("class_name")
    cls = objects.get(name) or getattr(tf.keras.layers, name, None)
    if cls is None:
        raise DataError(f"layer class {name!r} is neither a Keras 2 layer nor one hepfpga knows (QKeras, HGQ, "
                        "hepfpga's own)")
    config = _plain(entry.get("config", {}))
    if "batch_shape" in config:
        config["batch_input_shape"] = config.pop("batch_shape")
    allowed = _arguments(cls) | BASE_ARGUMENTS
    config = {k: v for k, v in config.items() if (k in allowed or _takes_any(cls)) and not TRAINING_ONLY.match(k)}
    for key, value in list(config.items()):
        if isinstance(value, dict) and "class_name" in value and isinstance(value.get("config"), dict):
            config[key] = _object(value, objects)
            if key == "activation":  # QKeras 2 writes an activation quantizer as its expression, and reads only that
                quantizer = objects.get(value["class_name"])
                if quantizer is None:
                    raise DataError(f"layer {config.get('name')}: activation {value['class_name']!r} is unknown")
                config[key] = str(quantizer(**config[key]["config"]))
    out = {"class_name": name, "config": config, "name": config.get("name", entry.get("name"))}
    if functional:
        out["inbound_nodes"] = [_node(node) for node in entry.get("inbound_nodes", [])]
    return out


def _object(value: dict, objects: dict) -> dict:
    """A nested object (quantizer, activation, ...) with only the arguments its Keras 2 class takes."""
    cls = objects.get(value["class_name"])
    config = value["config"]
    if cls is not None and not _takes_any(cls):
        config = {k: v for k, v in config.items() if k in _arguments(cls)}
    return {"class_name": value["class_name"], "config": config}


def _node(node) -> list:
    """Keras 3's {"args": [...], "kwargs": {...}} call record as Keras 2's [[layer, node, tensor, kwargs], ...]."""
    if isinstance(node, list):  # already Keras 2's form
        return node
    refs = []

    def collect(value):
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            history = value["config"]["keras_history"]
            refs.append([history[0], history[1], history[2], {}])
        elif isinstance(value, (list, tuple)):
            for item in value:
                collect(item)

    collect(node.get("args", []))
    return refs


def _plain(node):
    """`node` without Keras 3's bookkeeping keys; dtype policies as their names."""
    if isinstance(node, dict):
        if node.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and "config" in node:
            return node["config"].get("name", "float32")
        return {k: _plain(v) for k, v in node.items() if k not in ("module", "registered_name", "shared_object_id")}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _arguments(cls) -> set[str]:
    names = set()
    for klass in inspect.getmro(cls):
        init = klass.__dict__.get("__init__")
        if init is not None:
            names |= {p.name for p in inspect.signature(init).parameters.values()
                      if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    return names - {"self"}


def _takes_any(cls) -> bool:
    """Whether `cls`'s own __init__ takes only **kwargs (then its arguments cannot be checked)."""
    init = cls.__dict__.get("__init__")
    if init is None:
        return False
    params = list(inspect.signature(init).parameters.values())[1:]
    return all(p.kind == p.VAR_KEYWORD for p in params) and bool(params)


def snake_case(name: str) -> str:
    """Keras's `to_snake_case` of a class name (QDense -> q_dense, Conv2D -> conv2d)."""
    intermediate = re.sub("(.)([A-Z][a-z0-9]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", intermediate).lower()


def weight_keys(config: dict) -> list[str]:
    """The names Keras 3 files each layer's weights under (class name in snake case, numbered from the second
    of a class on), in the order of the configuration's layers."""
    seen: dict[str, int] = {}
    keys = []
    for layer in config["config"]["layers"]:
        base = snake_case(layer["class_name"])
        count = seen.get(base, 0)
        seen[base] = count + 1
        keys.append(base if count == 0 else f"{base}_{count}")
    return keys


def _layers_in_order(model, config: dict) -> list:
    """The built model's layers matching the configuration's layers, in order (None for an InputLayer a
    Sequential model does not keep)."""
    by_name = {layer.name: layer for layer in model.layers}
    return [by_name.get(layer["config"].get("name")) for layer in config["config"]["layers"]]
