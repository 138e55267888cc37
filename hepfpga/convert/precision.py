"""Fixed-point choices hls4ml cannot make on its own.

Softmax (hls4ml's 'stable' implementation, `nnet_activation.h`): the firmware computes
d_i = x_max - x_i in type `inp_norm_t`, looks exp(-d_i) up in a table indexed by the *top*
log2(table_size) bits of d_i, sums into `accum_t`, and looks the inverse of the sum up in a second table
indexed by the top bits of `inv_inp_t`. Hence:

* the exp table's bin width, 2**(I - log2(table_size)) for `inp_norm_t = ufixed<W, I>`, decides how
  close two logits can be before the firmware gives them the same probability (an argmax flip);
* hls4ml derives `inp_norm_t` from the input type as `ap_ufixed<W-1, I-1>` with the default WRAP
  overflow, so a logit difference above 2**(I-1) wraps around to a small one and its class gets a
  large probability: we saturate instead;
* hls4ml's defaults for the table types, `fixed<18,8>`, keep only 10 fractional bits of values in
  [0, 1].

hls4ml 1.3.0 ignores `exp_table`/`inv_table`/`inv_inp` under a layer's `Precision` key, but takes any
`<name>_t` key of a layer's configuration as that type attribute: `softmax_config` uses those.
"""

from __future__ import annotations

import math

import numpy as np

#: log2 of the range of x_max - x_i the exp table covers; beyond it exp(-8) = 3.4e-4 is used.
SOFTMAX_RANGE_BITS = 3
#: Default table size: bin width 8 / 4096 ≈ 0.002 in logit difference.
SOFTMAX_TABLE_SIZE = 4096
#: Softmax output type: probabilities in [0, 1], 17 fractional bits.
SOFTMAX_RESULT = "ufixed<18,1,RND,SAT>"


def softmax_config(n_classes: int, table_size: int = SOFTMAX_TABLE_SIZE, table_bits: int = 18,
                   range_bits: int = SOFTMAX_RANGE_BITS) -> dict:
    """hls4ml layer-configuration entries for a stable softmax over `n_classes` outputs.

    Exp-table and inverse-table values lie in [0, 1]: one integer bit, `table_bits - 1` fractional bits.
    The sum of exponentials lies in [1, n_classes]: ceil(log2(n_classes)) + 1 integer bits.
    `inp_norm_t` covers logit differences in [0, 2**range_bits) and saturates above.
    """
    sum_int = max(1, math.ceil(math.log2(max(n_classes, 2)))) + 1
    unit = f"ufixed<{table_bits},1,RND,SAT>"
    total = f"ufixed<{table_bits + sum_int - 1},{sum_int},RND,SAT>"
    norm_bits = max(16, int(math.log2(table_size)) + 2)
    return {
        "Implementation": "stable",
        "TableSize": table_size,
        "exp_table_t": unit,
        "inv_table_t": unit,
        "accum_t": total,
        "inv_inp_t": total,
        "inp_norm_t": f"ufixed<{norm_bits},{range_bits},RND,SAT>",
    }


# ---------------------------------------------------------------------------------------------------
# Calibration-driven precisions for float models
# ---------------------------------------------------------------------------------------------------

#: Default target: quantization step of every value at most this fraction of its RMS over calibration data.
TARGET_ERROR = 2.0**-8
#: Default extra integer bits above the largest magnitude seen in calibration.
HEADROOM_BITS = 1
TABLE_BITS = 18
MAX_WIDTH = 40  # results and weights; accumulators may reach MAX_WIDTH + 16


def integer_bits(max_abs: float, headroom_bits: int = HEADROOM_BITS) -> int:
    """Integer bits, sign included, of a signed fixed-point type holding |x| <= max_abs with headroom.

    ap_fixed<W, I> holds [-2**(I-1), 2**(I-1)); e.g. max_abs 33.7 -> 2**6 > 33.7 -> I = 7 (+ headroom).
    """
    if not np.isfinite(max_abs):
        raise ValueError(f"non-finite range {max_abs}")
    magnitude = 0 if max_abs <= 0 else max(0, math.floor(math.log2(max_abs)) + 1)
    return magnitude + 1 + headroom_bits


def fractional_bits(scale: float, target_error: float = TARGET_ERROR) -> int:
    """Fractional bits F so that the step 2**-F is at most `target_error * scale` (scale: e.g. the RMS)."""
    if scale <= 0 or not np.isfinite(scale):
        scale = 1.0
    return max(0, math.ceil(-math.log2(target_error * scale)))


