"""The bit-exact (QKeras) form of hepfpga's custom layers: their `fixed_point` types and float64 limits.

A custom layer with `fixed_point` types rounds in Keras where its C++ kernel rounds, with the same rule
(`hepfpga.fixed.Fixed`). In the `fixed_point` option a type without modes, e.g. "fixed<16,6>", rounds to
nearest with ties to even and saturates (ap_fixed's RND_CONV, SAT: what hls4ml gives a QKeras
`quantized_bits`); "TRN" and "WRAP" may be written out. The values are computed in float64: sums are
exact while they need at most 53 significant bits, and a product rounded once by float64 stays on the same
side of every rounding boundary while |product| < 2^(53 - its fractional bits) (`check_exact` refuses
types beyond these bounds). Written here because QKeras quantizers compute in float32
(`K.cast_to_floatx`), which rounds the up-to-45-bit intermediate values of an attention score before they
reach the quantizer.
"""

from __future__ import annotations

from hepfpga.errors import ConfigError
from hepfpga.fixed import Fixed

#: Significant bits float64 holds exactly.
FLOAT64_BITS = 53


def parse_type(text: str) -> Fixed:
    """A `fixed_point` option type: 'fixed<16,6>' is RND_CONV, SAT; TRN and WRAP may be written out."""
    t = Fixed.parse(text, rounding="RND_CONV", overflow="SAT")
    if t.rounding not in ("RND_CONV", "TRN") or t.overflow not in ("SAT", "WRAP") or t.width > 64:
        raise ConfigError(f"{text!r}: hepfpga's exact layers take widths up to 64 and round with RND_CONV or TRN, "
                          "SAT or WRAP")
    return t


def check_exact(name: str, integer: int, fraction: int) -> None:
    """Refuse internal values float64 cannot hold exactly (the Keras side would round them)."""
    if integer + fraction > FLOAT64_BITS:
        raise ConfigError(f"{name}: {integer} integer + {fraction} fractional bits exceed the {FLOAT64_BITS} bits "
                          "a float64 holds exactly; use narrower fixed_point types for this layer")


def parse_types(fixed_point: dict | None, required: tuple[str, ...], layer: str) -> dict[str, Fixed] | None:
    """The `fixed_point` option of a custom layer as Fixed types; ConfigError naming what is missing."""
    if not fixed_point:
        return None
    missing = [k for k in required if k not in fixed_point]
    unknown = [k for k in fixed_point if k not in required]
    if missing or unknown:
        raise ConfigError(f"{layer}: fixed_point needs exactly the types {', '.join(required)}"
                          + (f"; missing {', '.join(missing)}" if missing else "")
                          + (f"; unknown {', '.join(unknown)}" if unknown else ""))
    return {k: parse_type(v) for k, v in fixed_point.items()}
