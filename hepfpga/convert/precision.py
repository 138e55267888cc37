"""Fixed-point choices hls4ml cannot make on its own.

Softmax (hls4ml's 'stable' implementation, `nnet_activation.h`): the firmware computes
d_i = x_max - x_i in type `inp_norm_t`, looks exp(-d_i) up in a table indexed by the *top*
log2(table_size) bits of d_i, sums, and looks the inverse of the sum up in a second table indexed by
the top bits of `inv_inp_t`. Two things follow:

* the bin width of the exp table, 2**(I - log2(table_size)) for `inp_norm_t = ufixed<W, I>`, decides
  how close two logits can be before the firmware gives them the same probability (an argmax flip);
* hls4ml derives `inp_norm_t` from the input type as `ap_ufixed<W-1, I-1>` with the default WRAP
  overflow, so a logit difference above 2**(I-1) wraps around to a small one and its class gets a
  large probability. We saturate instead.

`softmax_precisions` gives the table and accumulator types; `set_softmax_input_type` puts a saturating
`inp_norm_t` on the converted model (hls4ml 1.3.0 has no configuration key for it).
"""

from __future__ import annotations

import copy
import math

#: log2 of the range of x_max - x_i the exp table covers: exp(-8) = 3.4e-4 is where it saturates.
SOFTMAX_RANGE_BITS = 3
#: Default table size: bin width 8 / 4096 ≈ 0.002 in logit difference.
SOFTMAX_TABLE_SIZE = 4096


def softmax_precisions(n_classes: int, table_bits: int = 18) -> dict[str, str]:
    """hls4ml `Precision` entries for a softmax over `n_classes` outputs.

    Probabilities and exp-table values lie in [0, 1]: one integer bit, `table_bits - 1` fractional
    bits. The sum of exponentials lies in [0, n_classes]: ceil(log2(n_classes)) + 1 integer bits.
    """
    sum_int = max(1, math.ceil(math.log2(max(n_classes, 2)))) + 1
    unit = f"ufixed<{table_bits},1,RND,SAT>"
    total = f"ufixed<{table_bits + sum_int - 1},{sum_int},RND,SAT>"
    return {"result": unit, "exp_table": unit, "inv_table": f"ufixed<{table_bits},1,RND,SAT>",
            "accum": total, "inv_inp": total}


def set_softmax_input_type(hls_model, range_bits: int = SOFTMAX_RANGE_BITS, width: int = 16) -> list[str]:
    """Give every stable softmax of `hls_model` a saturating `inp_norm_t = ufixed<width, range_bits>`.

    Must run after conversion and before `write`/`compile`: the layer's C++ configuration is rendered
    again from hls4ml's own template. Returns the names of the layers changed.
    """
    from hls4ml.model.layers import Softmax
    from hls4ml.model.optimizer import get_optimizer
    from hls4ml.model.types import RoundingMode, SaturationMode

    backend = hls_model.config.get_config_value("Backend").lower()
    changed = []
    for node in hls_model.get_layers():
        if not isinstance(node, Softmax) or node.get_attr("implementation") != "stable":
            continue
        # Start from a type hls4ml already specialised for this backend and change its precision.
        inp_norm = copy.copy(node.get_attr("exp_table_t"))
        inp_norm.name = f"{node.name}_inp_norm_t"
        inp_norm.precision = copy.copy(inp_norm.precision)
        inp_norm.precision.width, inp_norm.precision.integer = width, range_bits
        inp_norm.precision.signed = False
        inp_norm.precision.rounding_mode = RoundingMode.RND
        inp_norm.precision.saturation_mode = SaturationMode.SAT
        node.set_attr("inp_norm_t", inp_norm)
        get_optimizer(f"{backend}:softmax_config_template").transform(hls_model, node)
        changed.append(node.name)
    return changed
