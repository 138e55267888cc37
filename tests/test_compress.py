"""Pruning (tfmot) and quantization-aware training (QKeras) stages."""

import numpy as np
import pytest

from hepfpga.compress import prune, quantize
from hepfpga.errors import ConfigError
from hepfpga.models import build
from hepfpga.train import fit


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2048, 16)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int32) + 2 * (x[:, 2] > 0.5)
    return x, y


def test_prune_reaches_target_and_strip(toy):
    x, y = toy
    model = build("mlp", n_classes=4, hidden=(32, 16))
    before = [w.copy() for w in model.get_weights()]
    pruned = prune.prune(model, target_sparsity=0.8, end_step=20)
    assert sum(type(layer).__name__ == "PruneLowMagnitude" for layer in pruned.layers) == 3
    fit(pruned, x, y, x[:256], y[:256], epochs=3, batch_size=128, callbacks=prune.pruning_callbacks(),
        early_stopping=False, verbose=0)
    stripped = prune.strip(pruned)
    assert not any(type(layer).__name__ == "PruneLowMagnitude" for layer in stripped.layers)
    report = prune.sparsity(stripped)
    assert set(report) == {"dense_0", "dense_1", "logits"}
    assert all(0.79 <= s <= 0.81 for s in report.values()), report
    # Pruning trains copies: the float model given to it is unchanged.
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)
    # The stripped model computes what the pruned one did.
    np.testing.assert_allclose(stripped.predict(x[:64], verbose=0), pruned.predict(x[:64], verbose=0), atol=1e-6)


def test_prune_options_checked():
    model = build("mlp", hidden=(8,))
    with pytest.raises(ConfigError, match="target_sparsity"):
        prune.prune(model, target_sparsity=1.0)
    with pytest.raises(ConfigError, match="end_step"):
        prune.prune(model, end_step=0)


def test_quantize_transfers_weights_and_keeps_sparsity(toy):
    x, y = toy
    float_model = build("mlp", n_classes=4, hidden=(16,))
    fit(float_model, x, y, x[:256], y[:256], epochs=2, batch_size=256, verbose=0)
    qmodel = quantize.quantize(float_model, "mlp", dict(n_classes=4, hidden=(16,)), weight_bits=8, weight_integer=1,
                               activation_bits=12, activation_integer=5)
    for name in ("dense_0", "logits"):
        np.testing.assert_array_equal(qmodel.get_layer(name).get_weights()[0],
                                      float_model.get_layer(name).get_weights()[0])
    # With 8-bit weights and wide activations the QKeras model predicts (nearly) what the float one does.
    agree = np.mean(qmodel.predict(x, verbose=0).argmax(1) == float_model.predict(x, verbose=0).argmax(1))
    assert agree > 0.95
    # QAT with pruning at constant target sparsity keeps the zeros.
    pq = prune.prune(qmodel, 0.5, initial_sparsity=0.5, end_step=10)
    fit(pq, x, y, x[:256], y[:256], epochs=2, batch_size=256, callbacks=prune.pruning_callbacks(),
        early_stopping=False, verbose=0)
    assert all(abs(s - 0.5) < 0.01 for s in prune.sparsity(prune.strip(pq)).values())


def test_transfer_weights_mismatch():
    a = build("mlp", hidden=(8,))
    b = build("mlp", hidden=(9,), quantized=True)
    with pytest.raises(ConfigError, match="layer 'dense_0'.*same weight shapes"):
        quantize.transfer_weights(a, b)


def test_quantize_inputs_on_grid():
    m = build("mlp", quantized=True, input_bits=8, input_integer=3, hidden=(4,))
    x = np.array([[0.01, 0.07, -3.3, 100.0] * 4], np.float32)
    q = quantize.quantize_inputs(m, x)
    np.testing.assert_array_equal(q * 16, np.round(q * 16))  # 8 bits, 3 integer: step 1/16
    assert q.max() < 8 and q.min() >= -8  # saturates at the type's range
    assert quantize.quantize_inputs(build("mlp", hidden=(4,)), x) is not None
