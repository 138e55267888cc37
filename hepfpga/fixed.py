"""The one fixed-point type of hepfpga: `Fixed`, an `ap_fixed<W, I, Q, O>` / `ap_ufixed` as the HLS C++ computes it.

Every stage speaks it: precision rules choose `Fixed` types and write them as hls4ml strings
(`str(t)` -> 'fixed<16,6,RND,SAT>'); the comparison reads the range and step of a firmware type; the
custom layers round in Keras as their C++ rounds; the emulator computes raw integers of these types.

Semantics are those of the `ap_fixed` headers hls4ml ships (`ap_types/ap_fixed_base.h`):
W bits in all, I of them integer bits (the sign bit included when signed), F = W - I fractional bits,
so a value is raw * 2**-F with raw a W-bit two's-complement (or unsigned) integer. Dropping fractional
bits rounds by the quantization mode Q (`quantization_adjust`): TRN floor, TRN_ZERO toward zero, RND half
up, RND_ZERO half toward zero, RND_MIN_INF half down, RND_INF half away from zero, RND_CONV half to even.
A value out of range follows the overflow mode O: WRAP keeps the low W bits, SAT clips, SAT_ZERO gives 0,
SAT_SYM clips to [-max, max]. hls4ml's own default for a type string without modes is TRN, WRAP.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from hepfpga.errors import ConfigError
from hepfpga.options import HEADROOM_BITS, TARGET_ERROR

ROUNDING = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_INF", "RND_MIN_INF", "RND_CONV")
OVERFLOW = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")

_FIXED = re.compile(r"^\s*(?:ap_)?(u?)fixed\s*<\s*(\d+)\s*,\s*(-?\d+)\s*((?:,\s*\w+\s*)*)>\s*$")
_INT = re.compile(r"^\s*(?:ap_)?(u?)int\s*<\s*(\d+)\s*>\s*$")


@dataclass(frozen=True)
class Fixed:
    """ap_fixed<width, integer, rounding, overflow> (signed) or ap_ufixed<...> (unsigned)."""

    width: int
    integer: int
    signed: bool = True
    rounding: str = "TRN"
    overflow: str = "WRAP"

    def __post_init__(self):
        if self.rounding not in ROUNDING:
            raise ConfigError(f"rounding mode {self.rounding!r}: use one of {', '.join(ROUNDING)}")
        if self.overflow not in OVERFLOW:
            raise ConfigError(f"overflow mode {self.overflow!r}: use one of {', '.join(OVERFLOW)}")
        if not 1 <= self.width <= 1024:
            raise ConfigError(f"fixed-point width {self.width}: must be in [1, 1024]")

    # -- reading and writing --------------------------------------------------------------------

    @classmethod
    def parse(cls, text, rounding: str = "TRN", overflow: str = "WRAP") -> Fixed:
        """A type from an hls4ml or C++ string: 'fixed<16,6>', 'ufixed<18,1,RND,SAT>', 'ap_fixed<8,2,AP_RND>',
        'ap_uint<4>', 'int<8>'. Modes the string leaves out take `rounding` and `overflow` (hls4ml's and
        ap_fixed's defaults: TRN, WRAP). Raises ConfigError for anything else."""
        text = str(text)
        match = _INT.match(text)
        if match:
            width = int(match.group(2))
            return cls(width, width, signed=not match.group(1))
        match = _FIXED.match(text)
        if not match:
            raise ConfigError(f"{text!r} is not a fixed-point type such as 'fixed<16,6>', 'ufixed<18,1,RND,SAT>' "
                              "or 'ap_uint<4>'")
        unsigned, width, integer, modes = match.groups()
        words = [m.strip().upper().removeprefix("AP_") for m in modes.split(",") if m.strip()]
        if len(words) > 3 or (len(words) == 3 and words[2] != "0"):
            raise ConfigError(f"{text!r}: saturation bits other than 0 are not supported")
        return cls(int(width), int(integer), not unsigned, words[0] if words else rounding,
                   words[1] if len(words) > 1 else overflow)

    @classmethod
    def of(cls, precision) -> Fixed | None:
        """The type of an hls4ml precision object (FixedPrecisionType, IntegerPrecisionType), else None."""
        from hls4ml.model.types import FixedPrecisionType, IntegerPrecisionType

        # hls4ml's backends wrap these classes (e.g. with an APFixedPrecisionDefinition mix-in).
        if not isinstance(precision, (FixedPrecisionType, IntegerPrecisionType)):
            return None
        width, integer = precision.width, precision.integer
        if int(getattr(precision, "saturation_bits", 0) or 0):
            return None
        return cls(int(width), int(integer), bool(precision.signed), str(precision.rounding_mode),
                   str(precision.saturation_mode))

    def __str__(self) -> str:
        """The hls4ml type string with both modes, e.g. 'fixed<16,6,RND,SAT>'."""
        return f"{'' if self.signed else 'u'}fixed<{self.width},{self.integer},{self.rounding},{self.overflow}>"

    def cpp(self) -> str:
        """The C++ type, e.g. 'ap_fixed<16,6,AP_RND,AP_SAT>'."""
        kind = "ap_fixed" if self.signed else "ap_ufixed"
        return f"{kind}<{self.width},{self.integer},AP_{self.rounding},AP_{self.overflow}>"

    def with_modes(self, rounding: str | None = None, overflow: str | None = None) -> Fixed:
        return Fixed(self.width, self.integer, self.signed, rounding or self.rounding, overflow or self.overflow)

    # -- range ----------------------------------------------------------------------------------

    @property
    def fraction(self) -> int:
        """Fractional bits F (may be negative: a step above 1)."""
        return self.width - self.integer

    @property
    def saturate(self) -> bool:
        """True unless out-of-range values wrap around."""
        return self.overflow != "WRAP"

    @property
    def step(self) -> float:
        """Distance between neighbouring values, 2**-F."""
        return 2.0 ** -self.fraction

    def raw_bounds(self) -> tuple[int, int]:
        """Smallest and largest raw integer (value / step)."""
        if self.signed:
            low, high = -(1 << (self.width - 1)), (1 << (self.width - 1)) - 1
            return (low + 1 if self.overflow == "SAT_SYM" else low), high
        return 0, (1 << self.width) - 1

    def bounds(self) -> tuple[float, float]:
        """Smallest and largest value."""
        low, high = self.raw_bounds()
        return math.ldexp(low, -self.fraction), math.ldexp(high, -self.fraction)

    @property
    def top(self) -> float:
        """2**(I-1) for a signed type, 2**I unsigned: the magnitude the type just fails to hold."""
        return 2.0 ** (self.integer - 1 if self.signed else self.integer)

    # -- values ---------------------------------------------------------------------------------

    def round_raw(self, raw, shift: int):
        """Raw integers `raw` (int64 array) of a value with `shift` more fractional bits than this type,
        rounded by this type's quantization mode to this type's step: raw >> shift, rounded (int64)."""
        raw = np.asarray(raw, dtype=np.int64)
        if shift <= 0:
            return raw << -shift if shift else raw
        mode = self.rounding
        if mode == "TRN":  # floor: an arithmetic shift
            return raw >> shift
        half = np.int64(1) << (shift - 1)
        if mode == "RND":  # half up
            return (raw + half) >> shift
        if mode == "RND_CONV":  # half to even: half up, then back by one on a tie that landed odd
            q = (raw + half) >> shift
            tie = (raw & ((np.int64(1) << shift) - 1)) == half
            q -= tie & ((q & 1) == 1)
            return q
        q = raw >> shift
        rem = raw - (q << shift)
        if mode == "TRN_ZERO":
            return q + ((rem != 0) & (raw < 0))
        above = rem > half
        tie = rem == half
        if mode == "RND_ZERO":
            return q + (above | (tie & (raw < 0)))
        if mode == "RND_MIN_INF":
            return q + above
        return q + (above | (tie & (raw >= 0)))  # RND_INF

    def fit_raw(self, raw):
        """Raw integers (int64) of this type's step brought into its range by its overflow mode."""
        raw = np.asarray(raw, dtype=np.int64)
        low, high = self.raw_bounds()
        if raw.size == 0 or self.width >= 64 or (raw.min() >= low and raw.max() <= high):
            return raw  # nothing out of range: nothing to do
        if self.overflow == "WRAP":
            if not self.signed:
                return raw & ((1 << self.width) - 1)
            offset = np.int64(1) << (self.width - 1)
            return ((raw + offset) & ((1 << self.width) - 1)) - offset
        if self.overflow == "SAT_ZERO":
            return np.where((raw < low) | (raw > high), 0, raw).astype(np.int64)
        return np.clip(raw, low, high)

    def cast_raw(self, raw, fraction: int, source: Fixed | None = None):
        """Raw integers of a value with `fraction` fractional bits, assigned to this type: rounded, then
        brought into range. The C++ assignment `this_t y = x;` in integer arithmetic (int64). With the
        `source` type of the values, the range check is skipped when this type holds all of its values."""
        rounded = self.round_raw(raw, fraction - self.fraction)
        if source is not None and self.holds(source):
            return rounded
        return self.fit_raw(rounded)

    def holds(self, other: Fixed) -> bool:
        """True if every value of `other`, rounded to this type's step, lies in this type's range (its bounds
        are on this type's grid, so rounding cannot carry a value that lies between them outside)."""
        low, high = self.bounds()
        o_low, o_high = other.bounds()
        return o_low >= low and o_high <= high

    def to_raw(self, x):
        """Raw integers (int64) of float values `x` assigned to this type, as `this_t y = (double) x` does."""
        scaled = np.ldexp(np.asarray(x, dtype=np.float64), self.fraction)
        mode = self.rounding
        if mode == "TRN":
            r = np.floor(scaled)
        elif mode == "TRN_ZERO":
            r = np.trunc(scaled)
        elif mode == "RND":
            r = np.floor(scaled + 0.5)
        elif mode == "RND_ZERO":
            r = np.sign(scaled) * np.ceil(np.abs(scaled) - 0.5)
        elif mode == "RND_MIN_INF":
            r = np.ceil(scaled - 0.5)
        elif mode == "RND_INF":
            r = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)
        else:
            r = np.round(scaled)  # RND_CONV: half to even
        low, high = self.raw_bounds()
        if self.overflow == "WRAP":
            r = np.mod(r, 2.0**self.width)  # exact on integer-valued floats
            if self.signed:
                r = np.where(r >= 2.0 ** (self.width - 1), r - 2.0**self.width, r)
        elif self.overflow == "SAT_ZERO":
            r = np.where((r < low) | (r > high), 0.0, r)
        else:
            r = np.clip(r, low, high)
        return r.astype(np.int64)

    def from_raw(self, raw) -> np.ndarray:
        """Float64 values of raw integers of this type."""
        return np.ldexp(np.asarray(raw, dtype=np.float64), -self.fraction)

    def quantize_numpy(self, x) -> np.ndarray:
        """`x` as this type holds it (float64): rounded and brought into range by the type's modes."""
        return self.from_raw(self.to_raw(x))

    def quantize(self, x):
        """`x` (a float64 TensorFlow tensor) on this type's grid, rounded by TRN, RND or RND_CONV and clipped
        when saturating; gradients pass straight through (as QKeras quantizers train). Used by the custom
        layers' bit-exact Keras forward pass."""
        import tensorflow as tf

        scale = 2.0**self.fraction
        if self.rounding == "RND_CONV":
            raw = tf.round(x * scale)
        elif self.rounding == "RND":
            raw = tf.floor(x * scale + 0.5)
        elif self.rounding == "TRN":
            raw = tf.floor(x * scale)
        else:
            raise ConfigError(f"{self}: the Keras forward pass rounds with TRN, RND or RND_CONV")
        if self.saturate:
            low, high = self.bounds()
            raw = tf.clip_by_value(raw, low * scale, high * scale)
        return x + tf.stop_gradient(raw / scale - x)


