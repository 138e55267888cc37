"""hls4ml configuration choices, checked without compiling."""

import pytest

from hepfpga.convert.config import base_config
from hepfpga.convert.layers import is_quantized
from hepfpga.convert.softmax import softmax_config
from hepfpga.errors import ConfigError
from hepfpga.models import build


def test_softmax_types_cover_their_ranges():
    c = softmax_config(5, table_size=4096)
    assert c["TableSize"] == 4096 and c["Implementation"] == "stable"
    # exp(-d) and 1/sum lie in [0, 1]: one integer bit, 17 fractional bits, saturating.
    assert c["exp_table_t"] == c["inv_table_t"] == "ufixed<18,1,RND,SAT>"
    # The sum of 5 exponentials lies in [1, 5]: 4 integer bits hold up to 16; 3 would hold up to 8.
    assert c["accum_t"] == c["inv_inp_t"] == "ufixed<21,4,RND,SAT>"
    # Logit differences saturate at 8; bin width 8 / 4096.
    assert c["inp_norm_t"] == "ufixed<16,3,RND,SAT>"
    assert softmax_config(2)["accum_t"] == "ufixed<19,2,RND,SAT>"
    assert softmax_config(100, table_size=2**16)["inp_norm_t"] == "ufixed<18,3,RND,SAT>"


def test_base_config_for_qkeras_mlp():
    model = build("mlp", quantized=True, hidden=(8,))
    assert is_quantized(model) and not is_quantized(build("mlp", hidden=(8,)))
    cfg = base_config(model, "Vitis", trace_layers=["logits"], reuse_factor=2)
    layers = cfg["LayerName"]
    assert layers["logits"]["Trace"] is True and layers["dense_0"]["Trace"] is False
    assert layers["dense_0"]["Precision"]["weight"].startswith("fixed<6,1")
    assert layers["input_quant"]["Precision"]["result"].startswith("fixed<16,6")
    assert layers["softmax"]["inp_norm_t"] == "ufixed<16,3,RND,SAT>"
    assert "exp_table" not in layers["softmax"]["Precision"]  # ignored by hls4ml 1.3.0; set as *_t keys
    assert cfg["Model"]["ReuseFactor"] == 2


def test_base_config_rejects_bad_options():
    model = build("mlp", hidden=(8,))
    with pytest.raises(ConfigError, match="power of two"):
        base_config(model, softmax_table_size=1000)
    with pytest.raises(ConfigError, match="cannot trace layer 'nope'"):
        base_config(model, trace_layers=["nope"])


# --- calibration-driven precisions ----------------------------------------------------------------

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from hepfpga.convert.rules import choose_precisions  # noqa: E402
from hepfpga.fixed import Fixed, fixed_type, fractional_bits, input_grid, integer_bits  # noqa: E402


def test_integer_and_fractional_bits():
    # ap_fixed<W,I> holds [-2**(I-1), 2**(I-1)): 33.7 needs 2**6 -> I = 7 with no headroom.
    assert integer_bits(33.7, headroom_bits=0) == 7
    assert integer_bits(32.0, headroom_bits=0) == 7  # 32 itself is not representable with I = 6
    assert integer_bits(31.9, headroom_bits=0) == 6
    assert integer_bits(0.3, headroom_bits=0) == 1
    assert integer_bits(0.0, headroom_bits=1) == 2
    assert fractional_bits(1.0, 2**-8) == 8
    assert fractional_bits(4.0, 2**-8) == 6
    assert fractional_bits(0.01, 2**-8) == 15
    assert fixed_type(33.7, 4.0, 2**-8, headroom_bits=1) == ("fixed<14,8,RND,SAT>", 8, 6)
    # Range is never given up: past max_width the fraction shrinks.
    assert fixed_type(1000.0, 1e-6, 2**-8, 1, max_width=20)[1:] == (12, 8)


def test_parse_and_input_grid():
    t = Fixed.parse("fixed<16,6,RND,SAT>")
    assert (t.width, t.integer, t.signed) == (16, 6, True)
    t = Fixed.parse("ufixed<18,1>")
    assert (t.width, t.integer, t.signed) == (18, 1, False)
    x = np.array([0.1, 0.03125, -0.046875, 100.0, -100.0])
    # fixed<8,3>: step 1/32, range [-4, 4 - 1/32]; round half up.
    np.testing.assert_array_equal(input_grid(x, "fixed<8,3>"), [0.09375, 0.03125, -0.03125, 3.96875, -4.0])
    with pytest.raises(ConfigError, match="not a fixed-point type"):
        Fixed.parse("float")


def _known_model():
    """x (2 features) -> Dense(2) with fixed weights -> BatchNorm -> sigmoid; outputs computable by hand."""
    inp = tf.keras.layers.Input((2,), name="inp")
    dense = tf.keras.layers.Dense(2, name="d")
    bn = tf.keras.layers.BatchNormalization(name="bn", epsilon=0.0)
    out = tf.keras.layers.Activation("sigmoid", name="sig")(bn(dense(inp)))
    model = tf.keras.Model(inp, out)
    dense.set_weights([np.array([[2.0, 0.5], [-3.0, 0.25]]), np.array([1.0, 0.0])])
    bn.set_weights([np.array([2.0, 1.0]), np.array([0.0, 0.0]), np.array([0.0, 0.0]), np.array([4.0, 1.0])])
    return model


