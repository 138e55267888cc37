"""Coefficients of the resource and latency model, per tool and device family.

Each coefficient has a value for every design and, where the calibration data show that tools or device
families differ, its own value per family: `DEVICE_AXIS` ones per device family ("7-series",
"UltraScale+"), `TOOL_AXIS` ones per HLS tool ("vivado_hls": Vivado HLS 2019.x-2020.1, "vitis_hls": Vitis HLS
2020.2 and later). `tools/fit_estimate.py` fits them to the C-synthesis reports of `../shared/fixtures/` and
writes `coefficients.json` beside this file, with the calibration residuals (the uncertainty bands) per layer
kind and metric; `DEFAULTS` are the starting values (and the fallback when the JSON is absent).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

FITTED = Path(__file__).with_name("coefficients.json")
DEVICE_FAMILIES = ("7-series", "UltraScale+")
TOOLS = ("vivado_hls", "vitis_hls")

#: name -> (starting value, what it is). Delays in ns, LUT/FF per bit unless said.
DEFAULTS = {
    # timing: the scheduler's delay of one adder level, a DSP and a LUT constant multiplication
    # (starting values per family: the HLS tools' operator delays are of this order on -1/-2 speed grades)
    "adder_ns": ({"": 2.2, "7-series": 2.2, "UltraScale+": 0.8}, "delay of one adder level of a sum (ns)"),
    "dsp_mult_ns": ({"": 4.0, "7-series": 4.0, "UltraScale+": 2.8}, "delay of a multiplication on a DSP (ns)"),
    "fabric_mult_levels": (1.5, "delay of a constant multiplication built from LUT adders, in adder levels"),
    # constant-weight products and sums (Latency strategy)
    "lut_sum_bit": (1.18, "LUTs per accumulator bit per adder of a sum"),
    "lut_shift_add_bit": (1.0, "LUTs per bit of a two-digit constant product (one adder)"),
    "lut_fabric_digit_bit": (1.6, "LUTs per bit per extra digit of a constant product built in fabric"),
    "ff_cut_bit": (0.55, "flip-flops per bit of the partial sums a pipeline register holds"),
    "ff_in_bit_stage": (0.13, "flip-flops per input bit per pipeline stage"),
    "ff_saving_at_ii": (0.36, "share of registers saved when a layer starts a new input every II > 1 cycles"),
    "dsp_min_data_bits": (10, "constant products of >= 3 digits go to DSPs for data at least this wide"),
    # Resource strategy (general multipliers shared over reuse_factor cycles)
    "res_extra_cycles": (4, "cycles of a Resource-strategy layer beyond its reuse factor"),
    "res_min_bits": (5, "general multipliers go to DSPs when both operands have at least this many bits"),
    "lut_res_acc_bit": (1.5, "LUTs per accumulator bit per general multiplier (accumulate, control)"),
    "lut_mux_bit": (0.45, "LUTs per data bit per extra input a general multiplier selects from"),
    "mux_exponent": (1.0, "inputs a general multiplier selects from: min(rf, n_in) x (n_in / min(rf, n_in))^this"),
    "conv_mux_exponent": (0.1, "the same for a convolution's kernel window"),
    "ff_res_bit": (3.0, "flip-flops per accumulator bit per general multiplier"),
    "lut_fabric_mult_bit2": (1.1, "LUTs per operand-bit product of a variable multiplication in fabric"),
    "lut_res_layer": (300, "LUTs of a Resource-strategy product's control (indices, result loop)"),
    "ff_res_layer": (200, "flip-flops of a Resource-strategy product's control"),
    "ff_res_buffer_bit": (3.0, "flip-flops per bit of a Resource-strategy stream layer's input array"),
    # io_stream
    "ff_buffer_bit": (1.0, "flip-flops per bit of a stream layer's input array"),
    "lut_buffer_bit": (0.3, "LUTs per bit of a stream layer's input array (write enables)"),
    "conv_pixel_cycles": (8, "cycles per input pixel of a Resource-strategy convolution beyond its reuse factor"),
    "lut_line_bit": (0.06, "LUTs per bit of a convolution's line buffers (shift registers)"),
    "ff_window_bit": (1.5, "flip-flops per bit of a convolution's or pooling's kernel window"),
    "lut_window_bit": (1.0, "LUTs per bit of a convolution's or pooling's kernel window (shift, select)"),
    "lut_stream_layer": (150, "LUTs of a stream layer's control (counters, handshakes)"),
    "ff_stream_layer": (100, "flip-flops of a stream layer's control"),
    "lut_wiring": (150, "LUTs of a stream layer that only moves values (padding, resizing, copies)"),
    "ff_wiring": (30, "flip-flops of a stream layer that only moves values"),
    # element-wise layers and tables
    "lut_cast_bit": (1.34, "LUTs per bit of an element-wise compare/cast"),
    "ff_cast_bit": (0.5, "flip-flops per bit of an element-wise layer in a stream"),
    "table_extra_ns": (3.3, "delay of a table read (ns)"),
    "softmax_fixed_ns": ({"": 14.5, "7-series": 14.5, "UltraScale+": 5.0},
                         "delay of the softmax's two table reads (ns)"),
    "softmax_dsp_ns": (8.5, "delay of the softmax's final products (ns)"),
    "softmax_lut_class_bit": (5.5, "softmax LUTs per class per input bit"),
    "softmax_ff_class_bit": (7.0, "softmax flip-flops per class per input bit"),
    "softmax_stream_cycles": (2.0, "cycles per class of a stream softmax"),
    "pool_lut_bit": (1.8, "LUTs per bit per compared value of a pooling"),
    "pool_cycles_per_pixel": (1.0, "cycles per input pixel of a stream pooling"),
    # the top function
    "top_ff_bit": (0.5, "flip-flops per bit of each io_parallel layer output registered between layers"),
    "top_cycles_per_layer": (1.0, "cycles the top pipeline adds per io_parallel layer call"),
    "fifo_lut": (12, "LUTs of one FIFO's control"),
    "fifo_ff": (5, "flip-flops of one FIFO's control"),
    "fifo_srl_depth": (32, "FIFOs deeper than this go to block RAM"),
    "rom_lut_bits": (4096, "ROMs holding at most this many bits stay in LUTs"),
    # recurrent layers
    "rnn_step_cycles": (6, "cycles of a recurrent step beyond its matrix products"),
    "rnn_lut_per_state_bit": (200.0, "LUTs per state unit per bit for the gates' activations and the state update"),
}

#: Coefficients with a value per device family (7-series vs UltraScale+ speed and fabric).
DEVICE_AXIS = ("adder_ns", "dsp_mult_ns", "softmax_fixed_ns", "softmax_dsp_ns", "table_extra_ns",
               "top_cycles_per_layer")
#: Coefficients with a value per HLS tool (Vivado HLS vs Vitis HLS binding and register choices).
TOOL_AXIS = ("ff_cut_bit", "top_ff_bit", "lut_sum_bit", "conv_pixel_cycles", "res_extra_cycles")


@lru_cache(maxsize=None)
def _fitted() -> dict:
    return json.loads(FITTED.read_text()) if FITTED.is_file() else {}


def table(fitted: dict | None = None) -> dict:
    """{name: {"": value, family or tool: value, ...}}: the fitted values over the defaults."""
    out = {name: dict(value) if isinstance(value, dict) else {"": value} for name, (value, _) in DEFAULTS.items()}
    for name, values in (fitted if fitted is not None else _fitted().get("values", {})).items():
        if name in out:
            out[name].update(values)
    return out


def resolve(device_family: str, tool: str, values: dict | None = None) -> dict:
    """The coefficient values for one device family and tool: {name: value}."""
    out = {}
    for name, by in (values or table()).items():
        axis_key = device_family if name in DEVICE_AXIS else tool if name in TOOL_AXIS else ""
        out[name] = by.get(axis_key, by[""])
    return out


def bands() -> dict:
    """{layer kind: {metric: relative uncertainty}} from the calibration residuals (empty when not fitted)."""
    return _fitted().get("bands", {})


def calibrated_kinds() -> dict:
    """{layer kind: number of calibration layers} the fit saw."""
    return _fitted().get("kinds", {})
