"""Model builders and their option checks."""

import numpy as np
import pytest

from hepfpga.errors import ConfigError
from hepfpga.models import available, build, options


def test_float_mlp_structure():
    m = build("mlp", n_inputs=16, n_classes=5, hidden=(64, 32, 32))
    dense = [layer for layer in m.layers if type(layer).__name__ == "Dense"]
    assert [d.units for d in dense] == [64, 32, 32, 5]
    assert m.get_layer("logits").units == 5
    assert m.layers[-1].name == "softmax"
    out = m.predict(np.zeros((3, 16), np.float32), verbose=0)
    np.testing.assert_allclose(out.sum(1), 1, rtol=1e-5)


def test_quantized_mlp_quantizers():
    m = build("mlp", quantized=True, weight_bits=6, activation_bits=6, input_bits=16, input_integer=5)
    assert m.layers[1].name == "input_quant"
    q = m.layers[1].quantizer
    assert (q.bits, q.integer, q.keep_negative, q.alpha) == (16, 5, True, 1)
    qd = m.get_layer("dense_0")
    assert type(qd).__name__ == "QDense"
    assert qd.kernel_quantizer_internal.bits == 6 and qd.bias_quantizer_internal.bits == 6
    assert "quantized_relu(6,0" in str(m.get_layer("relu_0").quantizer)
    # Weights after quantization lie on the 6-bit grid of [-1, 1).
    w = qd.kernel_quantizer_internal(qd.kernel).numpy()
    np.testing.assert_array_equal(w * 32, np.round(w * 32))


def test_batch_norm_and_no_softmax():
    m = build("mlp", batch_norm=True, softmax=False, hidden=(8,))
    names = [layer.name for layer in m.layers]
    assert "bn_0" in names and m.layers[-1].name == "logits"


@pytest.mark.parametrize("bad, match", [
    (dict(hidden=(64, 0)), "hidden must be a non-empty list of positive layer widths"),
    (dict(hidden=()), "hidden"),
    (dict(n_classes=0), "n_classes"),
    (dict(quantized=True, weight_bits=1), r"weight_bits/weight_integer: bits must be an integer in \[2, 32\]"),
    (dict(quantized=True, weight_bits=6, weight_integer=6), r"integer bits must be an integer in \[0, 5\]"),
    (dict(quantized=True, activation="tanh"), "supports 'relu'"),
])
def test_bad_options(bad, match):
    with pytest.raises(ConfigError, match=match):
        build("mlp", **bad)


def test_registry():
    assert "mlp" in available()
    assert options("mlp")["weight_bits"] == 6
    with pytest.raises(ConfigError, match="unknown model family 'transformerz'; available: .*mlp"):
        build("transformerz")
