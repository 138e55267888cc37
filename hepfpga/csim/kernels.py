"""The emulator's inner loops, compiled with numba: casts, constant-weight matrix products, pooling and the
softmax over a block of events.

Written with numba because numpy makes one pass over memory per operation (a product, a shift, a rounding
test, a range test): a dense layer with its casts takes ten passes, where one compiled loop does it in cache,
skipping the zero weights of a pruned layer. Values are laid out (features, events): the innermost loop runs
over the events of a block, with the same constant weight, so the compiler turns it into vector instructions.
Every cast is branch-free for the same reason (`round_shift`, `fit`): a rounding mode is five integers
(`rounding_code`), an overflow mode five more (`code`). Every kernel writes into arrays its caller
provides (`out`), which the emulator reuses block after block: fresh arrays for every block cost more
(page faults) than the arithmetic.

The arithmetic is that of `hepfpga.fixed.Fixed` (tests/test_fixed.py compares it with ap_fixed): int64 raw
integers; a type is passed as `code(t)`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: Rounding modes as (constant, mask of negatives, sign coefficient, odd coefficient): dropping s bits of v
#: is (v + constant + (neg & mask) + sign * neg + odd * ((v >> s) & 1)) >> s with neg = v >> 63 (-1 or 0);
#: `half` stands for 2**(s-1), `ones` for 2**s - 1 (filled in by `rounding_code`).
_ROUNDING = {"TRN": (0, 0, 0, 0), "TRN_ZERO": (0, "ones", 0, 0), "RND": ("half", 0, 0, 0),
             "RND_ZERO": ("half-1", 0, -1, 0), "RND_MIN_INF": ("half-1", 0, 0, 0), "RND_INF": ("half", 0, 1, 0),
             "RND_CONV": ("half-1", 0, 0, 1)}


def rounding_code(mode: str, shift: int) -> tuple:
    """(shift, constant, mask, sign, odd) for dropping `shift` >= 0 fractional bits by ap_fixed mode `mode`.

    TRN floors; TRN_ZERO adds 2**s - 1 to negatives; RND adds half; RND_ZERO adds half - 1 (half for
    negatives); RND_MIN_INF half - 1; RND_INF half (half - 1 for negatives); RND_CONV half - 1 plus the
    lowest kept bit (so a tie rounds to even)."""
    if shift <= 0:
        return (np.int64(0), np.int64(0), np.int64(0), np.int64(0), np.int64(0))
    half = 1 << (shift - 1)
    names = {0: 0, "ones": (1 << shift) - 1, "half": half, "half-1": half - 1}
    c, m, sign, odd = _ROUNDING[mode]
    return (np.int64(shift), np.int64(names[c]), np.int64(names[m]), np.int64(sign), np.int64(odd))


def code(t) -> tuple:
    """The range part of a Fixed type for `fit`: (wrap, low, high, mask, zero) as int64."""
    low, high = t.raw_bounds()
    wrap = t.overflow == "WRAP" and t.width < 63
    mask = (1 << t.width) - 1 if wrap else 0
    return (np.int64(wrap), np.int64(low), np.int64(high), np.int64(mask), np.int64(t.overflow == "SAT_ZERO"))


def cast_code(t, shift: int) -> tuple:
    """What `cast` needs to assign a value with `shift` more fractional bits to type t (shift may be < 0)."""
    return rounding_code(t.rounding, max(shift, 0)), np.int64(max(-shift, 0)), code(t)


def storage(t) -> type:
    """The integer dtype holding raw values of type t: int32 up to 31 bits (twice the vector lanes of int64)."""
    return np.int32 if t.width <= 31 else np.int64


@njit(cache=True, inline="always")
def round_shift(v, r):
    """v with r[0] fractional bits dropped by the rounding code r (`rounding_code`); branch-free."""
    v = np.int64(v)
    neg = v >> 63
    return (v + r[1] + (neg & r[2]) + r[3] * neg + r[4] * ((v >> r[0]) & 1)) >> r[0]


@njit(cache=True, inline="always")
def fit(v, t):
    """v brought into the range of type code t (`code`) by its overflow mode; branch-free."""
    v = np.int64(v)
    wrapped = ((v - t[1]) & t[3]) + t[1]
    clipped = min(max(v, t[1]), t[2])
    zeroed = v if clipped == v else 0
    return wrapped if t[0] else (zeroed if t[4] else clipped)


@njit(cache=True, inline="always")
def cast(v, c):
    """`t y = x;` for raw v and a `cast_code` c: rounded (or shifted left), then brought into range."""
    return fit(round_shift(v, c[0]) << c[1], c[2])


#: Rounding modes for float inputs as flags (a, b, c, d, e, f): v (floor q, remainder r = v - q) rounds up to
#: q + 1 if (a and r != 0 and v < 0) or (b and r > 1/2) or (r == 1/2 and (c or (d and v < 0) or
#: (e and v >= 0) or (f and q odd))). Flags rather than branches, so the loop vectorises.
_FLOAT_ROUNDING = {"TRN": (0, 0, 0, 0, 0, 0), "TRN_ZERO": (1, 0, 0, 0, 0, 0), "RND": (0, 1, 1, 0, 0, 0),
                   "RND_ZERO": (0, 1, 0, 1, 0, 0), "RND_INF": (0, 1, 0, 0, 1, 0), "RND_MIN_INF": (0, 1, 0, 0, 0, 0),
                   "RND_CONV": (0, 1, 0, 0, 0, 1)}
_LIMIT = 4611686018427387904.0  # 2**62: float inputs are clipped to +-2**62 steps first


@njit(cache=True, nogil=True)
def _quantize_flags(x, scale, rounding, t, rows):
    a, b, c, d, f_even, f_odd = rounding
    for e in range(x.shape[0]):
        xe, re = x[e], rows[e]
        for i in range(x.shape[1]):
            v = min(max(xe[i] * scale, -_LIMIT), _LIMIT)
            q = np.floor(v)
            r = v - q  # exact
            qi = np.int64(q)
            neg = np.int64(v < 0.0)
            tie = np.int64(r == 0.5)
            up = ((a & neg & np.int64(r != 0.0)) | (b & np.int64(r > 0.5))
                  | (tie & (c | (d & neg) | (f_even & (1 - neg)) | (f_odd & qi))))
            re[i] = fit(qi + (up & 1), t)


@njit(cache=True, nogil=True)
def _quantize_trn(x, scale, rounding, t, rows):
    for e in range(x.shape[0]):
        xe, re = x[e], rows[e]
        for i in range(x.shape[1]):
            re[i] = fit(np.int64(np.floor(min(max(xe[i] * scale, -_LIMIT), _LIMIT))), t)


@njit(cache=True, nogil=True)
def _quantize_rnd(x, scale, rounding, t, rows):
    for e in range(x.shape[0]):
        xe, re = x[e], rows[e]
        for i in range(x.shape[1]):
            v = min(max(xe[i] * scale, -_LIMIT), _LIMIT)
            q = np.floor(v)
            re[i] = fit(np.int64(q) + np.int64(v - q >= 0.5), t)  # v - q is exact


@njit(cache=True, nogil=True)
def _quantize_conv(x, scale, rounding, t, rows):
    for e in range(x.shape[0]):
        xe, re = x[e], rows[e]
        for i in range(x.shape[1]):
            re[i] = fit(np.int64(np.rint(min(max(xe[i] * scale, -_LIMIT), _LIMIT))), t)  # half to even


_QUANTIZE = {"TRN": _quantize_trn, "RND": _quantize_rnd, "RND_CONV": _quantize_conv}


def quantize(x, fraction: int, rounding: str, t, rows, out) -> None:
    """Float inputs x (events, size) assigned to a type with `fraction` fractional bits, ap_fixed rounding
    mode `rounding` and range code t, as `t y = (double) x` does: raw integers written to out (size, events),
    through rows (events, size) of the same dtype. Values beyond 2**62 steps are clipped first (wrapping
    types take them modulo 2**62 then: ap_fixed inputs that large are not physics). The common modes have
    their own loops; the others share one driven by flags."""
    _QUANTIZE.get(rounding, _quantize_flags)(x, 2.0**fraction, tuple(np.int64(f) for f in _FLOAT_ROUNDING[rounding]),
                                             t, rows)
    transpose(rows, out)


@njit(cache=True, nogil=True)
def transpose(a, out):
    """out (m, n) = a (n, m).T, copied in 32 x 32 tiles (both sides stay in cache)."""
    n, m = a.shape
    tile = 32
    n_full, m_full = n - n % tile, m - m % tile
    for e0 in range(0, n_full, tile):
        for i0 in range(0, m_full, tile):
            for i in range(i0, i0 + tile):
                for e in range(e0, e0 + tile):
                    out[i, e] = a[e, i]
    for e in range(n_full, n):  # the rest of the rows, then the rest of the columns
        for i in range(m):
            out[i, e] = a[e, i]
    for i in range(m_full, m):
        for e in range(n_full):
            out[i, e] = a[e, i]


@njit(cache=True, nogil=True)
def cast_rows(x, c, relu, out):
    """out = every value of x (features, events) cast by c (with `relu`, negative values first set to 0)."""
    for i in range(x.shape[0]):
        xi, oi = x[i], out[i]
        for e in range(x.shape[1]):
            v = xi[e]
            if relu:
                v = max(v, 0)
            oi[e] = cast(v, c)


@njit(cache=True, nogil=True)
def pad_rows(x, rows, value, out):
    """out = x (size, events) followed by `rows` rows holding `value` (where padded window positions point)."""
    out[: x.shape[0]] = x
    out[x.shape[0]: x.shape[0] + rows] = value


@njit(cache=True, nogil=True)
def constant_product(x, gather, starts, inputs, weights, bias, product, accum, wrap_at_end, result, exact, post,
                     post_relu, post_cast, acc, out):
    """hls4ml's dense kernel for a block of events, for every output pixel of a convolution too.

    x (size, events) raw inputs; gather (pixels, n_in) the row of x of each pixel's input i (a dense layer:
    one pixel, gather[0] = arange(n_in)); output j's weights are inputs[starts[j]:starts[j+1]] (ascending
    input index) and weights[...] (non-zero only: a zero product adds nothing). Each product is rounded to
    the accumulator's step (rounding code `product`; weights are pre-shifted when it has more fractional
    bits), brought into its range (`accum`) and added onto the cast bias in input order; with
    `wrap_at_end`, a wrapping accumulator is reduced once at the end (the same result: wrapping is
    arithmetic modulo 2**W, and the accumulator array `acc` (events,) is at least W bits wide). The sum is
    cast to the result (`result`, a cast_code) in out (pixels * n_out, events); with `exact` (no sum leaves the
    accumulator's range, the result holds it) the sum is the result; `post`: then a ReLU (`post_relu`), `post_cast`."""
    n_events, pixels, n_out = x.shape[1], gather.shape[0], bias.shape[0]
    plain = wrap_at_end and product[0] == 0
    floor = np.int64(0) if post_relu else np.int64(-(2**62))  # max(v, floor): the ReLU, or nothing
    for p in range(pixels):
        g = gather[p]
        for j in range(n_out):
            acc[:] = bias[j]
            k, last = starts[j], starts[j + 1]
            while plain and k + 8 <= last:  # the common case, free of casts: eight weights per pass
                x0, x1, x2, x3 = x[g[inputs[k]]], x[g[inputs[k + 1]]], x[g[inputs[k + 2]]], x[g[inputs[k + 3]]]
                x4, x5, x6, x7 = x[g[inputs[k + 4]]], x[g[inputs[k + 5]]], x[g[inputs[k + 6]]], x[g[inputs[k + 7]]]
                w0, w1, w2, w3 = weights[k], weights[k + 1], weights[k + 2], weights[k + 3]
                w4, w5, w6, w7 = weights[k + 4], weights[k + 5], weights[k + 6], weights[k + 7]
                for e in range(n_events):
                    acc[e] += (x0[e] * w0 + x1[e] * w1 + x2[e] * w2 + x3[e] * w3
                               + x4[e] * w4 + x5[e] * w5 + x6[e] * w6 + x7[e] * w7)
                k += 8
            while plain and k + 4 <= last:  # then four
                x0, x1, x2, x3 = x[g[inputs[k]]], x[g[inputs[k + 1]]], x[g[inputs[k + 2]]], x[g[inputs[k + 3]]]
                w0, w1, w2, w3 = weights[k], weights[k + 1], weights[k + 2], weights[k + 3]
                for e in range(n_events):
                    acc[e] += x0[e] * w0 + x1[e] * w1 + x2[e] * w2 + x3[e] * w3
                k += 4
            for k in range(k, last):
                xr, w = x[g[inputs[k]]], weights[k]
                if plain:
                    for e in range(n_events):
                        acc[e] += xr[e] * w
                elif wrap_at_end:
                    for e in range(n_events):
                        acc[e] += round_shift(xr[e] * w, product)
                else:
                    for e in range(n_events):
                        acc[e] = fit(acc[e] + fit(round_shift(xr[e] * w, product), accum), accum)
            o = out[p * n_out + j]
            if post and exact:
                for e in range(n_events):
                    o[e] = cast(max(np.int64(acc[e]), floor), post_cast)
            elif post:
                for e in range(n_events):
                    o[e] = cast(max(cast(fit(acc[e], accum), result), floor), post_cast)
            elif exact:
                for e in range(n_events):
                    o[e] = acc[e]
            else:
                for e in range(n_events):
                    o[e] = cast(fit(acc[e], accum), result)


@njit(cache=True, nogil=True)
def max_pool(x, index, to_accum, to_result, exact, out):
    """out[o] = max over k of x[index[o, k]], cast to the accumulator (`to_accum`) and then to the result
    (`to_result`; neither with `exact`): hls4ml's max pooling, windows gathered by row. x (size, events)."""
    for o in range(index.shape[0]):
        oo, first = out[o], x[index[o, 0]]
        for e in range(x.shape[1]):
            oo[e] = first[e]
        for k in range(1, index.shape[1]):
            xr = x[index[o, k]]
            for e in range(x.shape[1]):
                oo[e] = max(oo[e], xr[e])
        if not exact:
            for e in range(x.shape[1]):
                oo[e] = cast(cast(oo[e], to_accum), to_result)


@njit(cache=True, nogil=True)
def average_pool(x, index, counts, to_accum, accum, to_result, acc, out):
    """hls4ml's average pooling: `accum_t y = 0; y += x[k];` over each window (rows index[o]) in order, then
    `y /= count` (integer division toward zero on the raw value), cast to the result. acc (events,) int64."""
    for o in range(index.shape[0]):
        acc[:] = 0
        for k in range(index.shape[1]):
            xr = x[index[o, k]]
            for e in range(x.shape[1]):
                acc[e] = fit(acc[e] + cast(xr[e], to_accum), accum)
        oo, n = out[o], counts[o]
        for e in range(x.shape[1]):
            v = acc[e]
            q = abs(v) // n
            oo[e] = cast(q if v >= 0 else -q, to_result)


@njit(cache=True, nogil=True)
def table_softmax(x, stable, to_norm, norm_width, exp_bits, exp_table, tree, accum, to_inv, inv_width, inv_bits,
                  inv_table, to_result, slots, out):
    """hls4ml's softmax (`stable` or `latency`) for x (n, events) raw values, into out (n, events).

    stable: d = x_max - x cast by `to_norm` to inp_norm_t (`norm_width` bits); latency: d = x itself. The
    exp table (already of accum_t) is indexed by the top `exp_bits` bits of d's `norm_width`-bit pattern;
    the sum is hls4ml's balanced `reduce` tree: `tree` rows (left, right, destination) over slots 0..n-1
    (the exps) and n.. (partial sums), each sum brought into `accum`'s range; the last destination is the
    total. The total cast by `to_inv` to inv_inp_t (`inv_width` bits) indexes `inv_table` by its top
    `inv_bits` bits; each output is exp * inverse cast by `to_result`. slots (n + tree rows, events) int64."""
    n, n_events = x.shape
    norm_mask = (np.int64(1) << norm_width) - 1
    inv_mask = (np.int64(1) << inv_width) - 1
    for e in range(n_events):
        top = np.int64(x[0, e])
        if stable:
            for i in range(1, n):
                top = max(top, np.int64(x[i, e]))
        for i in range(n):
            d = cast(top - np.int64(x[i, e]), to_norm) if stable else np.int64(x[i, e])
            slots[i, e] = exp_table[(d & norm_mask) >> (norm_width - exp_bits)]
    for s in range(tree.shape[0]):
        left, right, dest = tree[s, 0], tree[s, 1], tree[s, 2]
        for e in range(n_events):
            slots[dest, e] = fit(slots[left, e] + slots[right, e], accum)
    root = tree[tree.shape[0] - 1, 2] if tree.shape[0] else 0
    for e in range(n_events):
        inv = inv_table[(cast(slots[root, e], to_inv) & inv_mask) >> (inv_width - inv_bits)]
        for i in range(n):
            out[i, e] = cast(slots[i, e] * inv, to_result)