def fixed_type(max_abs: float, scale: float, target_error: float = TARGET_ERROR, headroom_bits: int = HEADROOM_BITS,
               extra_integer: int = 0, extra_fraction: int = 0, max_width: int = MAX_WIDTH,
               modes: str = ",RND,SAT") -> tuple[str, int, int]:
    """A `fixed<W,I,...>` string for values of range `max_abs` and typical size `scale`; returns (type, I, F).

    If W would exceed `max_width`, fractional bits are given up first: range is never sacrificed.
    """
    i = integer_bits(max_abs, headroom_bits) + extra_integer
    f = fractional_bits(scale, target_error) + extra_fraction
    f = max(0, min(f, max_width - i))
    return f"fixed<{i + f},{i}{modes}>", i, f


#: Fractional bits of GarNet's internal sums and edge weights (hls4ml's default: 10).
GARNET_FRACTION = 14


def garnet_types(n_vertices: int, reuse_factor: int = 1) -> dict[str, str]:
    """GarNet's internal types (edge weights in [0, 1], their sums, weighted feature sums, 1/sum) with
    hls4ml's integer bits for `n_vertices` (garnet_templates.py) and `GARNET_FRACTION` fractional bits."""
    log2_reuse, vertex_bits = int(np.log2(reuse_factor)), int(np.log2(n_vertices))
    aggr_int = max(log2_reuse, vertex_bits - log2_reuse) + 3
    f = GARNET_FRACTION
    return {"edge_weight": f"ufixed<{f},0,RND,SAT>",
            "edge_weight_aggr": f"ufixed<{aggr_int - 3 + f},{aggr_int - 3},RND,SAT>",
            "aggr": f"fixed<{aggr_int + f},{aggr_int},RND,SAT>", "norm": f"ufixed<{4 + f},4,RND,SAT>"}


def integer_type(x: np.ndarray) -> str:
    """The narrowest hls4ml integer type (ap_uint<k> or ap_int<k>) holding every value of `x`."""
    lo, hi = int(np.min(x)), int(np.max(x))
    if lo >= 0:
        return f"ap_uint<{max(1, hi.bit_length())}>"
    return f"ap_int<{max(hi.bit_length(), (-lo - 1).bit_length()) + 1}>"


def value_stats(x: np.ndarray) -> tuple[float, float]:
    """(max |x|, RMS of the non-zero values) of an array."""
    a = np.abs(np.asarray(x, dtype=np.float64)).ravel()
    nz = a[a > 0]
    return (float(a.max()) if a.size else 0.0), (float(np.sqrt(np.mean(nz**2))) if nz.size else 0.0)


def _terms(layer) -> int:
    """Number of products (or values) one output of `layer` sums over."""
    kind = type(layer).__name__
    in_shape = layer.input_shape if not isinstance(layer.input_shape, list) else layer.input_shape[0]
    if kind in ("Dense", "QDense"):
        return int(in_shape[-1])
    if "Conv" in kind:
        return int(np.prod(layer.kernel_size)) * int(in_shape[-1])
    if "GlobalAveragePooling" in kind or "GlobalMaxPooling" in kind:
        return int(np.prod(in_shape[1:-1]))
    if "Pooling" in kind:
        return int(np.prod(layer.pool_size))
    return 1


def _batchnorm_scale_bias(layer) -> tuple[np.ndarray, np.ndarray]:
    """The scale and bias hls4ml folds a Keras BatchNormalization into: y = x * scale + bias."""
    gamma = layer.gamma.numpy() if layer.scale else 1.0
    beta = layer.beta.numpy() if layer.center else 0.0
    scale = gamma / np.sqrt(layer.moving_variance.numpy() + layer.epsilon)
    return np.broadcast_to(scale, layer.moving_mean.shape), beta - layer.moving_mean.numpy() * scale


#: Keras recurrent layers hls4ml converts (io_parallel).
RECURRENT = ("LSTM", "GRU", "QLSTM", "QGRU")
#: hls4ml's graph layers (hls4ml.contrib.garnet).
GARNET = ("GarNet", "GarNetStack")
#: hepfpga's custom layers with their own type rules (hepfpga.extensions).
CUSTOM = ("SelfAttention", "MessagePassing")
#: Layer normalisation (converted with hepfpga's wide-range kernel, hepfpga.extensions.layernorm).
LAYERNORM = ("LayerNormalization", "QLayerNormalization")
#: Averaging layers (their accumulator sums all terms before dividing).
AVERAGING = ("GlobalAveragePooling1D", "GlobalAveragePooling2D", "AveragePooling1D", "AveragePooling2D")


