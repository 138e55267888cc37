"""hepfpga's custom HLS layers (hepfpga.extensions): each layer's C++ against its Keras forward pass on
random inputs at several precisions, their conversion limits, and saving/loading the Keras layers."""

import numpy as np
import pytest
import tensorflow as tf

from hepfpga.convert.precision import attention_precisions, layernorm_precisions, message_passing_precisions
from hepfpga.errors import ConfigError
from hepfpga.extensions.attention import SelfAttention
from hepfpga.extensions.message_passing import MessagePassing
from hepfpga.pipeline import ConvertOptions, convert_model


def _one_layer(layer, tokens=8, features=16):
    x_in = tf.keras.Input((tokens, features), name="inputs")
    return tf.keras.Model(x_in, layer(x_in))


def _firmware(model, x, entry, tmp_path, backend="Vitis"):
    """Compile `model` (one custom layer named "layer") with the given layer config; firmware outputs."""
    import contextlib
    import io

    import hls4ml

    from hepfpga.convert import convert, hls_config

    config = hls_config(model, backend)
    config["LayerName"]["layer"].update(entry)
    config["LayerName"]["inputs"]["Precision"]["result"] = "fixed<28,10,RND,SAT>"
    with contextlib.redirect_stdout(io.StringIO()):
        hls_model = convert(model, tmp_path, config=config, backend=backend)
        hls_model.compile()
        out = hls_model.predict(np.ascontiguousarray(x, dtype=np.float64))
    assert isinstance(hls_model, hls4ml.model.ModelGraph)
    return out.reshape(len(x), *model.output_shape[1:])


def _inputs(n=200, tokens=8, features=16, seed=0, token_scale=None):
    x = np.random.default_rng(seed).standard_normal((n, tokens, features)) * 2 + 0.5
    if token_scale is not None:
        x = x * token_scale[None, :, None]
    return np.round(x * 2**16) / 2**16  # exact in the fixed<28,10> input type (|x| < 512)


@pytest.mark.csim
@pytest.mark.parametrize("quantizer", [None, "quantized_bits(6,0,alpha=1)"], ids=["float", "qkeras"])
def test_self_attention_cpp_matches_keras_at_several_precisions(quantizer, tmp_path):
    layer = SelfAttention(2, 8, kernel_quantizer=quantizer, name="layer")
    model = _one_layer(layer)
    x = _inputs()
    keras = model.predict(x, verbose=0)
    span = float(np.abs(keras).max())
    errors = {}
    for target in (2.0**-6, 2.0**-10):
        entry = {}
        attention_precisions(layer, entry, x, target_error=target)
        errors[target] = float(np.abs(_firmware(model, x, entry, tmp_path / str(target)) - keras).max())
    # Finer types, smaller error; at the finer one the firmware is within 0.5 % of the output range.
    assert errors[2.0**-10] < errors[2.0**-6]
    assert errors[2.0**-10] <= 0.005 * span, errors


@pytest.mark.csim
def test_layernorm_cpp_matches_keras_for_large_and_tiny_variances(tmp_path):
    """hls4ml's own LayerNormalization kernel saturates for variances above 1; hepfpga's does not."""
    layer = tf.keras.layers.LayerNormalization(name="layer")
    model = _one_layer(layer)
    layer.set_weights([np.linspace(0.5, 1.5, 16), np.linspace(-0.2, 0.2, 16)])
    x = _inputs(token_scale=np.geomspace(0.01, 20, 8))  # token variances from 4e-4 to ~1600
    keras = model.predict(x, verbose=0)
    errors = {}
    for target in (2.0**-6, 2.0**-10):
        entry = {}
        layernorm_precisions(layer, entry, x, keras, target_error=target)
        errors[target] = float(np.abs(_firmware(model, x, entry, tmp_path / str(target)) - keras).max())
    assert errors[2.0**-10] < errors[2.0**-6]
    assert errors[2.0**-10] <= 0.005 * float(np.abs(keras).max()), errors


@pytest.mark.csim
@pytest.mark.parametrize("aggregation, k, quantizer", [("sum", None, None), ("mean", 3, None),
                                                       ("max", 3, "quantized_bits(6,0,alpha=1)")],
                         ids=["sum-all-pairs", "mean-knn", "max-knn-qkeras"])
