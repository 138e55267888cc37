"""hls4ml configuration choices, checked without compiling."""

import pytest

from hepfpga.convert import hls_config, is_quantized
from hepfpga.convert.precision import softmax_config
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


def test_hls_config_for_qkeras_mlp():
    model = build("mlp", quantized=True, hidden=(8,))
    assert is_quantized(model) and not is_quantized(build("mlp", hidden=(8,)))
    cfg = hls_config(model, "Vitis", trace_layers=["logits"], reuse_factor=2)
    layers = cfg["LayerName"]
    assert layers["logits"]["Trace"] is True and layers["dense_0"]["Trace"] is False
    assert layers["dense_0"]["Precision"]["weight"].startswith("fixed<6,1")
    assert layers["input_quant"]["Precision"]["result"].startswith("fixed<16,6")
    assert layers["softmax"]["inp_norm_t"] == "ufixed<16,3,RND,SAT>"
    assert "exp_table" not in layers["softmax"]["Precision"]  # ignored by hls4ml 1.3.0; set as *_t keys
    assert cfg["Model"]["ReuseFactor"] == 2


def test_hls_config_rejects_bad_options():
    model = build("mlp", hidden=(8,))
    with pytest.raises(ConfigError, match="power of two"):
        hls_config(model, softmax_table_size=1000)
    with pytest.raises(ConfigError, match="cannot trace layer 'nope'"):
        hls_config(model, trace_layers=["nope"])
