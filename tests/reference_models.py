"""Models in the styles people publish (hls4ml tutorials and papers), trained on synthetic data.

Shared by tests/test_convert_csim.py and benchmarks/convert_agreement.py.
"""

import numpy as np
import tensorflow as tf
from qkeras import QActivation, QConv2D, QDense, binary, quantized_bits, quantized_po2, quantized_relu, ternary

from hepfpga.data import JET_FEATURES, make_jets
from hepfpga.train import fit

L = tf.keras.layers
KINDS = ("float_mlp", "batchnorm_mlp", "conv1d", "conv2d", "qkeras_dense", "qkeras_cnn", "qkeras_po2_input",
         "qkeras_ternary", "qkeras_binary")


def jets(n=12_000, seed=5):
    """Standardised synthetic jet features (n, 16) and labels (n,)."""
    d = make_jets(n, seed=seed)
    x = np.stack([d[f] for f in JET_FEATURES], 1)
    return ((x - x.mean(0)) / x.std(0)).astype(np.float32), d["label"]


def images(n=6000, seed=1):
    """MNIST-like: 10 classes of fixed random 12x12 patterns plus noise."""
    rng = np.random.default_rng(seed)
    templates = rng.random((10, 12, 12)) > 0.7
    y = rng.integers(0, 10, n)
    x = templates[y].astype(np.float32) + 0.6 * rng.standard_normal((n, 12, 12)).astype(np.float32)
    return x, y


def _q():
    return dict(kernel_quantizer=quantized_bits(6, 0, alpha=1), bias_quantizer=quantized_bits(6, 0, alpha=1))


def _seeded():
    """A seeded initializer: QKeras wraps the default one of po2/ternary layers and calls it repeatedly."""
    return tf.keras.initializers.GlorotUniform(seed=3)


def jet_mlp():
    return tf.keras.Sequential([L.Input(16), L.Dense(64, activation="relu"), L.Dense(32, activation="relu"),
                                L.Dense(32, activation="relu"), L.Dense(5, activation="softmax")], name="jet_mlp")


def _quantized_input_model(name: str, kernel_quantizer, activations: list):
    """144 inputs through quantized_bits(10, 2) -> QDense(32, `kernel_quantizer`) -> the QActivations
    `activations` (named r1, r1b, ...) -> QDense(10) -> softmax."""
    layers = [L.Input(144), QActivation(quantized_bits(10, 2, alpha=1), name="qin"),
              QDense(32, name="fc1", kernel_quantizer=kernel_quantizer, kernel_initializer=_seeded(),
                     bias_quantizer=quantized_bits(6, 0, alpha=1))]
    layers += [QActivation(a, name="r1" + "b" * k) for k, a in enumerate(activations)]
    layers += [QDense(10, name="out", **_q()), L.Activation("softmax", name="softmax")]
    return tf.keras.Sequential(layers, name=name)


def build(kind):
    if kind == "float_mlp":
        return jet_mlp()
    if kind == "batchnorm_mlp":
        return tf.keras.Sequential([L.Input(16), L.Dense(32), L.BatchNormalization(), L.Activation("relu"),
                                    L.Dense(32), L.BatchNormalization(), L.Activation("relu"),
                                    L.Dense(5, activation="softmax")], name="jet_bn")
    if kind == "conv1d":
        return tf.keras.Sequential([L.Input((16, 1)), L.Conv1D(8, 3, activation="relu"), L.MaxPooling1D(2),
                                    L.Conv1D(8, 3, activation="relu"), L.Flatten(), L.Dense(16, activation="relu"),
                                    L.Dense(5, activation="softmax")], name="jet_conv1d")
    if kind == "conv2d":
        return tf.keras.Sequential([L.Input((4, 4, 1)), L.Conv2D(8, 2, activation="relu"),
                                    L.Conv2D(8, 2, activation="relu"), L.Flatten(), L.Dense(16, activation="relu"),
                                    L.Dense(5, activation="softmax")], name="jet_conv2d")
    if kind == "qkeras_dense":
        return tf.keras.Sequential([L.Input(144), QDense(64, name="fc1", **_q()),
                                    QActivation(quantized_relu(6), name="r1"),
                                    QDense(32, name="fc2", **_q()), QActivation(quantized_relu(6), name="r2"),
                                    QDense(10, name="out", **_q()), L.Activation("softmax", name="softmax")],
                                   name="qmnist_dense")
    if kind == "qkeras_cnn":
        return tf.keras.Sequential([L.Input((12, 12, 1)), QConv2D(4, 3, name="c1", **_q()),
                                    QActivation(quantized_relu(6), name="r1"), L.MaxPooling2D(2),
                                    QConv2D(8, 3, name="c2", **_q()), QActivation(quantized_relu(6), name="r2"),
                                    L.Flatten(), QDense(10, name="out", **_q()),
                                    L.Activation("softmax", name="softmax")],
                                   name="qmnist_cnn")
    # A quantized input, unusual weight quantizers in the first layer (po2: then two chained QActivations).
    if kind == "qkeras_po2_input":
        return _quantized_input_model("qmnist_po2", quantized_po2(4), [quantized_relu(8, 3), quantized_relu(6, 2)])
    if kind == "qkeras_binary":
        return _quantized_input_model("qmnist_binary", binary(alpha=1), [quantized_relu(6, 2)])
    if kind == "qkeras_ternary":
        return _quantized_input_model("qmnist_ternary", ternary(alpha=1), [quantized_relu(6, 2)])
    raise ValueError(kind)


def train(kind, jet_data, image_data, epochs=4):
    """Build model `kind` and train it briefly on the matching synthetic data."""
    x, y = image_data if kind.startswith("qkeras") else jet_data
    model = build(kind)
    x = x.reshape((len(x), *model.input_shape[1:]))
    fit(model, x[:-1000], y[:-1000], x[-1000:], y[-1000:], epochs=epochs, batch_size=256, verbose=0)
    return model
