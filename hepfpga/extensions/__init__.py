"""Custom HLS layers added to hls4ml through its extension API (Keras handler, layer, templates, C++).

`register()` makes hls4ml convert them; hepfpga calls it before every conversion, so users need no step.
"""

from __future__ import annotations

_REGISTERED = False
#: Backends the custom layers are registered with (io_parallel kernels).
BACKENDS = ("Vivado", "Vitis")


def register() -> None:
    """Register every custom layer with hls4ml (idempotent)."""
    global _REGISTERED
    if _REGISTERED:
        return
    import hls4ml
    from hls4ml.converters.keras_v2_to_hls import get_layer_handlers, register_keras_v2_layer_handler
    from hls4ml.model.layers import register_layer

    from hepfpga.extensions import attention, layernorm, message_passing

    # (Keras class name, hls4ml layer name, module, parser): SelfAttention and MessagePassing are new;
    # LayerNormalization replaces hls4ml's kernel (its variance table stops at 1), keeping its parser checks.
    for keras_name, hls_name, module, parser in (
            ("SelfAttention", "SelfAttention", attention, attention.parse_self_attention),
            ("MessagePassing", "MessagePassing", message_passing, message_passing.parse_message_passing),
            ("LayerNormalization", "LayerNormWide", layernorm, layernorm.parse_layernorm)):
        layer_class = module._layer_class()
        if keras_name in get_layer_handlers():
            # Replacing a built-in handler: hls4ml's register function refuses, its registry does not.
            get_layer_handlers()[keras_name] = parser
        else:
            register_keras_v2_layer_handler(keras_name, parser)
        register_layer(hls_name, layer_class)
        for name in BACKENDS:
            backend = hls4ml.backends.get_backend(name)
            for template in module._templates(layer_class):
                backend.register_template(template)
            backend.register_source(module.HEADER)
    # The bit-exact layer norm is the same hls4ml layer (its parser rounds gamma and beta as Keras does).
    register_keras_v2_layer_handler("QLayerNormalization", layernorm.parse_layernorm)
    from hepfpga.extensions.garnet import register_templates

    register_templates()  # hls4ml's GarNet with a configurable distance type
    _REGISTERED = True


def precision_rules() -> dict:
    """{Keras class name: precision rule} of the custom layers, for `hepfpga.convert.rules` (a rule takes the
    Keras layer, its hls4ml config entry, its output values and the calibration; the types come from the
    values entering the layer, or from the layer's own `fixed_point` types in its bit-exact form)."""
    from hepfpga.extensions.attention import attention_precisions
    from hepfpga.extensions.layernorm import layernorm_precisions
    from hepfpga.extensions.message_passing import message_passing_precisions

    def attention(layer, entry, values, cal):
        attention_precisions(layer, entry, cal.input_of(layer), cal.target_error, cal.headroom_bits, cal.table_size)

    def message_passing(layer, entry, values, cal):
        message_passing_precisions(layer, entry, cal.input_of(layer), cal.target_error, cal.headroom_bits)

    def layernorm(layer, entry, values, cal):
        layernorm_precisions(layer, entry, cal.input_of(layer), values, cal.target_error, cal.headroom_bits,
                             cal.table_size)

    return {"SelfAttention": attention, "MessagePassing": message_passing, "LayerNormalization": layernorm,
            "QLayerNormalization": layernorm}


def custom_objects() -> dict:
    """Keras classes of the custom layers, for loading saved models."""
    from hepfpga.extensions.attention import SelfAttention
    from hepfpga.extensions.layernorm import QLayerNormalization
    from hepfpga.extensions.message_passing import MessagePassing

    return {"SelfAttention": SelfAttention, "MessagePassing": MessagePassing,
            "QLayerNormalization": QLayerNormalization}


#: Longest token sequence a SelfAttention layer is converted for (scores grow as tokens^2 per head).
MAX_TOKENS = 32
#: Largest graph a MessagePassing layer is converted for (N(N-1) edge MLPs in parallel).
MAX_NODES = 32


def check_model(model, io_type: str) -> None:
    """Raise ConfigError, before any C++ is written, for custom layers used outside what they implement:
    io_stream (the kernels are io_parallel), sequences over `MAX_TOKENS`, heads that do not fit."""
    from hepfpga.errors import ConfigError

    for layer in model.layers:
        kind = type(layer).__name__
        if kind not in ("SelfAttention", "LayerNormalization", "QLayerNormalization", "MessagePassing"):
            continue
        if io_type != "io_parallel":
            raise ConfigError(f"layer {layer.name} ({kind}) has an io_parallel HLS implementation only; "
                              f"convert with io_type='io_parallel' (got {io_type!r})")
        if kind == "MessagePassing":
            nodes, features = layer.input_shape[1], layer.input_shape[-1]
            if nodes is None or nodes > MAX_NODES:
                raise ConfigError(f"layer {layer.name} (MessagePassing): graphs of {nodes} nodes; the HLS layer takes "
                                  f"a fixed size of at most {MAX_NODES}")
            if layer.k and not 1 <= layer.k < nodes:
                raise ConfigError(f"layer {layer.name} (MessagePassing): k = {layer.k} neighbours needs 1 <= k < "
                                  f"{nodes} nodes")
            first, count = layer.coordinates
            if layer.k and (first < 0 or count < 1 or first + count > features):
                raise ConfigError(f"layer {layer.name} (MessagePassing): coordinates {first}..{first + count - 1} "
                                  f"are not among the {features} node features")
        if kind == "SelfAttention":
            tokens, features = layer.input_shape[1], layer.input_shape[-1]
            if tokens is None or tokens > MAX_TOKENS:
                raise ConfigError(f"layer {layer.name} (SelfAttention): sequences of {tokens} tokens; the HLS layer "
                                  f"takes a fixed length of at most {MAX_TOKENS}")
            if layer.heads < 1 or layer.head_dim < 1:
                raise ConfigError(f"layer {layer.name} (SelfAttention): heads and head_dim must be positive, "
                                  f"got {layer.heads} and {layer.head_dim}")
            if features % layer.heads:
                raise ConfigError(f"layer {layer.name} (SelfAttention): {layer.heads} heads do not divide the "
                                  f"{features} input features")
