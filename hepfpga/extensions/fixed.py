"""Fixed-point values as ap_fixed computes them, for the bit-exact (QKeras) form of hepfpga's custom layers.

A custom layer with `fixed_point` types rounds in Keras where its C++ kernel rounds, with the same rule:
round to nearest, ties to even, saturate (ap_fixed's RND_CONV, SAT: what hls4ml gives a QKeras
`quantized_bits`), or truncate (TRN, ap_fixed's default). The values are computed in float64: sums are
exact while they need at most 53 significant bits, and a product rounded once by float64 stays on the same
side of every rounding boundary while |product| < 2^(53 - its fractional bits) (`check_exact` refuses
types beyond these bounds). Written here because QKeras quantizers compute in float32
(`K.cast_to_floatx`), which rounds the up-to-45-bit intermediate values of an attention score before they
reach the quantizer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from hepfpga.errors import ConfigError

#: Significant bits float64 holds exactly.
FLOAT64_BITS = 53

_PATTERN = re.compile(r"^\s*(u?)fixed<\s*(\d+)\s*,\s*(-?\d+)\s*(?:,\s*(\w+)\s*)?(?:,\s*(\w+)\s*)?>\s*$")


@dataclass(frozen=True)
class Fixed:
    """ap_fixed<width, integer> (signed) or ap_ufixed; rounding "RND_CONV" or "TRN"; saturating or not."""

    width: int
    integer: int
    signed: bool = True
    rounding: str = "RND_CONV"
    saturate: bool = True

    @classmethod
    def parse(cls, text: str) -> Fixed:
        """'fixed<16,6>' (RND_CONV, SAT: the form a quantizer rounds to), 'ufixed<18,1,TRN,WRAP>', ..."""
        match = _PATTERN.match(str(text))
        if not match:
            raise ConfigError(f"{text!r} is not a fixed-point type such as 'fixed<16,6>' or 'ufixed<18,1,TRN,WRAP>'")
        unsigned, width, integer, rounding, saturation = match.groups()
        rounding, saturation = rounding or "RND_CONV", saturation or "SAT"
        if rounding not in ("RND_CONV", "TRN") or saturation not in ("SAT", "WRAP"):
            raise ConfigError(f"{text!r}: hepfpga's exact layers round with RND_CONV or TRN and SAT or WRAP")
        if int(width) < 1 or int(width) > 64:
            raise ConfigError(f"{text!r}: width must be in [1, 64]")
        return cls(int(width), int(integer), not unsigned, rounding, saturation == "SAT")

    @property
    def fraction(self) -> int:
        return self.width - self.integer

    @property
    def step(self) -> float:
        return 2.0 ** -self.fraction

    def bounds(self) -> tuple[float, float]:
        """Smallest and largest value."""
        if self.signed:
            return -(2.0 ** (self.integer - 1)), 2.0 ** (self.integer - 1) - self.step
        return 0.0, 2.0**self.integer - self.step

    def __str__(self) -> str:
        modes = f",{self.rounding},{'SAT' if self.saturate else 'WRAP'}"
        return f"{'' if self.signed else 'u'}fixed<{self.width},{self.integer}{modes}>"

    def quantize(self, x):
        """`x` (a float64 tensor) on this type's grid, as assigning it to the ap_fixed type does; gradients
        pass straight through (as QKeras quantizers train)."""
        import tensorflow as tf

        scale = 2.0**self.fraction
        raw = tf.round(x * scale) if self.rounding == "RND_CONV" else tf.floor(x * scale)
        if self.saturate:
            low, high = self.bounds()
            raw = tf.clip_by_value(raw, low * scale, high * scale)
        return x + tf.stop_gradient(raw / scale - x)

    def quantize_numpy(self, x) -> np.ndarray:
        scale = 2.0**self.fraction
        x = np.asarray(x, np.float64) * scale
        raw = np.round(x) if self.rounding == "RND_CONV" else np.floor(x)
        if self.saturate:
            low, high = self.bounds()
            raw = np.clip(raw, low * scale, high * scale)
        return raw / scale


def bits_for(max_abs: float) -> int:
    """Integer bits (sign included) of a signed type holding |x| <= max_abs."""
    return max(1, math.ceil(math.log2(max_abs + 1e-300)) + 1) if max_abs > 0 else 1


def exact_type(integer: int, fraction: int, signed: bool = True) -> str:
    """A type holding values of `integer` integer bits (sign included if signed) and `fraction` fractional
    bits without rounding: TRN, WRAP (ap_fixed's cheapest modes; nothing to round or saturate)."""
    return f"{'' if signed else 'u'}fixed<{integer + fraction},{integer},TRN,WRAP>"


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
    return {k: Fixed.parse(v) for k, v in fixed_point.items()}
