"""hls4ml-side pieces shared by the custom layers whose C++ takes (input, output, weights...): the graph
node (weights and internal types from the layer's config) and the config/function templates."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from hepfpga.fixed import fixed_type, value_stats


def quantized_weight_data(keras_layer, data_reader, layer: dict, weights: tuple[str, ...]) -> None:
    """Store each weight as `<name>_data` in the parsed `layer`, quantized with the Keras layer's
    `kernel_quantizer` if it has one: what the forward pass uses, exact in its fixed-point type."""
    from hls4ml.converters.keras_v2_to_hls import get_weights_data

    quantizer = None
    if keras_layer["config"].get("kernel_quantizer"):
        from qkeras.quantizers import get_quantizer

        quantizer = get_quantizer(keras_layer["config"]["kernel_quantizer"])
    for name, data in zip(weights, get_weights_data(data_reader, layer["name"], list(weights))):
        layer[f"{name}_data"] = np.asarray(quantizer(data) if quantizer is not None else data, dtype=np.float64)


def weight_type(quantizer):
    """The fixed-point type hls4ml gives the weights of a QKeras `quantized_bits` quantizer."""
    from hepfpga.errors import ConfigError
    from hepfpga.fixed import Fixed

    if quantizer is None or type(quantizer).__name__ != "quantized_bits":
        raise ConfigError(f"fixed_point layers need a quantized_bits kernel_quantizer, got {quantizer}")
    return Fixed(int(quantizer.bits), int(quantizer.integer) + 1, rounding="TRN", overflow="WRAP")


def set_internal_types(node, kinds: tuple[str, ...]) -> None:
    """Set `<kind>_t` on an hls4ml `node` from its layer's `Precision` config; an `in` type missing there
    is the input's own type (no rounding of the input)."""
    from hls4ml.model.types import NamedType

    for kind in kinds:
        if kind == "in" and "in" not in (node.model.config.get_layer_config(node).get("Precision") or {}):
            node.set_attr("in_t", node.get_input_variable().type)
            continue
        precision, _ = node.model.config.get_precision(node, kind)
        node.set_attr(f"{kind}_t", NamedType(f"{node.name}_{kind}_t", precision))


def layer_class(name: str, weights: tuple[str, ...], internal_types: tuple[str, ...], output_shape: Callable):
    """An hls4ml layer class with the given weights (variables `<weight><index>`) and internal types
    (`<type>_t`, see `set_internal_types`); `output_shape(node)` gives its output shape."""
    from hls4ml.model.layers import Layer

    def initialize(self):
        self.add_output_variable(output_shape(self))
        for weight in weights:
            self.add_weights_variable(name=weight, var_name=f"{weight}{{index}}", data=self.get_attr(f"{weight}_data"))
        set_internal_types(self, internal_types)

    return type(name, (Layer,), {"initialize": initialize, "__doc__": f"hls4ml graph node of `{name}`."})


def templates(layer_cls, config_template: str, function_template: str, header: Path, weights: tuple[str, ...],
              internal_types: tuple[str, ...], extra: Callable = lambda node: {}):
    """Config template (`{types}`: typedefs of the internal and weight types; `extra(node)` adds
    parameters) and function template (`{weights}`: the weight variables in order) of `layer_cls`."""
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate

    class ConfigTemplate(LayerConfigTemplate):
        def __init__(self):
            super().__init__(layer_cls)
            self.template = config_template

        def format(self, node):
            params = {**self._default_config_params(node), **extra(node)}
            lines = [f"    typedef {node.get_attr(f'{n}_t').name} {n}_t;" for n in internal_types]
            lines += [f"    typedef {node.get_weights(n).type.name} {n}_t;" for n in weights]
            params["types"] = "\n".join(lines)
            return self.template.format(**params)

    class FunctionTemplate(FunctionCallTemplate):
        def __init__(self):
            super().__init__(layer_cls, include_header=[f"nnet_utils/{header.name}"])
            self.template = function_template

        def format(self, node):
            params = self._default_function_params(node)
            params["weights"] = ", ".join(node.get_weights(n).name for n in weights)
            return self.template.format(**params)

    return ConfigTemplate, FunctionTemplate


def custom_weight_types(layer, names, target_error: float) -> dict[str, str]:
    """Types of a custom layer's weights `names`: its `quantized_bits` quantizer's type, else from their
    (quantized) values."""
    quantizer = getattr(layer, "_quantizer", None)
    if type(quantizer).__name__ == "quantized_bits":
        w = weight_type(quantizer)
        return {name: f"fixed<{w.width},{w.integer}>" for name in names}
    weights = layer.quantized_weights()
    return {name: fixed_type(*value_stats(np.asarray(weights[name])), target_error, 0)[0] for name in names}