# ---------------------------------------------------------------------------------------------------
# Choosing a type for observed values
# ---------------------------------------------------------------------------------------------------

#: Widest result or weight type chosen from data; accumulators may reach MAX_WIDTH + 16.
MAX_WIDTH = 40


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


def integer_type(x: np.ndarray) -> str:
    """The narrowest hls4ml integer type (ap_uint<k> or ap_int<k>) holding every value of `x`."""
    lo, hi = int(np.min(x)), int(np.max(x))
    if lo >= 0:
        return f"ap_uint<{max(1, hi.bit_length())}>"
    return f"ap_int<{max(hi.bit_length(), (-lo - 1).bit_length()) + 1}>"


def value_stats(x) -> tuple[float, float]:
    """(max |x|, RMS of the non-zero values) of an array."""
    a = np.abs(np.asarray(x, dtype=np.float64)).ravel()
    nz = a[a > 0]
    return (float(a.max()) if a.size else 0.0), (float(np.sqrt(np.mean(nz**2))) if nz.size else 0.0)


def exact_type(integer: int, fraction: int, signed: bool = True) -> str:
    """A type holding values of `integer` integer bits (sign included if signed) and `fraction` fractional
    bits without rounding: TRN, WRAP (ap_fixed's cheapest modes; nothing to round or saturate)."""
    return f"{'' if signed else 'u'}fixed<{integer + fraction},{integer},TRN,WRAP>"


def input_grid(x: np.ndarray, type_string: str) -> np.ndarray:
    """Values of `x` as a firmware input of type `type_string` holds them (float32); a type without modes
    rounds half up and saturates, as hepfpga's input types do. Feeding Keras and the firmware these values
    makes them see the same inputs, exactly."""
    return Fixed.parse(type_string, rounding="RND", overflow="SAT").quantize_numpy(x).astype(np.float32)
