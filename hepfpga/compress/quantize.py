"""Quantization-aware training with QKeras.

A hepfpga builder makes the float and the QKeras form of one architecture with the same layer names;
`transfer_weights` starts the QKeras form from trained float weights, so QAT is a short fine-tune.
"""

from __future__ import annotations

from hepfpga.errors import ConfigError


def transfer_weights(source, target) -> list[str]:
    """Copy weights from `source` into `target` layer by layer, matching layer names.

    tfmot pruning wrappers on either side are looked through. Returns the names of the layers copied;
    raises ConfigError if a layer with weights in `target` has no match of the same shapes in `source`.
    """
    src = {getattr(layer, "layer", layer).name: getattr(layer, "layer", layer) for layer in source.layers}
    copied = []
    for layer in target.layers:
        inner = getattr(layer, "layer", layer)
        own = inner.get_weights()
        if not own:
            continue
        match = src.get(inner.name)
        theirs = match.get_weights() if match is not None else None
        if theirs is None or [w.shape for w in theirs] != [w.shape for w in own]:
            raise ConfigError(f"layer {inner.name!r} of {target.name!r} has no counterpart with the same weight "
                              f"shapes in {source.name!r}; build both models with the same builder options")
        inner.set_weights(theirs)
        copied.append(inner.name)
    return copied


def quantize(float_model, family: str, options: dict, **quant_options):
    """Build the QKeras form of `float_model` and start it from the float weights.

    `family` and `options` are what `float_model` was built with (`hepfpga.models.build`);
    `quant_options` set the bit widths (e.g. `weight_bits=6`). Returns the untrained-but-initialised
    QKeras model; fine-tune it (with pruning, see `hepfpga.compress.prune`) to recover accuracy.
    """
    from hepfpga.models import build

    qmodel = build(family, **{**options, **quant_options, "quantized": True})
    transfer_weights(float_model, qmodel)
    return qmodel


def _input_quantizer(model):
    """The QKeras QActivation applied directly to the model input (the firmware input type), or None."""
    first = next((layer for layer in model.layers if type(layer).__name__ != "InputLayer"), None)
    if first is not None and type(first).__name__ == "QActivation" and first.input is model.inputs[0]:
        return first
    return None


def has_input_quantizer(model) -> bool:
    """True if the first layer after the input is a QKeras QActivation (an explicit firmware input type)."""
    return _input_quantizer(model) is not None


def quantize_inputs(model, x):
    """Apply the model's input quantizer (a first-layer QActivation) to `x`; return float32 values.

    Feeding firmware and Keras the same on-grid values makes the firmware input type exact: no
    float-to-fixed rounding differs between the two. Models without an input quantizer get `x` back.
    """
    import numpy as np

    quantizer = _input_quantizer(model)
    return np.asarray(quantizer(x) if quantizer is not None else x, dtype=np.float32)


def bake_recurrent_quantizers(model) -> None:
    """Store the quantized values in the weights of QKeras recurrent layers (QLSTM, QGRU), in place.

    hls4ml 1.3.0 writes these layers' raw float weights and lets the C++ fixed-point type truncate and
    wrap them (a kernel value 1.0 in fixed<8,1> becomes -1.0), where QKeras rounds and saturates.
    Quantizers are idempotent on their own grid, so the Keras model computes exactly what it did.
    """
    import numpy as np

    for layer in model.layers:
        cell = getattr(layer, "cell", None)
        quantizers = getattr(cell, "quantizers", None)
        if not quantizers:
            continue
        weights = layer.get_weights()
        baked = [np.asarray(q(w), dtype=w.dtype) if q is not None else w for q, w in zip(quantizers, weights)]
        layer.set_weights(baked + weights[len(baked):])


#: Weight quantizers (QKeras class names contain these) that hls4ml 1.3.0 mis-types in bit-exact conversion.
REWRITTEN_QUANTIZERS = ("po2", "binary")


def weights_as_fixed(model):
    """`model` with its power-of-two (`quantized_po2`) and binary (`binary`, `stochastic_binary`) weight
    quantizers replaced by `quantized_bits` that hold the same values exactly (a clone; `model` itself if it
    has none), and the names of the changed layers.

    hls4ml 1.3.0 mis-types both in its bit-exact conversion: po2 weights are written as (sign, exponent) pairs
    for its shift product but typed as ordinary fixed point, and the project does not compile ("ap_fixed has
    no member named 'sign'"); binary weights (+-1) become 1-bit unsigned values and the firmware agreed with
    Keras on 60 % of events in a test here. Their values are exact in a small fixed-point type (+-2**e with
    -min(e) fraction bits; +-1 in 2 bits), so the clone computes what `model` computes, bit for bit, and
    converts like any QKeras model. Multiplying by a constant +-2**e is a shift or a negation in synthesis
    either way. Weights whose values need more than 24 fractional bits are left as they are."""
    import numpy as np
    import tensorflow as tf
    from qkeras import quantized_bits

    replaced = {}
    for layer in model.layers:
        for attr, var in (("kernel_quantizer", "kernel"), ("bias_quantizer", "bias")):
            quantizer = getattr(layer, attr + "_internal", None)  # the attribute without "_internal" is a config
            name = type(quantizer).__name__
            if quantizer is None or not any(k in name for k in REWRITTEN_QUANTIZERS) or \
                    getattr(layer, var, None) is None:
                continue
            values = np.asarray(quantizer(getattr(layer, var)), dtype=np.float64)
            fraction = next((f for f in range(25) if np.all(values * 2.0**f == np.round(values * 2.0**f))), None)
            if fraction is None:
                continue
            top = float(np.abs(values).max())
            integer = max(int(np.floor(np.log2(top))) + 1, 0) if top > 0 else 0
            replaced.setdefault(layer.name, {})[attr] = (quantized_bits(1 + integer + fraction, integer, alpha=1),
                                                         var, values)
    if not replaced:
        return model, []

    def clone(layer):
        config = layer.get_config()
        for attr, (quantizer, _, _) in replaced.get(layer.name, {}).items():
            config[attr] = quantizer
        return type(layer).from_config(config)

    fixed = tf.keras.models.clone_model(model, clone_function=clone)
    fixed.set_weights(model.get_weights())
    for name, attrs in replaced.items():
        for _, var, values in attrs.values():
            getattr(fixed.get_layer(name), var).assign(values)
    return fixed, list(replaced)


def firmware_inputs(model, x, input_types=()):
    """Inputs `x` (an array, or a list with one array per input) on the firmware's input grid: through the
    model's input quantizer if it has one, else rounded to each input's fixed-point type in `input_types`
    (hls4ml type strings; None or non-fixed types leave that input as it is)."""
    from hepfpga.data import as_model_input, per_input
    from hepfpga.fixed import input_grid

    xs = per_input(x)
    if has_input_quantizer(model):
        xs[0] = quantize_inputs(model, xs[0])
    else:
        for k, t in enumerate(input_types):
            if t is not None and "fixed<" in str(t):
                xs[k] = input_grid(xs[k], t)
    return as_model_input(xs)
