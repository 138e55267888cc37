"""Layer normalisation for any variance: hls4ml's Keras LayerNormalization handler, with a wider kernel.

hls4ml 1.3.0 converts LayerNormalization (nnet_layernorm.h), but its 1/sqrt(var) table covers variances
up to 1 only (`table_range_power2` is unsigned), so a Transformer's residual sums (variances of 10-100)
saturate. hepfpga keeps hls4ml's parser and replaces the kernel with `nnet_layernorm_wide.h`, which
normalises the variance by powers of 4 before its table look-up.
"""

from __future__ import annotations

from pathlib import Path

HEADER = Path(__file__).with_name("nnet_layernorm_wide.h")
INTERNAL_TYPES = ("accum", "var", "table", "inv")


def parse_layernorm(keras_layer, input_names, input_shapes, data_reader):
    """hls4ml's own LayerNormalization parser (shape and axis checks), as hepfpga's wide layer."""
    from hls4ml.converters.keras.core import parse_layernorm_layer

    layer, shape = parse_layernorm_layer(keras_layer, input_names, input_shapes, data_reader)
    layer["class_name"] = "LayerNormWide"
    layer["n_feat"] = int(input_shapes[0][-1])
    layer["epsilon"] = float(keras_layer["config"]["epsilon"])
    return layer, shape


def _layer_class():
    from hls4ml.model.layers import Layer
    from hls4ml.model.types import NamedType

    class LayerNormWide(Layer):
        """hls4ml graph node of a Keras LayerNormalization over the last axis (tokens, features)."""

        def initialize(self):
            self.add_output_variable(self.get_input_variable().shape)
            self.add_weights_variable(name="scale", var_name="s{index}", data=self.get_attr("gamma_data"))
            self.add_weights_variable(name="bias", var_name="b{index}", data=self.get_attr("beta_data"))
            for name in INTERNAL_TYPES:
                precision, _ = self.model.config.get_precision(self, name)
                self.set_attr(f"{name}_t", NamedType(f"{self.name}_{name}_t", precision))

    return LayerNormWide


CONFIG_TEMPLATE = """struct config{index} : nnet::layernorm_wide_config {{
    static const unsigned seq_len = {seq_len};
    static const unsigned n_feat = {n_feat};
    static const unsigned table_size = {table_size};
    static constexpr double epsilon = {epsilon!r};
    static const unsigned reuse_factor = {reuse};
    typedef {accum_t.name} accum_t;
    typedef {var_t.name} var_t;
    typedef {table_t.name} table_t;
    typedef {inv_t.name} inv_t;
    typedef {scale_t} scale_t;
    typedef {bias_t} bias_t;
}};\n"""

FUNCTION_TEMPLATE = "nnet::layernorm_wide<{input_t}, {output_t}, {config}>({input}, {output}, {scale}, {bias});"


def _templates(layer_class):
    from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate

    class LayerNormWideConfigTemplate(LayerConfigTemplate):
        def __init__(self):
            super().__init__(layer_class)
            self.template = CONFIG_TEMPLATE

        def format(self, node):
            params = self._default_config_params(node)
            params["table_size"] = node.get_attr("table_size", 4096)
            params["scale_t"] = node.get_weights("scale").type.name
            params["bias_t"] = node.get_weights("bias").type.name
            return self.template.format(**params)

    class LayerNormWideFunctionTemplate(FunctionCallTemplate):
        def __init__(self):
            super().__init__(layer_class, include_header=[f"nnet_utils/{HEADER.name}"])
            self.template = FUNCTION_TEMPLATE

        def format(self, node):
            params = self._default_function_params(node)
            params["scale"] = node.get_weights("scale").name
            params["bias"] = node.get_weights("bias").name
            return self.template.format(**params)

    return LayerNormWideConfigTemplate, LayerNormWideFunctionTemplate
