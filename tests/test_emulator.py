"""The compile-free integer emulator (hepfpga.csim.bitexact): its kernels against `Fixed` (itself checked
against ap_fixed in test_fixed.py), and whole projects against the compiled firmware, bit for bit, on
10,000+ events chosen to hit saturation, wrap-around and the softmax tables' edges."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf
import yaml
from golden import REFERENCES

from hepfpga.csim import kernels
from hepfpga.csim.bitexact import Emulator, NotCovered
from hepfpga.csim.emulated_layers import reduce_tree
from hepfpga.fixed import OVERFLOW, ROUNDING, Fixed
from hepfpga.models import build

ROOT = __import__("pathlib").Path(__file__).resolve().parents[1]
ZOO = yaml.safe_load((ROOT / "models" / "zoo.yaml").read_text())
EVENTS = 10_000


# --- kernels against Fixed ----------------------------------------------------------------------------


@pytest.mark.parametrize("overflow", OVERFLOW)
@pytest.mark.parametrize("rounding", ROUNDING)
def test_cast_kernel_matches_fixed(rounding, overflow):
    rng = np.random.default_rng(1)
    raw = rng.integers(-(2**20), 2**20, size=(7, 300))
    raw[0, :8] = [-(2**20), 2**20 - 1, 0, -1, 1, 2**9, -(2**9), 2**9 + 2**10]  # ties at shift 10, extremes
    for target, shift in ((Fixed(8, 3, True, rounding, overflow), 10), (Fixed(6, 2, False, rounding, overflow), 4),
                          (Fixed(12, 4, True, rounding, overflow), 0), (Fixed(10, 8, True, rounding, overflow), -2)):
        source_fraction = target.fraction + shift
        expected = target.cast_raw(raw, source_fraction)
        for relu in (False, True):
            x = np.maximum(raw, 0) if relu else raw
            want = target.cast_raw(x, source_fraction) if relu else expected
            got = np.empty(raw.shape, np.int64)
            kernels.cast_rows(raw.astype(np.int32), kernels.cast_code(target, shift), relu, got)
            np.testing.assert_array_equal(got, want, err_msg=f"{target} shift {shift} relu {relu}")


@pytest.mark.parametrize("overflow", OVERFLOW)
@pytest.mark.parametrize("rounding", ROUNDING)
def test_input_quantization_matches_fixed(rounding, overflow):
    rng = np.random.default_rng(2)
    for t in (Fixed(16, 6, True, rounding, overflow), Fixed(8, 3, False, rounding, overflow),
              Fixed(40, 20, True, rounding, overflow)):
        x = rng.standard_normal((64, 33)) * 2.0 ** (t.integer - 1)
        step = t.step
        x[0, :12] = np.array([0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.25, -0.75, 1e30, -1e30, 3.0, -3.0]) * step  # ties
        x[1] *= 1000.0  # beyond the range
        rows, got = np.empty(x.shape, kernels.storage(t)), np.empty(x.shape[::-1], kernels.storage(t))
        kernels.quantize(x, t.fraction, rounding, kernels.code(t), rows, got)
        np.testing.assert_array_equal(got.T, t.to_raw(x), err_msg=str(t))


def test_transpose_and_reduce_tree():
    for shape in ((1024, 256), (100, 16), (7, 3), (33, 65), (0, 5)):
        a = np.random.default_rng(0).integers(0, 100, size=shape).astype(np.int32)
        out = np.empty(shape[::-1], np.int32)
        kernels.transpose(a, out)
        np.testing.assert_array_equal(out, a.T)

    def hls4ml_reduce(values):  # nnet_common.h: split at pow2(floorlog2(N - 1)), one op per pair
        n = len(values)
        if n == 1:
            return values[0]
        left = 2 ** math.floor(math.log2(n - 1))
        return f"({hls4ml_reduce(values[:left])}+{hls4ml_reduce(values[left:])})"

    for n in range(1, 12):
        slots = [str(i) for i in range(n)]
        for left, right, dest in reduce_tree(n):
            assert dest == len(slots)
            slots.append(f"({slots[left]}+{slots[right]})")
        assert slots[-1] == hls4ml_reduce([str(i) for i in range(n)])


# --- whole projects against the compiled firmware -------------------------------------------------------


def stress_inputs(shape: tuple, input_type: Fixed, n: int = EVENTS, seed: int = 0) -> np.ndarray:
    """n events (n, *shape): Gaussians at three scales, uniform values over 1.5x the input type's range
    (saturation or wrap-around of the input cast), huge values, exact rounding ties of the input step,
    constant and all-zero events, and events with one large feature (softmax far into its tables)."""
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    low, high = input_type.bounds()
    parts = [rng.standard_normal((n // 10, size)) * s for s in (0.1, 1.0, 3.0)]
    parts.append(rng.uniform(1.5 * low, 1.5 * high, (2 * n // 10, size)))
    parts.append(rng.choice([-1e6, 1e6, -1e3, 1e3], (n // 10, size)))
    parts.append((rng.integers(-200, 200, (n // 10, size)) + 0.5) * input_type.step)
    constant = np.repeat(rng.uniform(low, high, (n // 20, 1)), size, axis=1)
    parts += [constant, np.zeros((n // 20, size))]
    spikes = np.zeros((n - sum(len(p) for p in parts), size))
    spikes[np.arange(len(spikes)), rng.integers(0, size, len(spikes))] = rng.choice([-1, 1], len(spikes)) * high
    parts.append(spikes)
    return np.concatenate(parts).reshape(n, *shape)


def _assert_identical(project_dir, shape, seed=0):
    """The emulator (activations fused into the layer before them, and not) equals the compiled firmware on
    the stress inputs; returns the unfused emulator (its values are each layer's own), inputs and outputs."""
    from hepfpga.csim.fast import BatchEmulator

    emulator = Emulator(project_dir, fuse=False)
    x = stress_inputs(shape, emulator.inputs[0][1], seed=seed)
    compiled = BatchEmulator(project_dir, log=lambda *a: None).predict(x, progress=False)
    for emulated in (emulator.predict(x), Emulator(project_dir).predict(x)):
        assert len(emulated) == EVENTS
        differing = int(np.count_nonzero(np.asarray(compiled).reshape(emulated.shape) != emulated))
        assert differing == 0, f"{differing} of {emulated.size} values differ from the compiled firmware"
    return emulator, x, emulated


@pytest.mark.csim
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_reference_models_bit_exact(reference_projects, name):
    """convert ran the emulator (checked against the traced C++ events); here 10,000 stress events more."""
    report = json.loads((reference_projects / name / "hepfpga" / "convert.json").read_text())
    traced = min(1000, report["events"])  # the default --trace-events, or every golden input
    # the references are small: the C++ check runs every traced event
    assert report["engine"] == {"engine": "emulate", "traced_events": traced, "checked_events": traced,
                                "values_differing": 0}
    _assert_identical(reference_projects / name, (16,))


def _zoo_model(name: str, quantized: bool):
    from hepfpga.models.autoencoder import anomaly_model
    from hepfpga.models.generative import vae_anomaly_model

    entry = ZOO[name]
    model = build(entry["family"], **entry["options"], quantized=quantized)
    deploy = {"autoencoder_dense": anomaly_model, "autoencoder_conv": anomaly_model, "vae": vae_anomaly_model}
    return deploy[name](model) if name in deploy else model


#: Zoo entries whose firmware the emulator covers (float and QKeras; hls4ml's default precisions), and the
#: forms it refuses (so they fall back to the compiled firmware): recurrent, graph and attention layers.
COVERED = [("mlp", False), ("mlp", True), ("cnn1d", False), ("cnn1d", True), ("cnn2d", False), ("cnn2d", True),
           ("resnet", False), ("resnet", True), ("deepsets", False), ("deepsets", True), ("autoencoder_dense", True),
           ("autoencoder_conv", True), ("vae", True), ("gan", False), ("gan", True)]
REFUSED = ["lstm", "gru", "interaction_network", "transformer", "garnet", "gnn"]


@pytest.mark.csim
@pytest.mark.parametrize("name,quantized", COVERED, ids=[f"{n}-{'qkeras' if q else 'float'}" for n, q in COVERED])
def test_zoo_families_bit_exact(name, quantized, tmp_path):
    from hepfpga.convert import write_project

    tf.keras.utils.set_random_seed(3)
    model = _zoo_model(name, quantized)
    write_project(model, tmp_path / "prj")
    _assert_identical(tmp_path / "prj", tuple(model.input_shape[1:]), seed=len(name))


@pytest.mark.csim
@pytest.mark.parametrize("name,variant", [("cnn2d", "io_stream"), ("mlp", "Resource")])
def test_stream_and_resource_firmware_bit_exact(name, variant, tmp_path):
    """io_stream convolutions (line buffers) and the Resource strategy (reuse factor 4, transposed weights)."""
    from hepfpga.convert import write_project
    from hepfpga.convert.config import base_config

    tf.keras.utils.set_random_seed(5)
    model = _zoo_model(name, True)
    if variant == "io_stream":
        write_project(model, tmp_path / "prj", io_type="io_stream")
    else:
        write_project(model, tmp_path / "prj", config=base_config(model, strategy="Resource", reuse_factor=4))
    _assert_identical(tmp_path / "prj", tuple(model.input_shape[1:]), seed=7)


@pytest.mark.parametrize("name", REFUSED)
def test_uncovered_families_refused(name, tmp_path):
    from hepfpga.convert import write_project

    write_project(_zoo_model(name, False), tmp_path / "prj")
    with pytest.raises(NotCovered, match="does not cover"):
        Emulator(tmp_path / "prj")


@pytest.fixture(scope="module", params=["stable", "latency"])
def narrow_project(request, tmp_path_factory):
    """A jet MLP with narrow types: a wrapping first layer, saturating later ones (every rounding mode), a
    softmax (`stable` or `latency`) with 64-entry tables."""
    from hepfpga.convert import write_project
    from hepfpga.convert.config import base_config

    tf.keras.utils.set_random_seed(4)
    L = tf.keras.layers
    model = tf.keras.Sequential([L.Input(16), L.Dense(32, name="d1"), L.Activation("relu", name="r1"),
                                 L.Dense(16, name="d2"), L.Activation("relu", name="r2"), L.Dense(5, name="logits"),
                                 L.Activation("softmax", name="softmax")], name="narrow")
    config = base_config(model, "Vitis", softmax_table_size=64)
    layers = config["LayerName"]
    layers["d1"]["Precision"] = {"weight": "fixed<8,2,RND,SAT>", "bias": "fixed<8,2,RND,SAT>",
                                 "result": "fixed<8,3,TRN,WRAP>", "accum": "fixed<12,4,TRN,WRAP>"}
    layers["r1"]["Precision"] = {"result": "ufixed<6,2,RND_CONV,SAT>"}
    layers["d2"]["Precision"] = {"weight": "fixed<6,1>", "bias": "fixed<6,1>", "result": "fixed<10,4,RND,SAT>",
                                 "accum": "fixed<14,5,RND_ZERO,SAT>"}
    layers["r2"]["Precision"] = {"result": "ufixed<6,3,RND_INF,SAT_SYM>"}
    layers["logits"]["Precision"] = {"result": "fixed<8,3,RND_MIN_INF,SAT>"}
    layers["softmax"].update(Implementation=request.param, exp_table_t="ufixed<10,1,RND,SAT>",
                             inv_table_t="ufixed<10,1,RND,SAT>", accum_t="ufixed<12,4,RND,SAT>",
                             inv_inp_t="ufixed<12,4,RND,SAT>", inp_norm_t="ufixed<8,2,RND,SAT>")
    config["Model"]["Precision"] = "fixed<12,4,RND,SAT>"
    folder = tmp_path_factory.mktemp("narrow") / "prj"
    write_project(model, folder, config=config)
    return folder


@pytest.mark.csim
def test_narrow_types_saturate_wrap_and_reach_table_edges(narrow_project):
    """The stress inputs drive every cast to its limits here, and the emulator still equals the firmware."""
    emulator, x, _ = _assert_identical(narrow_project, (16,))
    values = emulator._values([x.reshape(len(x), -1)])
    by_layer = {layer.name: values[layer.output] for layer, _ in emulator.steps}
    d1 = emulator.firmware.layers[0]
    accum = d1.types["accum_t"]
    assert accum.overflow == "WRAP"
    # Wrap-around: the accumulator's sums (each product floored to its step, as TRN does) leave its range.
    w_type, b_type = d1.types["weight_t"], d1.types["bias_t"]
    w = w_type.to_raw(d1.weights[next(k for k in d1.weights if k.startswith("w"))]).reshape(16, -1)
    b = b_type.to_raw(d1.weights[next(k for k in d1.weights if k.startswith("b"))])
    xin = values[emulator.inputs[0][0]]
    shift = xin.type.fraction + w_type.fraction - accum.fraction
    products = xin.raw.T.astype(np.int64)[:, :, None] * w[None] >> shift
    sums = products.sum(axis=1) + (b << (accum.fraction - b_type.fraction))
    low, high = accum.raw_bounds()
    assert ((sums < low) | (sums > high)).any(), "no accumulator wrapped"
    # Saturation: every saturating layer sits at its bounds for some values.
    for name in ("r1", "d2", "r2", "logits"):
        v = by_layer[name]
        assert v.type.saturate and np.isin(v.raw, v.type.raw_bounds()).any(), f"{name} never saturates"
    # Table edges: the exp table is indexed at its first and its last entry.
    softmax = next(layer for layer, _ in emulator.steps if layer.function == "softmax")
    logits = by_layer["logits"]
    if softmax.get("implementation") == "stable":  # x_max - x, saturating in inp_norm_t
        norm = softmax.types["inp_norm_t"]
        d = norm.cast_raw(logits.raw.max(axis=0) - logits.raw, logits.type.fraction)
    else:  # the logit's own bit pattern
        norm, d = logits.type, logits.raw & ((1 << logits.type.width) - 1)
    index = d >> (norm.width - 6)
    assert index.min() == 0 and index.max() == 63