def infer_precisions(model, config: dict, x: np.ndarray, target_error: float = TARGET_ERROR,
                     headroom_bits: int = HEADROOM_BITS, table_size: int = SOFTMAX_TABLE_SIZE) -> dict:
    """Fill every `Precision` of `config['LayerName']` (an hls4ml name-granularity config) from data.

    Layer outputs on calibration inputs `x` come from hls4ml's own Keras profiler (`get_ymodel_keras`,
    whose names match hls4ml's: a Dense with activation 'relu' is 'dense' then 'dense_relu'); layers
    hls4ml inserts (linear activations) take the range of the layer before. For each layer:
    result: integer bits from max |output| plus `headroom_bits`, fractional bits so that the step is at
    most `target_error` x RMS; accumulator: result type widened by log2(#terms) integer and fractional
    bits; weights, biases, batch-norm scale/bias: the same rule on their values; lookup tables
    (sigmoid, tanh, ...): `TABLE_BITS` wide over the output range, `table_size` entries (hls4ml's LUT
    spans inputs -8..8, so 4096 entries give a 1/256 input step); softmax: `softmax_config`.
    Returns {layer: {"max": observed max |x|, "rms": ..., "result": type, "integer": I, "fraction": F}}.
    """
    from hepfpga.csim.compare import keras_layer_outputs

    outputs = keras_layer_outputs(model, x)
    keras_layers = {layer.name: layer for layer in model.layers}
    xs = [np.asarray(a) for a in x] if isinstance(x, (list, tuple)) else [np.asarray(x)]
    by_input = dict(zip(model.input_names, xs))
    profile = {}
    previous = xs[0]
    for name, entry in config["LayerName"].items():
        prec = entry.setdefault("Precision", {})
        base = name
        layer = keras_layers.get(name)
        if layer is None:  # split activations "dense_relu" / inserted "dense_linear"
            base = max((k for k in keras_layers if name.startswith(k + "_")), key=len, default=name)
        if layer is not None and type(layer).__name__ == "InputLayer":
            values = by_input.get(name, xs[0])
            if np.issubdtype(np.dtype(layer.dtype), np.integer):  # counts, indices: an integer type
                prec["result"] = integer_type(values)
                previous = values
                continue
        else:
            values = np.asarray(outputs.get(name, previous))
        previous = values
        max_abs, rms = value_stats(values)
        activation = _activation_name(keras_layers.get(base), name, base)
        if activation == "softmax":
            n = int(np.prod(values.shape[1:]))
            for ignored in ("exp_table", "inv_table", "inv_inp", "accum", "table"):
                prec.pop(ignored, None)
            entry.update(softmax_config(n, table_size))
            prec["result"] = SOFTMAX_RESULT
            profile[name] = dict(max=max_abs, rms=rms, result=prec["result"], integer=1, fraction=TABLE_BITS - 1)
            continue
        result, i, f = fixed_type(max_abs, rms, target_error, headroom_bits)
        prec["result"] = result
        profile[name] = dict(max=max_abs, rms=rms, result=result, integer=i, fraction=f)
        if type(keras_layers.get(name)).__name__ in RECURRENT:
            _recurrent_precisions(keras_layers[name], entry, outputs, xs[0], f, target_error, table_size)
            continue
        if type(keras_layers.get(name)).__name__ in LAYERNORM:
            layer_input = np.asarray(outputs.get(_input_name(keras_layers[name]), xs[0]))
            layernorm_precisions(keras_layers[name], entry, layer_input, values, target_error, headroom_bits,
                                 table_size)
            continue
        if type(keras_layers.get(name)).__name__ in CUSTOM:
            _custom_layer_precisions(keras_layers[name], entry, outputs, xs[0], target_error, headroom_bits, table_size)
            continue
        if "accum" in prec and name in keras_layers:
            extra = math.ceil(math.log2(max(1, _terms(keras_layers[name]))))
            prec["accum"] = fixed_type(max_abs, rms, target_error, headroom_bits, extra, extra,
                                       MAX_WIDTH + 16, modes="")[0]
        if "table" in prec:
            prec["table"] = fixed_type(max_abs, rms, 2.0 ** -(TABLE_BITS - 2), 0, max_width=TABLE_BITS)[0]
            if activation not in ("relu", "linear", None):
                entry["TableSize"] = table_size
        layer = keras_layers.get(name)
        if type(layer).__name__ in GARNET:
            prec.update(garnet_types(layer.input_shape[0][1]))
        if layer is not None:
            for key, w in _weights(layer).items():
                if key in prec:
                    prec[key] = fixed_type(*value_stats(w), target_error, 0)[0]
    return profile