def test_message_passing_cpp_matches_keras_at_several_precisions(aggregation, k, quantizer, tmp_path):
    layer = MessagePassing(8, 8, aggregation, k, (1, 2), kernel_quantizer=quantizer, name="layer")
    model = _one_layer(layer, tokens=8, features=3)
    x = _inputs(tokens=8, features=3)
    keras = model.predict(x, verbose=0)
    errors = {}
    for target in (2.0**-6, 2.0**-10):
        entry = {}
        message_passing_precisions(layer, entry, x, target_error=target)
        errors[target] = float(np.abs(_firmware(model, x, entry, tmp_path / str(target)) - keras).max())
    assert errors[2.0**-10] < errors[2.0**-6]
    assert errors[2.0**-10] <= 0.005 * float(np.abs(keras).max()), errors


def test_message_passing_neighbours_and_permutations():
    """k nearest by the coordinate features, ties to the lower index; node order does not matter."""
    layer = MessagePassing(4, 4, "sum", k=1, coordinates=(0, 1))
    x = np.array([[[0.0, 1], [1.0, 2], [3.0, 3], [3.5, 4]]], np.float32)
    mask = layer.edge_mask(tf.constant(x)).numpy()[0]
    assert mask.tolist() == [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]]
    x = _inputs(4, tokens=8, features=3).astype(np.float32)
    model = _one_layer(MessagePassing(8, 8, "mean", 3, (1, 2)), tokens=8, features=3)
    order = np.random.default_rng(1).permutation(8)
    np.testing.assert_allclose(model.predict(x[:, order], verbose=0), model.predict(x, verbose=0)[:, order],
                               rtol=1e-5, atol=1e-5)


@pytest.mark.csim
def test_custom_layers_on_the_vivado_backend(tmp_path):
    """The layers are registered for Vivado as well as Vitis: one Transformer-style stack on Vivado."""
    x_in = tf.keras.Input((8, 16), name="inputs")
    h = SelfAttention(2, 8, name="layer")(x_in)
    h = tf.keras.layers.LayerNormalization(name="norm")(tf.keras.layers.Add(name="residual")([x_in, h]))
    model = tf.keras.Model(x_in, h)
    x = _inputs()
    report = convert_model(model, tmp_path / "prj", x, options=ConvertOptions(backend="Vivado", max_events=200),
                           log=lambda *a: None)
    assert report["passed"] and report["agreement"]["relative_max_abs_diff"] <= 0.01
    assert "nnet_self_attention.h" in (tmp_path / "prj" / "firmware" / "parameters.h").read_text()


def test_self_attention_saves_and_loads(tmp_path):
    from hepfpga.convert.load import load_model

    model = _one_layer(SelfAttention(4, 4, kernel_quantizer="quantized_bits(8,0,alpha=1)", name="layer"))
    x = _inputs(5)
    model.save(tmp_path / "m.h5")
    again = load_model(tmp_path / "m.h5")
    assert again.get_layer("layer").get_config()["heads"] == 4
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("layer, tokens, io_type, match", [
    (SelfAttention(2, 8, name="layer"), 8, "io_stream", "io_parallel HLS implementation only"),
    (tf.keras.layers.LayerNormalization(name="layer"), 8, "io_stream", "io_parallel HLS implementation only"),
    (SelfAttention(2, 8, name="layer"), 40, "io_parallel", "sequences of 40 tokens; .* at most 32"),
    (SelfAttention(3, 8, name="layer"), 8, "io_parallel", "3 heads do not divide the 16 input features"),
    (MessagePassing(8, 8, k=3, name="layer"), 8, "io_stream", "io_parallel HLS implementation only"),
    (MessagePassing(8, 8, k=3, name="layer"), 40, "io_parallel", "graphs of 40 nodes; .* at most 32"),
    (MessagePassing(8, 8, k=3, coordinates=(15, 2), name="layer"), 8, "io_parallel", "coordinates 15..16"),
])
def test_custom_layers_refused_before_any_cpp(layer, tokens, io_type, match, tmp_path):
    model = _one_layer(layer, tokens=tokens)
    with pytest.raises(ConfigError, match=match):
        convert_model(model, tmp_path / "prj", _inputs(20, tokens), options=ConvertOptions(io_type=io_type))
    assert not (tmp_path / "prj").exists()
