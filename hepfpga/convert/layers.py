"""Keras layers as hls4ml sees them: names of split activations, folded batch-norm weights, the number of
terms one output sums."""

from __future__ import annotations

import numpy as np


def is_quantized(model) -> bool:
    """True if any layer of `model` is a QKeras layer, or `model` is an HGQ proxy (its quantizers fix the types)."""
    return any(type(layer).__module__.startswith(("qkeras", "HGQ.proxy")) for layer in model.layers)


def softmax_layer_name(layer) -> str | None:
    """Name of the hls4ml layer computing `layer`'s softmax, if it has one.

    A Softmax/Activation('softmax') layer keeps its name; a Dense/Conv with activation='softmax' is split
    by hls4ml into "<name>" (linear) and "<name>_softmax".
    """
    kind = type(layer).__name__
    if kind == "Softmax":
        return layer.name
    if getattr(getattr(layer, "activation", None), "__name__", "") != "softmax":
        return None
    return layer.name if kind == "Activation" else f"{layer.name}_softmax"


def input_name(layer) -> str:
    """Name of the (first) layer feeding `layer`."""
    return layer.inbound_nodes[0].inbound_layers.name


def activation_name(layer, name: str, base: str) -> str | None:
    """Activation computed by hls4ml layer `name` (a split activation "<base>_<activation>" of Keras layer
    `layer` named `base`, or an Activation/Softmax layer)."""
    if layer is None:
        return None
    if name != base:
        return name[len(base) + 1:]
    if type(layer).__name__ == "Softmax":
        return "softmax"
    if type(layer).__name__ == "Activation":
        return getattr(layer.activation, "__name__", None)
    return None


def terms(layer) -> int:
    """Number of products (or values) one output of `layer` sums over."""
    kind = type(layer).__name__
    in_shape = layer.input_shape if not isinstance(layer.input_shape, list) else layer.input_shape[0]
    if kind in ("Dense", "QDense"):
        return int(in_shape[-1])
    if "Conv" in kind:
        return int(np.prod(layer.kernel_size)) * int(in_shape[-1])
    if "GlobalAveragePooling" in kind or "GlobalMaxPooling" in kind:
        return int(np.prod(in_shape[1:-1]))
    if "Pooling" in kind:
        return int(np.prod(layer.pool_size))
    return 1


def batchnorm_scale_bias(layer) -> tuple[np.ndarray, np.ndarray]:
    """The scale and bias hls4ml folds a Keras BatchNormalization into: y = x * scale + bias."""
    gamma = layer.gamma.numpy() if layer.scale else 1.0
    beta = layer.beta.numpy() if layer.center else 0.0
    scale = gamma / np.sqrt(layer.moving_variance.numpy() + layer.epsilon)
    return np.broadcast_to(scale, layer.moving_mean.shape), beta - layer.moving_mean.numpy() * scale


def weights(layer) -> dict[str, np.ndarray]:
    """Weight arrays of `layer` under hls4ml's precision keys (weight, bias; scale, bias for batch norm)."""
    if type(layer).__name__ == "BatchNormalization":
        scale, bias = batchnorm_scale_bias(layer)
        return {"scale": scale, "bias": bias}
    out = {}
    if getattr(layer, "kernel", None) is not None:
        out["weight"] = layer.kernel.numpy()
    if getattr(layer, "bias", None) is not None:
        out["bias"] = layer.bias.numpy()
    return out