def layernorm_precisions(layer, entry: dict, x: np.ndarray, y: np.ndarray, target_error: float = TARGET_ERROR,
                         headroom_bits: int = HEADROOM_BITS, table_size: int = SOFTMAX_TABLE_SIZE) -> dict:
    """Types of a LayerNormalization from its inputs `x` and outputs `y` (tokens, features): result from
    `y`; sums and deviations (`accum`), variance + epsilon (`var`), 1/sqrt table in (1/2, 1] (`table`,
    about `table_size` entries) and 1/sqrt(var + epsilon) (`inv`) from the observed statistics; gamma, beta.
    A QLayerNormalization gets its own (bit-exact) types."""
    prec = entry.setdefault("Precision", {})
    if getattr(layer, "fixed_types", None):  # QLayerNormalization: its own types
        prec.update(layer.exact_internal_types(int(np.shape(x)[-1])))
        for key in ("scale", "bias"):  # gamma and beta arrive rounded to these (the parser rounds them)
            prec[key] = f"fixed<{layer.fixed_types[key].width},{layer.fixed_types[key].integer}>"
        return prec
    x = np.asarray(x, np.float64)
    result, _, f = fixed_type(*value_stats(y), target_error, headroom_bits)
    prec["result"] = result
    n = x.shape[-1]
    var = x.var(axis=-1) + float(layer.epsilon)
    integer = math.ceil(math.log2(max(n * float(np.abs(x).max()), 1.0))) + 2
    fraction = f + math.ceil(math.log2(n)) + 4
    prec["accum"] = f"fixed<{integer + fraction},{integer}>"
    # The kernel sums n squared deviations before dividing by n: room for n * var.
    var_integer = max(1, math.ceil(math.log2(n * float(var.max()) + 1)) + 1 + headroom_bits)
    prec["var"] = f"ufixed<{var_integer + TABLE_BITS},{var_integer},RND,SAT>"
    prec["table"] = f"ufixed<{TABLE_BITS},1>"
    # 1/sqrt(var + epsilon) reaches 1/sqrt(epsilon) on a constant token, whatever calibration showed.
    inv_integer = max(1, math.ceil(math.log2(1 / math.sqrt(float(layer.epsilon)))) + 1)
    prec["inv"] = f"ufixed<{inv_integer + TABLE_BITS + 2},{inv_integer},RND,SAT>"
    entry["TableBits"] = max(1, round(math.log2(table_size / 3)))  # 3 * 2^bits entries: 3072 for 4096
    for key, w in (("scale", layer.gamma.numpy()), ("bias", layer.beta.numpy())):
        prec[key] = fixed_type(*value_stats(w), target_error, 0)[0]
    return prec


def message_passing_precisions(layer, entry: dict, x: np.ndarray, target_error: float = TARGET_ERROR,
                               headroom_bits: int = HEADROOM_BITS) -> dict:
    """Types of a `MessagePassing` layer from its intermediate values on calibration inputs `x` (nodes,
    features): edge-layer halves, messages, aggregates, result; squared distances kept exact for the
    neighbour choice (twice the input's fractional bits); the accumulator holds the widest plus log2 of
    the longest sum; weights from their quantizer or values."""
    from hepfpga.extensions.message_passing import WEIGHTS

    prec = entry.setdefault("Precision", {})
    if getattr(layer, "fixed_types", None):  # bit-exact form: the layer's own types
        prec.update(_custom_weight_types(layer, WEIGHTS, target_error))
        prec.update(layer.exact_internal_types(int(x.shape[-2]), int(x.shape[-1])))
        return prec
    parts = {k: np.asarray(v) for k, v in layer.parts(np.asarray(x, np.float32)).items()}
    types = {key: fixed_type(*value_stats(parts[key if key != "result" else "output"]), target_error / 4, headroom_bits)
             for key in ("half", "msg", "agg", "result")}
    for key, (t, _, _) in types.items():
        prec[key] = t
    prec["result"] = fixed_type(*value_stats(parts["output"]), target_error, headroom_bits)[0]
    nodes, features = int(x.shape[-2]), int(x.shape[-1])
    extra = math.ceil(math.log2(max(nodes, features + layer.edge_units)))
    integer = max(i for _, i, _ in types.values()) + extra
    fraction = max(f for _, _, f in types.values()) + extra
    prec["accum"] = f"fixed<{integer + fraction},{integer}>"
    _, _, input_fraction = fixed_type(*value_stats(x), target_error, headroom_bits)
    dist_integer = max(1, math.ceil(math.log2(float(parts["dist"].max()) + 1)) + 1 + headroom_bits)
    prec["dist"] = f"ufixed<{dist_integer + 2 * input_fraction + 2},{dist_integer},RND,SAT>"
    prec.update(_custom_weight_types(layer, WEIGHTS, target_error))
    return prec