def test_infer_precisions_on_known_ranges():
    model = _known_model()
    x = np.array([[1.0, -1.0], [-1.0, 1.0], [0.5, 0.5]], np.float32)
    # d = x @ W + b: rows [6, 0.25], [-4, -0.25], [0.5, 0.375] -> max |d| = 6 -> I = 4 (+1 headroom = 5)
    # bn = d * gamma / sqrt(var) = d * [1, 1]: max 6; sigmoid output < 1 -> I = 1 (+1 headroom = 2)
    cfg = base_config(model)
    profile = choose_precisions(model, cfg, x, target_error=2**-8, headroom_bits=1, table_size=4096)
    layers = cfg["LayerName"]
    assert profile["inp"]["max"] == 1.0 and layers["inp"]["Precision"]["result"].startswith("fixed<")
    assert Fixed.parse(layers["inp"]["Precision"]["result"]).integer == 3  # 1.0 needs I = 2, +1 headroom
    assert profile["d"]["max"] == pytest.approx(6.0)
    assert Fixed.parse(layers["d"]["Precision"]["result"]).integer == 5
    # Accumulator: 2 terms -> one more integer and one more fractional bit than the result.
    result, accum = Fixed.parse(layers["d"]["Precision"]["result"]), Fixed.parse(layers["d"]["Precision"]["accum"])
    (w_r, i_r), (w_a, i_a) = (result.width, result.integer), (accum.width, accum.integer)
    assert (i_a, w_a) == (i_r + 1, w_r + 2)
    # Weights: max |w| = 3 -> I = 3; step <= 2**-8 x RMS(w) (RMS 1.85 -> 8 fractional bits).
    assert layers["d"]["Precision"]["weight"] == "fixed<11,3,RND,SAT>"
    # Batch-norm folded scale = gamma / sqrt(var) = [1, 1]; bias 0.
    assert Fixed.parse(layers["bn"]["Precision"]["scale"]).integer == 2
    assert profile["sig"]["max"] < 1.0 and Fixed.parse(layers["sig"]["Precision"]["result"]).integer == 2
    assert layers["sig"]["TableSize"] == 4096
    table = Fixed.parse(layers["sig"]["Precision"]["table"])
    assert (table.width, table.integer) == (18, 1)


def test_lstm_input_result_and_accumulator_share_one_type():
    """hls4ml's nnet::lstm compiles only with one type for its input, result and accumulator."""
    from hepfpga.convert.rules import align_lstm_types

    model = build("rnn", cell="lstm", n_steps=4, n_features=2, units=3, dense=())
    config = {"LayerName": {"inputs": {"Precision": {"result": "fixed<14,6,RND,SAT>"}},
                            "rnn": {"Precision": {"result": "fixed<11,2,RND,SAT>", "accum": "fixed<20,7>"}}}}
    align_lstm_types(model, config)
    types = {config["LayerName"]["inputs"]["Precision"]["result"], config["LayerName"]["rnn"]["Precision"]["result"],
             config["LayerName"]["rnn"]["Precision"]["accum"]}
    assert types == {"fixed<20,7,RND,SAT>"}  # widest integer part (7) and fraction (13)
    gru = build("rnn", cell="gru", n_steps=4, n_features=2, units=3, dense=())
    untouched = {"LayerName": {"inputs": {"Precision": {"result": "fixed<14,6>"}},
                               "rnn": {"Precision": {"result": "fixed<11,2>"}}}}
    align_lstm_types(gru, untouched)
    assert untouched["LayerName"]["rnn"]["Precision"]["result"] == "fixed<11,2>"


def test_recurrent_quantizers_baked_without_changing_keras_outputs():
    """QLSTM weights are stored quantized (hls4ml writes raw weights); Keras computes the same."""
    from hepfpga.compress.quantize import bake_recurrent_quantizers

    model = build("rnn", cell="lstm", n_steps=5, n_features=3, units=4, dense=(), quantized=True, weight_bits=6)
    layer = model.get_layer("rnn")
    kernel, recurrent, bias = layer.get_weights()
    bias[:] = 1.0  # outside quantized_bits(6, 0): QKeras saturates it to 31/32
    layer.set_weights([kernel + 0.003, recurrent, bias])
    x = np.random.default_rng(0).standard_normal((20, 5, 3)).astype(np.float32)
    before = model.predict(x, verbose=0)
    bake_recurrent_quantizers(model)
    baked = layer.get_weights()
    assert np.allclose(baked[2], 31 / 32) and np.allclose(baked[0] * 32, np.round(baked[0] * 32))
    np.testing.assert_array_equal(model.predict(x, verbose=0), before)
