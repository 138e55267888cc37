"""hepfpga's custom HLS layers (hepfpga.extensions): each layer's C++ against its Keras forward pass on
random inputs at several precisions, their conversion limits, and saving/loading the Keras layers."""

import numpy as np
import pytest
import tensorflow as tf

from hepfpga.convert import ConvertOptions, convert_model
from hepfpga.errors import ConfigError
from hepfpga.extensions.attention import SelfAttention, attention_precisions
from hepfpga.extensions.exact import parse_type
from hepfpga.extensions.layernorm import QLayerNormalization, layernorm_precisions
from hepfpga.extensions.message_passing import MessagePassing, message_passing_precisions


def _one_layer(layer, tokens=8, features=16):
    x_in = tf.keras.Input((tokens, features), name="inputs")
    return tf.keras.Model(x_in, layer(x_in))


def _firmware(model, x, entry, tmp_path, backend="Vitis"):
    """Compile `model` (one custom layer named "layer") with the given layer config; firmware outputs."""
    import contextlib
    import io

    import hls4ml

    from hepfpga.convert import base_config, write_project

    config = base_config(model, backend)
    config["LayerName"]["layer"].update(entry)
    config["LayerName"]["inputs"]["Precision"]["result"] = "fixed<28,10,RND,SAT>"
    with contextlib.redirect_stdout(io.StringIO()):
        hls_model = write_project(model, tmp_path, config=config, backend=backend)
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
def test_self_attention_with_one_feature_per_head(tmp_path):
    """head_dim = 1: the score scale 1/sqrt(1) = 1 needs an integer bit (in ufixed<18,0> it wrapped to 0:
    83 % of the output range off)."""
    layer = SelfAttention(4, 1, name="layer")
    model = _one_layer(layer, 8, 4)
    x = _inputs(tokens=8, features=4)
    keras = model.predict(x, verbose=0)
    entry = {}
    attention_precisions(layer, entry, x, target_error=2.0**-10)
    assert np.abs(_firmware(model, x, entry, tmp_path) - keras).max() <= 0.005 * np.abs(keras).max()


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


WQ = "quantized_bits(6,0,alpha=1)"
#: Two sets of types for the bit-exact forms: 16 bits (10 fractional) and 10 bits, where values saturate.
FINE = dict(input="fixed<16,6>", proj="fixed<16,6>", score="fixed<16,6>", att="fixed<16,6>", result="fixed<16,6>",
            agg="fixed<16,6>", scale="fixed<10,3>", bias="fixed<10,3>")
COARSE = dict(input="fixed<10,5>", proj="fixed<10,5>", score="fixed<12,6>", att="fixed<10,5>", result="fixed<10,4>",
              agg="fixed<10,6>", scale="fixed<8,2>", bias="fixed<8,2>")


def _types(keys, types):
    return {k: types[k] for k in keys}


@pytest.mark.csim
@pytest.mark.parametrize("kind, types", [
    ("attention", FINE), ("attention", COARSE), ("layernorm", FINE), ("layernorm", COARSE),
    ("message_passing_mean_knn", FINE), ("message_passing_max_all_pairs", COARSE)],
    ids=["attention-16", "attention-10", "layernorm-16", "layernorm-10", "mp-mean-knn-16", "mp-max-all-10"])
def test_bit_exact_forms_match_firmware_bit_for_bit(kind, types, tmp_path):
    """With `fixed_point` types, the Keras forward pass is the kernel's arithmetic: every output equal."""

    tokens, features = (8, 3) if kind.startswith("message") else (8, 16)
    if kind == "attention":
        layer = SelfAttention(2, 8, kernel_quantizer=WQ, fixed_point=_types(("input", "proj", "score", "att", "result"),
                                                                             types), name="layer")
    elif kind == "layernorm":
        layer = QLayerNormalization(_types(("input", "scale", "bias", "result"), types), name="layer")
    else:
        aggregation, k = ("mean", 3) if "mean" in kind else ("max", None)
        layer = MessagePassing(8, 8, aggregation, k, (1, 2), kernel_quantizer=WQ,
                               fixed_point=_types(("input", "agg", "result"), types), name="layer")
    model = _one_layer(layer, tokens, features)
    rng = np.random.default_rng(1)
    if kind == "layernorm":  # token variances from 1e-4 to ~900 (saturating the 10-bit input type)
        layer.set_weights([rng.normal(1, 0.5, 16), rng.normal(0, 0.5, 16)])
        x = _inputs(token_scale=np.geomspace(1e-2, 30, 8))
    else:
        x = _inputs(tokens=tokens, features=features)
    keras = model.predict(x, verbose=0)
    entry = {}
    if kind == "attention":
        attention_precisions(layer, entry, x)
    elif kind == "layernorm":
        layernorm_precisions(layer, entry, x, keras)
    else:
        message_passing_precisions(layer, entry, x)
    firmware = _firmware(model, x, entry, tmp_path)
    assert np.abs(keras).max() > 1  # not a trivial output
    np.testing.assert_array_equal(firmware, keras)


def test_fixed_rounds_as_ap_fixed():
    """RND_CONV: nearest, ties to even; SAT: clipped to the range; TRN: towards minus infinity."""
    x = tf.constant([0.125, 0.375, -0.125, -0.375, 0.3, 7.9, -9.0, 100.0], tf.float64)
    assert parse_type("fixed<5,3>").quantize(x).numpy().tolist() == [0.0, 0.5, 0.0, -0.5, 0.25, 3.75, -4.0, 3.75]
    trn = parse_type("fixed<8,4,TRN,WRAP>")
    assert trn.quantize(tf.constant([0.3, -0.3], tf.float64)).numpy().tolist() == [0.25, -0.3125]
    assert str(parse_type("ufixed<18,1>")) == "ufixed<18,1,RND_CONV,SAT>"
    with pytest.raises(ConfigError, match="not a fixed-point type"):
        parse_type("float")


def test_bit_exact_forms_check_their_options():
    with pytest.raises(ConfigError, match="fixed_point needs a kernel_quantizer"):
        SelfAttention(2, 8, fixed_point=_types(("input", "proj", "score", "att", "result"), FINE))
    with pytest.raises(ConfigError, match="missing agg"):
        MessagePassing(8, 8, kernel_quantizer=WQ, fixed_point={"input": "fixed<16,6>", "result": "fixed<16,6>"})
    with pytest.raises(ConfigError, match="exceed the 53 bits"):
        _one_layer(QLayerNormalization({"input": "fixed<32,12>", "scale": "fixed<10,3>", "bias": "fixed<10,3>",
                                        "result": "fixed<16,6>"}))


def test_bit_exact_forms_save_and_load(tmp_path):
    from hepfpga.models.load import load_model

    x_in = tf.keras.Input((8, 16), name="inputs")
    h = SelfAttention(2, 8, kernel_quantizer=WQ, fixed_point=_types(("input", "proj", "score", "att", "result"), FINE),
                      name="attention")(x_in)
    h = QLayerNormalization(_types(("input", "scale", "bias", "result"), FINE), name="norm")(h)
    model = tf.keras.Model(x_in, h)
    x = _inputs(5)
    model.save(tmp_path / "m.h5")
    again = load_model(tmp_path / "m.h5")
    assert again.get_layer("norm").get_config()["fixed_point"] == model.get_layer("norm").fixed_point
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


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
    from hepfpga.models.load import load_model

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