def attention_precisions(layer, entry: dict, x: np.ndarray, target_error: float = TARGET_ERROR,
                         headroom_bits: int = HEADROOM_BITS, table_size: int = SOFTMAX_TABLE_SIZE) -> dict:
    """Types of a `SelfAttention` layer from its intermediate values on its calibration inputs `x`
    (tokens, features): projections, scores, attention-weighted values, result, the accumulator (widest
    of these plus log2 of the longest sum), softmax table (`table_size` entries of exp(-d), d in [0, 8))
    and weights (their quantizer's type for a QKeras layer, else from their values)."""
    from hepfpga.extensions.attention import EXACT_RANGE_POWER2, EXACT_TABLE_SIZE, SCALE_TYPE, WEIGHTS

    prec = entry.setdefault("Precision", {})
    if getattr(layer, "fixed_types", None):  # bit-exact form: the layer's own types
        prec.update(_custom_weight_types(layer, WEIGHTS, target_error))
        prec.update(layer.exact_internal_types(int(x.shape[-1]), int(x.shape[-2])))
        entry["ExpTableSize"], entry["ExpRangePower2"] = EXACT_TABLE_SIZE, EXACT_RANGE_POWER2
        return prec
    parts = {k: np.asarray(v) for k, v in layer.parts(np.asarray(x, np.float32)).items()}
    types = {}
    # Internal values get 4 more fractional bits than the target: scores pass through exp() and a
    # normalisation, which amplify their errors (measured on the zoo's Transformer: 2.4 % -> see README).
    for key, part in (("proj", np.concatenate([parts[n].ravel() for n in "qkv"])), ("score", parts["scores"]),
                      ("att", parts["att"]), ("result", parts["output"])):
        error = target_error if key == "result" else target_error / 16
        types[key] = fixed_type(*value_stats(part), error, headroom_bits)
        prec[key] = types[key][0]
    terms = max(int(x.shape[-1]), layer.heads * layer.head_dim, int(x.shape[-2]))
    extra = math.ceil(math.log2(terms))
    integer = max(i for _, i, _ in types.values()) + extra
    fraction = max(f for _, _, f in types.values()) + extra
    prec["accum"] = f"fixed<{integer + fraction},{integer}>"
    tokens = int(x.shape[-2])
    prec["exp_table"] = f"ufixed<{TABLE_BITS},1>"  # exp(-d) in (0, 1]
    prec["sum"] = f"ufixed<{TABLE_BITS + math.ceil(math.log2(tokens + 1))},{math.ceil(math.log2(tokens + 1))}>"
    prec["inv"] = f"ufixed<{TABLE_BITS + 2},1>"  # 1/sum in [1/tokens, 1]
    prec["scale"] = SCALE_TYPE  # 1/sqrt(head_dim) in (0, 1]: one integer bit, or head_dim = 1 would wrap to 0
    entry["ExpTableSize"] = table_size
    entry["ExpRangePower2"] = 3
    prec.update(_custom_weight_types(layer, WEIGHTS, target_error))
    return prec


def _custom_weight_types(layer, names, target_error: float) -> dict[str, str]:
    """Types of a custom layer's weights `names`: its `quantized_bits` quantizer's type, else from their
    (quantized) values."""
    from hepfpga.extensions.hls import weight_type

    quantizer = getattr(layer, "_quantizer", None)
    if type(quantizer).__name__ == "quantized_bits":
        w = weight_type(quantizer)
        return {name: f"fixed<{w.width},{w.integer}>" for name in names}
    weights = layer.quantized_weights()
    return {name: fixed_type(*value_stats(np.asarray(weights[name])), target_error, 0)[0] for name in names}


