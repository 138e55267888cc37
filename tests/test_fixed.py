"""`hepfpga.fixed.Fixed` against the ap_fixed C++ headers hls4ml ships: every rounding and overflow mode."""

import itertools
import shutil
import subprocess
from pathlib import Path

import hls4ml
import numpy as np
import pytest

from hepfpga.errors import ConfigError
from hepfpga.fixed import OVERFLOW, ROUNDING, Fixed, fixed_type, input_grid

AP_TYPES = Path(hls4ml.__file__).parent / "templates" / "vivado" / "ap_types"
#: Types under test: every mode pair on a signed and an unsigned type, plus odd shapes.
TYPES = [Fixed(8, 3, True, q, o) for q, o in itertools.product(ROUNDING, OVERFLOW)] + \
        [Fixed(7, 2, False, q, o) for q, o in itertools.product(ROUNDING, OVERFLOW)] + \
        [Fixed(6, -2, True, "RND_CONV", "SAT"), Fixed(5, 9, True, "TRN", "WRAP"), Fixed(12, 12, False, "RND", "WRAP")]
#: The source of the fixed-to-fixed casts: ap_fixed<24,10> (14 fractional bits).
SOURCE = Fixed(24, 10)


def test_parse_and_print():
    assert Fixed.parse("ap_fixed<16,6,AP_RND_CONV,AP_SAT,0>") == Fixed(16, 6, True, "RND_CONV", "SAT")
    assert Fixed.parse("fixed<16,6>") == Fixed(16, 6)  # hls4ml's default modes: TRN, WRAP
    assert Fixed.parse("ap_uint<4>") == Fixed(4, 4, False)
    assert Fixed.parse("ufixed<18,1,RND,SAT>").cpp() == "ap_ufixed<18,1,AP_RND,AP_SAT>"
    assert str(Fixed.parse("fixed<16,6>", rounding="RND", overflow="SAT")) == "fixed<16,6,RND,SAT>"
    assert Fixed(8, 3).bounds() == (-4.0, 4.0 - 2**-5) and Fixed(8, 3, overflow="SAT_SYM").bounds()[0] == -4.0 + 2**-5
    with pytest.raises(ConfigError, match="not a fixed-point type"):
        Fixed.parse("float")
    with pytest.raises(ConfigError, match="rounding mode"):
        Fixed(8, 3, rounding="ROUND")


def test_type_from_observed_range():
    assert fixed_type(33.7, 4.0, 2**-8, headroom_bits=1) == ("fixed<14,8,RND,SAT>", 8, 6)
    np.testing.assert_array_equal(input_grid(np.array([0.1, -100.0]), "fixed<8,3>"), [0.09375, -4.0])


def _cpp_program(types) -> str:
    lines = ['#include "ap_fixed.h"', "#include <cstdio>", "int main() {", "  double v; long long r;",
             "  while (scanf(\"%lf %lld\", &v, &r) == 2) {",
             f"    {SOURCE.cpp()} s; s.range() = r;"]
    for k, t in enumerate(types):
        lines += [f"    {{ {t.cpp()} a = v; {t.cpp()} b = s;",
                  '      printf("%lld %lld ", (long long) a.range().to_int64(), (long long) b.range().to_int64()); }']
    lines += ['    printf("\\n");', "  }", "}"]
    return "\n".join(lines) + "\n"


@pytest.mark.csim
def test_every_mode_matches_ap_fixed(tmp_path):
    """Float -> type and ap_fixed<24,10> -> type, for values around every rounding tie and the range ends."""
    if shutil.which("g++") is None:
        pytest.skip("g++ is not installed")
    (tmp_path / "t.cpp").write_text(_cpp_program(TYPES))
    subprocess.run(["g++", "-O1", "-std=c++11", f"-I{AP_TYPES}", "t.cpp", "-o", "t"], cwd=tmp_path, check=True)
    rng = np.random.default_rng(0)
    # Values on and near half-steps of every type, beyond the ranges, and random ones.
    grid = np.arange(-40 * 64, 40 * 64 + 1) / 64.0
    values = np.concatenate([grid, grid + 2**-14, grid - 2**-14, rng.normal(0, 30, 3000), [1e6, -1e6, 0.0]])
    raws = SOURCE.to_raw(values)
    stdin = "".join(f"{v!r} {r}\n" for v, r in zip(values, raws))
    out = subprocess.run(["./t"], cwd=tmp_path, input=stdin, capture_output=True, text=True, check=True).stdout
    cpp = np.array([[int(w) for w in line.split()] for line in out.splitlines()], dtype=np.int64)
    assert cpp.shape == (len(values), 2 * len(TYPES))
    # ap_fixed's range() reads the raw bits: unsigned as stored, signed sign-extended
    for k, t in enumerate(TYPES):
        from_double, from_fixed = cpp[:, 2 * k], cpp[:, 2 * k + 1]
        if t.signed:
            from_double, from_fixed = (np.where(a >= 2 ** (t.width - 1), a - 2**t.width, a)
                                       for a in (from_double, from_fixed))
        np.testing.assert_array_equal(t.to_raw(values), from_double, err_msg=f"{t} from double")
        np.testing.assert_array_equal(t.cast_raw(raws, SOURCE.fraction), from_fixed, err_msg=f"{t} from {SOURCE}")
