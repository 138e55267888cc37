"""Softmax types hls4ml cannot choose on its own.

hls4ml's 'stable' softmax (`nnet_activation.h`) computes d_i = x_max - x_i in type `inp_norm_t`, looks
exp(-d_i) up in a table indexed by the *top* log2(table_size) bits of d_i, sums into `accum_t`, and looks
the inverse of the sum up in a second table indexed by the top bits of `inv_inp_t`. Hence:

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

from hepfpga.options import TABLE_BITS, TABLE_SIZE

#: log2 of the range of x_max - x_i the exp table covers; beyond it exp(-8) = 3.4e-4 is used.
SOFTMAX_RANGE_BITS = 3
#: Default table size: bin width 8 / 4096 ≈ 0.002 in logit difference.
SOFTMAX_TABLE_SIZE = TABLE_SIZE
#: Softmax output type: probabilities in [0, 1], 17 fractional bits.
SOFTMAX_RESULT = "ufixed<18,1,RND,SAT>"
#: Precision keys hls4ml 1.3.0 ignores for softmax (set as `*_t` layer keys instead).
IGNORED_KEYS = ("exp_table", "inv_table", "inv_inp", "accum")


def softmax_config(n_classes: int, table_size: int = SOFTMAX_TABLE_SIZE, table_bits: int = TABLE_BITS,
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


def set_softmax(entry: dict, n_classes: int, table_size: int = SOFTMAX_TABLE_SIZE, drop=IGNORED_KEYS) -> None:
    """Make the hls4ml layer configuration `entry` a stable softmax over `n_classes` with our types; the
    `Precision` keys `drop` are removed."""
    precision = entry.setdefault("Precision", {})
    for ignored in drop:
        precision.pop(ignored, None)
    entry.update(softmax_config(n_classes, table_size))
    precision["result"] = SOFTMAX_RESULT  # probabilities in [0, 1]