def _custom_layer_precisions(layer, entry, outputs, x, target_error, headroom_bits, table_size) -> None:
    """hepfpga's SelfAttention / MessagePassing types, from the values entering the layer."""
    layer_input = np.asarray(outputs.get(_input_name(layer), x))
    if type(layer).__name__ == "MessagePassing":
        message_passing_precisions(layer, entry, layer_input, target_error, headroom_bits)
    else:
        attention_precisions(layer, entry, layer_input, target_error, headroom_bits, table_size)


def _input_name(layer) -> str:
    return layer.inbound_nodes[0].inbound_layers.name


def float_layer_precisions(model, config: dict, x: np.ndarray, target_error: float = TARGET_ERROR,
                           headroom_bits: int = HEADROOM_BITS, table_size: int = SOFTMAX_TABLE_SIZE) -> None:
    """Types, from calibration `x`, of the layers of a QKeras `model` that its quantizers do not fix:
    LSTM/GRU results, accumulators and tables (QKeras fixes only their weights), and float GarNet layers.

    hls4ml's defaults there (fixed<16,6>, 18-bit tables with 10 fractional bits, 1024 entries) overflow
    the gate pre-activations of a trained recurrent layer and lose precision in GarNet's sums.
    """
    from hepfpga.csim.compare import keras_layer_outputs

    kinds = (*RECURRENT, *GARNET, *CUSTOM, *LAYERNORM)
    if any(type(layer).__name__ in (*CUSTOM, *LAYERNORM) for layer in model.layers):
        # hls4ml's bit-exact type propagation stops at hepfpga's custom layers; the averaging layers
        # after them would keep hls4ml's fixed<16,6> accumulator, which a sum over tokens overflows.
        kinds += AVERAGING
    layers = [layer for layer in model.layers if type(layer).__name__ in kinds and layer.name in config["LayerName"]]
    if not layers:
        return
    outputs = keras_layer_outputs(model, x)
    first = x[0] if isinstance(x, (list, tuple)) else x
    for layer in layers:
        entry = config["LayerName"][layer.name]
        result, _, f = fixed_type(*value_stats(outputs[layer.name]), target_error, headroom_bits)
        prec = entry.setdefault("Precision", {})
        prec["result"] = result
        if type(layer).__name__ in AVERAGING:
            extra = math.ceil(math.log2(max(1, _terms(layer))))
            source = getattr(layer.inbound_nodes[0].inbound_layers, "fixed_types", None)
            if source:  # after a bit-exact layer: sum and mean exact (for power-of-two pool sizes)
                t = source["result"]
                prec["accum"] = f"fixed<{t.width + 2 * extra},{t.integer + extra}>"
                prec["result"] = f"fixed<{t.width + extra},{t.integer}>"
                continue
            prec["accum"] = fixed_type(*value_stats(outputs[layer.name]), target_error, headroom_bits, extra, extra,
                                       MAX_WIDTH + 16, modes="")[0]
        elif type(layer).__name__ in GARNET:
            prec.update(garnet_types(layer.input_shape[0][1]))
        elif type(layer).__name__ in CUSTOM:
            _custom_layer_precisions(layer, entry, outputs, first, target_error, headroom_bits, table_size)
        elif type(layer).__name__ in LAYERNORM:
            layer_input = np.asarray(outputs.get(_input_name(layer), first))
            layernorm_precisions(layer, entry, layer_input, outputs[layer.name], target_error, headroom_bits,
                                 table_size)
        else:
            _recurrent_precisions(layer, entry, outputs, first, f, target_error, table_size, weights=False)


