"""Any float Keras model -> its quantization-aware form: QKeras (fixed bit widths) or HGQ (learned per-weight bit
widths), weights carried over, ready to fine-tune.

`to_qkeras` folds batch normalisation into the layer before it where it can (`graph.fold_batchnorm`), lets
QKeras's own `model_quantize` swap Dense/Conv/Activation for QDense/QConv/QActivation, with per-layer integer
bits chosen from the weights and from the activations on sample data, and puts a `quantized_bits` quantizer
after each input, so that hls4ml's bit-exact conversion makes firmware that computes what the QKeras model
computes. `to_hgq` maps the same layers to HGQ's (HDense, HConv, HActivation, HAdd, pass-through layers), an
HQuantize after each input; HGQ learns the bit widths under its resource regulariser beta.
"""

from __future__ import annotations

import math

import numpy as np

from hepfpga.compress import graph
from hepfpga.errors import ConfigError

#: Layers whose weights QKeras quantizes (kernel and bias quantizers).
QUANTIZED = ("Dense", "Conv1D", "Conv2D", "SeparableConv1D", "SeparableConv2D", "DepthwiseConv2D")
#: Input quantizer width (bits); integer bits follow the data.
INPUT_BITS = 16


def integer_bits(value: float) -> int:
    """Integer bits (sign excluded) that hold |value|: quantized_bits(b, i) spans [-2^i, 2^i)."""
    return max(0, math.ceil(math.log2(value))) if value > 0 else 0


def _bits(setting, name: str, default: int) -> int:
    """A bit width from a setting that is one number or {layer name: bits} (others: `default`)."""
    if isinstance(setting, dict):
        return int(setting.get(name, default))
    return int(setting) if setting is not None else default


def relu_ranges(model, x, percentile: float = 99.99) -> dict[str, float]:
    """{layer name: the `percentile` of its output on `x`} for every layer whose output is a ReLU."""
    import tensorflow as tf

    names = [layer.name for layer in model.layers if _relu(layer)]
    if not names:
        return {}
    probe = tf.keras.Model(model.inputs, [model.get_layer(n).output for n in names])
    outputs = probe.predict(x, batch_size=1024, verbose=0)
    outputs = outputs if isinstance(outputs, list) else [outputs]
    return {n: float(np.percentile(o, percentile)) for n, o in zip(names, outputs)}


def _relu(layer) -> bool:
    kind = type(layer).__name__
    if kind == "ReLU":
        return True
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "") == "relu"


class _Adapter:
    """What QKeras's `model_quantize` reads of a model: its JSON, without the "module" keys Keras 2.13+ writes
    (with them Keras looks QKeras's classes up in keras.layers and fails), and its layers."""

    def __init__(self, model):
        import json

        self._json = json.dumps(graph.functional_config(model))
        self.layers = model.layers

    def to_json(self) -> str:
        return self._json


def to_qkeras(model, x, weight_bits=6, activation_bits=6, input_bits: int = INPUT_BITS):
    """The QKeras form of float `model`: (QKeras model with the float weights, notes). `weight_bits` and
    `activation_bits`: one number, or {layer name: bits}; `x` is sample input data (activation ranges,
    input range)."""
    import tensorflow as tf
    from qkeras.utils import model_quantize

    from hepfpga.models import custom_objects

    graph.check_names_unique(model)
    folded_model, folded = graph.fold_batchnorm(model)
    folded_model = graph.split_activations(folded_model)
    ranges = relu_ranges(folded_model, x)
    config = {}
    for layer in folded_model.layers:
        kind = type(layer).__name__
        if kind in QUANTIZED:
            wb = _bits(weight_bits, layer.name, 6)
            entry = {}
            for attr, weights in (("kernel_quantizer", layer.get_weights()[:1]),
                                  ("bias_quantizer", layer.get_weights()[1:2])):
                top = max((float(np.abs(w).max()) for w in weights), default=0.0)
                entry[attr] = f"quantized_bits({wb},{integer_bits(top)},alpha=1)"
            if kind.startswith(("SeparableConv", "DepthwiseConv")):
                entry["depthwise_quantizer"] = entry["kernel_quantizer"]
                entry["pointwise_quantizer"] = entry["kernel_quantizer"]
            if layer.name in ranges:
                ab = _bits(activation_bits, layer.name, 6)
                entry["activation_quantizer"] = f"quantized_relu({ab},{integer_bits(ranges[layer.name])})"
            config[layer.name] = entry
        elif layer.name in ranges:  # Activation('relu') or ReLU
            ab = _bits(activation_bits, layer.name, 6)
            config[layer.name] = f"quantized_relu({ab},{integer_bits(ranges[layer.name])})"
    with tf.keras.utils.custom_object_scope(custom_objects()):
        quantized = model_quantize(_Adapter(folded_model), config, 6, custom_objects=custom_objects())
    spec = graph.functional_config(quantized)
    top = max(float(np.abs(a).max()) for a in (x if isinstance(x, list) else [x]))
    graph.insert_after_inputs(spec, lambda name: {"class_name": "QActivation", "config": {
        "name": f"{name}_quantizer", "trainable": True, "dtype": "float32",
        "activation": f"quantized_bits({input_bits},{integer_bits(top)},alpha=1)"}})
    qmodel = graph.build(spec)
    graph.copy_weights(folded_model, qmodel)
    notes = {"batchnorm_folded": folded, "quantizers": config,
             "input_quantizer": f"quantized_bits({input_bits},{integer_bits(top)},alpha=1)"}
    return qmodel, notes


