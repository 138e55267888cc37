"""Precision rules: the firmware types of each layer kind, chosen from calibration data.

One registered rule per Keras layer kind (`@rule("LSTM", "GRU", ...)`), as hls4ml registers its layer
handlers; hepfpga's custom layers bring theirs from `hepfpga.extensions.precision_rules()`. A new layer
kind is a new rule, not an edit of `choose_precisions`.

Float models: every hls4ml layer gets a result type from the values it produces on calibration data
(integer bits from max |x| plus `headroom_bits`, fractional bits so that the step is at most
`target_error` x RMS), then its kind's rule, or `generic`: accumulators widened by log2(#terms) integer
and fractional bits, lookup tables `TABLE_BITS` wide with `table_size` entries (hls4ml's LUT spans inputs
-8..8, so 4096 entries give a 1/256 input step), weights, biases and folded batch-norm scale/bias by the
same rule on their values, softmax by `softmax_config`.
QKeras models keep their quantizers' types; only rules registered with `quantized=True` run there: the
types quantizers do not fix (LSTM/GRU accumulators and tables, GarNet internals, custom layers, inputs
without an input quantizer, averaging after a custom layer).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hepfpga.convert.layers import activation_name, input_name, is_quantized, terms, weights
from hepfpga.convert.softmax import IGNORED_KEYS, SOFTMAX_RESULT, set_softmax
from hepfpga.csim.compare import keras_layer_outputs
from hepfpga.data import per_input
from hepfpga.fixed import MAX_WIDTH, Fixed, fixed_type, integer_type, value_stats
from hepfpga.options import HEADROOM_BITS, TABLE_BITS, TABLE_SIZE, TARGET_ERROR


@dataclass
class Calibration:
    """What a rule may look at: calibration inputs, every layer's Keras output on them (hls4ml names),
    and the precision targets."""

    model: object
    inputs: dict[str, np.ndarray]
    target_error: float = TARGET_ERROR
    headroom_bits: int = HEADROOM_BITS
    table_size: int = TABLE_SIZE
    quantized: bool = False
    outputs: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def first(self) -> np.ndarray:
        return next(iter(self.inputs.values()))

    def input_of(self, layer) -> np.ndarray:
        """The values entering `layer` (its first input)."""
        return np.asarray(self.outputs.get(input_name(layer), self.first))


#: A rule: (Keras layer, its hls4ml config entry, its output values, Calibration) -> None (edits the entry).
Rule = Callable[..., None]
_RULES: dict[str, tuple[Rule, Callable[[Calibration], bool]]] = {}


def rule(*kinds: str, quantized: bool | Callable[[Calibration], bool] = False):
    """Register the decorated function as the precision rule of Keras layer classes `kinds`; with
    `quantized` (True, or a predicate of the Calibration) it also runs for QKeras models."""
    applies = quantized if callable(quantized) else (lambda cal, q=quantized: q)

    def wrap(fn):
        for kind in kinds:
            _RULES[kind] = (fn, applies)
        return fn

    return wrap


def rules() -> dict[str, tuple[Rule, Callable[[Calibration], bool]]]:
    """Every registered rule: hepfpga's and the custom layers' (`hepfpga.extensions`)."""
    from hepfpga.extensions import precision_rules

    return {**_RULES, **{kind: (fn, lambda cal: True) for kind, fn in precision_rules().items()}}


def choose_precisions(model, config: dict, x, target_error: float = TARGET_ERROR, headroom_bits: int = HEADROOM_BITS,
                      table_size: int = TABLE_SIZE) -> dict:
    """Fill the `Precision` entries of `config['LayerName']` (an hls4ml name-granularity config) from
    calibration inputs `x` (an array (N, *input_shape), or a list with one array per input).

    Returns {hls4ml layer: {"max": observed max |x|, "rms", "result": type, "integer": I, "fraction": F}}.
    """
    xs = per_input(x)
    cal = Calibration(model, dict(zip(model.input_names, xs)), target_error, headroom_bits, table_size,
                      is_quantized(model))
    if cal.quantized:
        return _quantized_model(model, config, cal)
    cal.outputs = keras_layer_outputs(model, x)
    return _float_model(model, config, cal)


def _result(entry: dict, values, cal: Calibration) -> dict:
    """Set the result type of `entry` from `values`; return its profile row."""
    max_abs, rms = value_stats(values)
    result, i, f = fixed_type(max_abs, rms, cal.target_error, cal.headroom_bits)
    entry.setdefault("Precision", {})["result"] = result
    return dict(max=max_abs, rms=rms, result=result, integer=i, fraction=f)


def _float_model(model, config: dict, cal: Calibration) -> dict:
    keras_layers = {layer.name: layer for layer in model.layers}
    table = rules()
    profile = {}
    previous = cal.first
    for name, entry in config["LayerName"].items():
        layer = keras_layers.get(name)
        # hls4ml splits "dense" + activation into "dense", "dense_relu"; inserted layers have no Keras twin.
        base = name if layer is not None else max((k for k in keras_layers if name.startswith(k + "_")), key=len,
                                                   default=name)
        if name in cal.inputs:
            profile[name] = _input(model, name, entry, cal)
            previous = cal.inputs[name]
            continue
        kind = type(layer).__name__
        values = np.asarray(cal.outputs.get(name, previous))
        previous = values
        activation = activation_name(keras_layers.get(base), name, base)
        if activation == "softmax":
            set_softmax(entry, int(np.prod(values.shape[1:])), cal.table_size, drop=(*IGNORED_KEYS, "table"))
            max_abs, rms = value_stats(values)
            profile[name] = dict(max=max_abs, rms=rms, result=SOFTMAX_RESULT, integer=1, fraction=TABLE_BITS - 1)
            continue
        profile[name] = _result(entry, values, cal)
        specific = table.get(kind)
        if specific is not None and layer is not None:
            specific[0](layer, entry, values, cal)
        else:
            generic(layer, entry, values, cal, activation)
    return profile


def _quantized_model(model, config: dict, cal: Calibration) -> dict:
    from hepfpga.compress.quantize import has_input_quantizer

    profile = {}
    if not has_input_quantizer(model):  # hls4ml would default the inputs to fixed<16,6>: take them from the data
        for name in cal.inputs:
            profile[name] = _input(model, name, config["LayerName"][name], cal)
    table = rules()
    chosen = []
    for layer in model.layers:
        specific = table.get(type(layer).__name__)
        if specific is not None and layer.name in config["LayerName"] and specific[1](cal):
            chosen.append((layer, specific[0]))
    if chosen:
        cal.outputs = keras_layer_outputs(model, [*cal.inputs.values()] if len(cal.inputs) > 1 else cal.first)
    for layer, fn in chosen:
        entry = config["LayerName"][layer.name]
        values = cal.outputs[layer.name]
        profile[layer.name] = _result(entry, values, cal)
        fn(layer, entry, values, cal)
    return profile


def _input(model, name: str, entry: dict, cal: Calibration) -> dict:
    """Input `name`'s type from its calibration values (integer inputs, such as counts, get an integer
    type); returns its profile row."""
    values = cal.inputs[name]
    row = _result(entry, values, cal)
    tensor = model.inputs[list(cal.inputs).index(name)]
    if np.issubdtype(np.dtype(tensor.dtype.name), np.integer):
        entry["Precision"]["result"] = row["result"] = integer_type(values)
    return row


def accumulator_type(layer, values, cal: Calibration) -> str:
    """A sum over the layer's terms: the result's type widened by log2(#terms) integer and fractional bits."""
    extra = math.ceil(math.log2(max(1, terms(layer))))
    return fixed_type(*value_stats(values), cal.target_error, cal.headroom_bits, extra, extra, MAX_WIDTH + 16,
                      modes="")[0]


def generic(layer, entry: dict, values, cal: Calibration, activation: str | None = None) -> None:
    """Accumulator, lookup table and weights of a Dense/Conv/BatchNorm/activation/pooling layer."""
    prec = entry["Precision"]
    if "accum" in prec and layer is not None:
        prec["accum"] = accumulator_type(layer, values, cal)
    if "table" in prec:
        prec["table"] = fixed_type(*value_stats(values), 2.0 ** -(TABLE_BITS - 2), 0, max_width=TABLE_BITS)[0]
        if activation not in ("relu", "linear", None):
            entry["TableSize"] = cal.table_size
    if layer is not None:
        for key, w in weights(layer).items():
            if key in prec:
                prec[key] = fixed_type(*value_stats(w), cal.target_error, 0)[0]


#: Averaging layers (their accumulator sums all terms before dividing).
AVERAGING = ("GlobalAveragePooling1D", "GlobalAveragePooling2D", "AveragePooling1D", "AveragePooling2D")


def _after_custom_layer(cal: Calibration) -> bool:
    """hls4ml's bit-exact type propagation stops at hepfpga's custom layers: the averaging layers after them
    would keep hls4ml's fixed<16,6> accumulator, which a sum over tokens overflows."""
    from hepfpga.extensions import precision_rules

    custom = set(precision_rules())
    return any(type(layer).__name__ in custom for layer in cal.model.layers)


@rule(*AVERAGING, quantized=_after_custom_layer)
def averaging(layer, entry: dict, values, cal: Calibration) -> None:
    """After a bit-exact custom layer: sum and mean exact (for power-of-two pool sizes); else an accumulator
    wide enough for the sum."""
    prec = entry["Precision"]
    source = getattr(layer.inbound_nodes[0].inbound_layers, "fixed_types", None)
    if source:
        extra = math.ceil(math.log2(max(1, terms(layer))))
        t = source["result"]
        prec["accum"] = f"fixed<{t.width + 2 * extra},{t.integer + extra}>"
        prec["result"] = f"fixed<{t.width + extra},{t.integer}>"
    elif cal.quantized or "accum" in prec:
        prec["accum"] = accumulator_type(layer, values, cal)


#: Fractional bits of GarNet's internal sums and edge weights (hls4ml's default: 10).
GARNET_FRACTION = 14
#: GarNet's aggregator distance type (hls4ml's: fixed<12,4>; `hepfpga.extensions.garnet` makes it settable).
#: On the zoo's GarNet tagger (1000 events) the largest logit error fell from 0.43 (fixed<12,4>) to 0.14; a
#: fixed<16,4> gave 0.10 with a 4x larger edge-weight table (2^16 entries).
GARNET_DISTANCE = "fixed<14,4>"


def garnet_types(n_vertices: int, reuse_factor: int = 1) -> dict[str, str]:
    """GarNet's internal types (edge weights in [0, 1], their sums, weighted feature sums, 1/sum) with
    hls4ml's integer bits for `n_vertices` (garnet_templates.py) and `GARNET_FRACTION` fractional bits."""
    log2_reuse, vertex_bits = int(np.log2(reuse_factor)), int(np.log2(n_vertices))
    aggr_int = max(log2_reuse, vertex_bits - log2_reuse) + 3
    f = GARNET_FRACTION
    return {"distance": GARNET_DISTANCE, "edge_weight": f"ufixed<{f},0,RND,SAT>",
            "edge_weight_aggr": f"ufixed<{aggr_int - 3 + f},{aggr_int - 3},RND,SAT>",
            "aggr": f"fixed<{aggr_int + f},{aggr_int},RND,SAT>", "norm": f"ufixed<{4 + f},4,RND,SAT>"}


@rule("GarNet", "GarNetStack", quantized=True)
def garnet(layer, entry: dict, values, cal: Calibration) -> None:
    """GarNet's internal sums (hls4ml's float GarNet layer, also in QKeras models)."""
    if not cal.quantized:
        generic(layer, entry, values, cal)
    entry["Precision"].update(garnet_types(layer.input_shape[0][1]))


@rule("LSTM", "GRU", "QLSTM", "QGRU", quantized=True)
def recurrent(layer, entry: dict, values, cal: Calibration) -> None:
    """Accumulator, table (and in float models, weight) types of an LSTM/GRU: hls4ml keeps the gate
    pre-activations and, for an LSTM, the cell state in `accum_t`.

    Layer outputs do not show the gate pre-activations, so their integer bits come from a bound:
    per gate unit j, sum_i |W_ij| max|x| + sum_k |U_kj| (|h| <= 1) + |b_j|; an LSTM cell state grows by at
    most 1 per step. Fractional bits: the result's plus log2(#terms), as for a Dense accumulator.
    """
    prec = entry["Precision"]
    fraction = Fixed.parse(prec["result"]).fraction
    x_max = value_stats(cal.input_of(layer))[0]
    prec.pop("table", None)  # hls4ml reads the RNN table type only as a `table_t` layer key
    entry["table_t"] = f"fixed<{TABLE_BITS},2>"  # sigmoid/tanh values in [-1, 1]
    entry["TableSize"] = cal.table_size
    cell = layer.cell
    kernel, recurrent_kernel = cell.kernel.numpy(), cell.recurrent_kernel.numpy()
    bias = cell.bias.numpy() if cell.use_bias else np.zeros((kernel.shape[1],), np.float32)
    bias = np.abs(bias).sum(0) if bias.ndim == 2 else np.abs(bias)  # GRU reset_after: input + recurrent bias
    bound = float((np.abs(kernel).sum(0) * x_max + np.abs(recurrent_kernel).sum(0) + bias).max())
    if type(layer).__name__.endswith("LSTM"):
        bound = max(bound, float(layer.input_shape[1]))
    extra = math.ceil(math.log2(kernel.shape[0] + recurrent_kernel.shape[0] + 1))
    integer = max(1, math.ceil(math.log2(bound + 1e-12)) + 1) + 1
    prec["accum"] = f"fixed<{integer + fraction + extra},{integer}>"
    if not cal.quantized:  # QKeras fixes recurrent weights with its quantizers
        arrays = {"weight": kernel, "recurrent_weight": recurrent_kernel, "bias": bias, "recurrent_bias": bias}
        for key, w in arrays.items():
            if key in prec:
                prec[key] = fixed_type(*value_stats(w), cal.target_error, 0)[0]


def align_lstm_types(model, config: dict) -> None:
    """Give each LSTM's input, result and accumulator one common type (the widest of the three).

    hls4ml 1.3.0's io_parallel `nnet::lstm` (nnet_recurrent.h) passes its accumulator array where the
    result type is expected and its state where the input type is expected, so it compiles only when
    the three types are the same.
    """
    layers = config.get("LayerName", {})
    for layer in model.layers:
        if type(layer).__name__ not in ("LSTM", "QLSTM") or layer.name not in layers:
            continue
        source = input_name(layer)
        if source not in layers:
            continue
        source_prec = layers[source].setdefault("Precision", {})
        rnn_prec = layers[layer.name].setdefault("Precision", {})
        keys = [(source_prec, "result"), (rnn_prec, "result"), (rnn_prec, "accum")]
        parsed = [Fixed.parse(p[k]) for p, k in keys if isinstance(p.get(k), str) and "fixed<" in p[k]]
        if not parsed:
            continue
        integer = max(t.integer for t in parsed)
        fraction = max(t.fraction for t in parsed)
        common = f"fixed<{integer + fraction},{integer},RND,SAT>"
        for p, k in keys:
            p[k] = common