def _recurrent_precisions(layer, entry: dict, outputs: dict, x: np.ndarray, fraction: int, target_error: float,
                          table_size: int, weights: bool = True) -> None:
    """Accumulator, table (and with `weights`, weight) types of an LSTM/GRU: hls4ml keeps the gate
    pre-activations and, for an LSTM, the cell state in `accum_t`.

    Layer outputs do not show the gate pre-activations, so their integer bits come from a bound:
    per gate unit j, sum_i |W_ij| max|x| + sum_k |U_kj| (|h| <= 1) + |b_j|; an LSTM cell state grows by at
    most 1 per step. Fractional bits: the result's plus log2(#terms), as for a Dense accumulator.
    """
    prec = entry.setdefault("Precision", {})
    x_max = value_stats(np.asarray(outputs.get(_input_name(layer), x)))[0]
    prec.pop("table", None)  # hls4ml reads the RNN table type only as a `table_t` layer key
    entry["table_t"] = f"fixed<{TABLE_BITS},2>"  # sigmoid/tanh values in [-1, 1]
    entry["TableSize"] = table_size
    cell = layer.cell
    kernel, recurrent = cell.kernel.numpy(), cell.recurrent_kernel.numpy()
    bias = cell.bias.numpy() if cell.use_bias else np.zeros((kernel.shape[1],), np.float32)
    bias = np.abs(bias).sum(0) if bias.ndim == 2 else np.abs(bias)  # GRU reset_after: input + recurrent bias
    bound = float((np.abs(kernel).sum(0) * x_max + np.abs(recurrent).sum(0) + bias).max())
    if type(layer).__name__.endswith("LSTM"):
        bound = max(bound, float(layer.input_shape[1]))
    extra = math.ceil(math.log2(kernel.shape[0] + recurrent.shape[0] + 1))
    integer = max(1, math.ceil(math.log2(bound + 1e-12)) + 1) + 1
    prec["accum"] = f"fixed<{integer + fraction + extra},{integer}>"
    if weights:
        arrays = {"weight": kernel, "recurrent_weight": recurrent, "bias": bias, "recurrent_bias": bias}
        for key, w in arrays.items():
            if key in prec:
                prec[key] = fixed_type(*value_stats(w), target_error, 0)[0]


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
        source = _input_name(layer)
        if source not in layers:
            continue
        source_prec = layers[source].setdefault("Precision", {})
        rnn_prec = layers[layer.name].setdefault("Precision", {})
        keys = [(source_prec, "result"), (rnn_prec, "result"), (rnn_prec, "accum")]
        parsed = [parse_fixed(p[k]) for p, k in keys if isinstance(p.get(k), str) and "fixed<" in p[k]]
        if not parsed:
            continue
        integer = max(i for _, i, _ in parsed)
        fraction = max(w - i for w, i, _ in parsed)
        common = f"fixed<{integer + fraction},{integer},RND,SAT>"
        for p, k in keys:
            p[k] = common


def _activation_name(layer, name: str, base: str) -> str | None:
    """Activation computed by hls4ml layer `name` (a split activation or an Activation layer)."""
    if layer is None:
        return None
    if name != base:
        return name[len(base) + 1:]
    if type(layer).__name__ == "Softmax":
        return "softmax"
    if type(layer).__name__ == "Activation":
        return getattr(layer.activation, "__name__", None)
    return None


def _weights(layer) -> dict[str, np.ndarray]:
    """Weight arrays of `layer` under hls4ml's precision keys."""
    kind = type(layer).__name__
    if kind == "BatchNormalization":
        scale, bias = _batchnorm_scale_bias(layer)
        return {"scale": scale, "bias": bias}
    out = {}
    if getattr(layer, "kernel", None) is not None:
        out["weight"] = layer.kernel.numpy()
    if getattr(layer, "bias", None) is not None:
        out["bias"] = layer.bias.numpy()
    return out


def parse_fixed(type_string: str) -> tuple[int, int, bool]:
    """(width, integer bits, signed) of an hls4ml type string such as 'fixed<16,6,RND,SAT>'."""
    import re

    match = re.fullmatch(r"\s*(u?)fixed<\s*(\d+)\s*,\s*(-?\d+)[^>]*>\s*", type_string)
    if not match:
        raise ValueError(f"not a fixed-point type: {type_string!r}")
    return int(match.group(2)), int(match.group(3)), match.group(1) == ""


def round_to_type(x: np.ndarray, type_string: str) -> np.ndarray:
    """Values of `x` as the firmware input type holds them (round half up, saturate); float32.

    Feeding Keras and the firmware these values makes them see the same inputs, exactly.
    """
    width, integer, signed = parse_fixed(type_string)
    f = width - integer
    lo = -(2.0 ** (integer - 1)) if signed else 0.0
    hi = (2.0 ** (integer - 1) if signed else 2.0**integer) - 2.0**-f
    return np.clip(np.floor(np.asarray(x, np.float64) * 2.0**f + 0.5) / 2.0**f, lo, hi).astype(np.float32)