#: Float Keras class -> HGQ class (pass-through layers take the P prefix).
HGQ_CLASSES = {"Dense": "HDense", "Conv1D": "HConv1D", "Conv2D": "HConv2D", "Activation": "HActivation",
               "ReLU": "HActivation", "Add": "HAdd", "Flatten": "PFlatten", "Reshape": "PReshape",
               "Concatenate": "PConcatenate", "MaxPooling1D": "PMaxPooling1D", "MaxPooling2D": "PMaxPooling2D",
               "AveragePooling1D": "PAveragePooling1D", "AveragePooling2D": "PAveragePooling2D",
               "Dropout": "PDropout", "InputLayer": "InputLayer"}


def to_hgq(model, beta: float = 1e-5):
    """The HGQ form of float `model`: (HGQ model with the float weights, notes). A final softmax is left out (the
    HGQ model and its firmware give logits, with the same argmax); batch normalisation is folded first, and a
    layer HGQ has no form for is refused by name."""
    import HGQ.layers as hgq_layers

    graph.check_names_unique(model)
    folded_model, folded = graph.fold_batchnorm(model)
    spec = graph.functional_config(folded_model)
    refused = [f"{layer['name']} ({layer['class_name']})" for layer in spec["config"]["layers"]
               if layer["class_name"] not in HGQ_CLASSES]
    if refused:
        raise ConfigError("HGQ has no form for " + ", ".join(refused) + "; use --method qkeras for this model "
                          "(HGQ 0.2 quantizes Dense, Conv1D/2D, activations, Add and pass-through layers)")
    dropped = []
    outputs = {ref[0] for ref in spec["config"]["output_layers"]}
    for layer in list(spec["config"]["layers"]):
        cfg = layer["config"]
        if layer["class_name"] == "InputLayer":
            continue
        activation = cfg.get("activation", "linear")
        if activation == "softmax" and layer["name"] in outputs:  # logits out: argmax and training unchanged
            dropped.append(layer["name"])
            if layer["class_name"] == "Activation":
                source = layer["inbound_nodes"][0][0][0]
                spec["config"]["layers"].remove(layer)
                graph.rewire(spec, layer["name"], source)
                continue
            cfg["activation"] = activation = "linear"
        if activation not in ("linear", "relu") and layer["class_name"] in ("Dense", "Conv1D", "Conv2D",
                                                                              "Activation"):
            raise ConfigError(f"layer {layer['name']}: HGQ quantizes ReLU and linear activations only, not "
                              f"{activation!r}; use --method qkeras for this model")
        if layer["class_name"] == "ReLU":
            cfg = {"name": cfg["name"], "activation": "relu", "trainable": True, "dtype": "float32"}
            layer["config"] = cfg
        layer["class_name"] = HGQ_CLASSES[layer["class_name"]]
        if layer["class_name"].startswith("H"):
            cfg["beta"] = beta
        cfg.pop("groups", None)
    graph.insert_after_inputs(spec, lambda name: {"class_name": "HQuantize", "config": {
        "name": f"{name}_hq", "beta": beta, "trainable": True, "dtype": "float32"}})
    objects = {name: getattr(hgq_layers, name) for name in dir(hgq_layers) if name[:1] in "HP"}
    hmodel = graph.build(spec, objects)
    graph.copy_weights(folded_model, hmodel)
    return hmodel, {"batchnorm_folded": folded, "softmax_left_out": dropped, "beta": beta}
