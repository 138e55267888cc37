// Layer normalisation over the last axis for hls4ml io_parallel projects (hepfpga extension).
//
// hls4ml 1.3.0's nnet_layernorm.h reads 1/sqrt(var) from a table over var in [epsilon, 2^-p] with p >= 0,
// so any variance above 1 (common after a residual sum) saturates. Here var + epsilon is brought into
// [1, 4) by shifts of 2 bits (var = m * 4^e), 1/sqrt(m) is read from a table over [1, 4) (3 * 2^table_bits
// entries, indexed by the leading bits of m - 1, each the value at its bin's centre), and the result is
// shifted back by e bits: the relative error is the table's at every scale.
// y = (x - mean) / sqrt(var + epsilon) * gamma + beta, per token, after converting the input to in_t.
// Every rounding happens where a value is assigned to one of the config's types; hepfpga's
// QLayerNormalization computes the same in Keras.
#ifndef NNET_LAYERNORM_WIDE_H_
#define NNET_LAYERNORM_WIDE_H_

#include "nnet_common.h"
#include <cmath>

namespace nnet {

struct layernorm_wide_config {
    static const unsigned seq_len = 1;
    static const unsigned n_feat = 16;
    static const unsigned table_bits = 10; // 3 * 2^table_bits entries over m in [1, 4)
    static const unsigned max_shift = 16; // |e| bound: var + epsilon in [4^-max_shift, 4^max_shift)
    static constexpr double epsilon = 1e-3;
    static const unsigned reuse_factor = 1;
    typedef float in_t;    // the input, converted first
    typedef float accum_t; // sums, mean, deviations
    typedef float var_t;   // variance + epsilon
    typedef float table_t; // 1/sqrt(m), m in [1, 4)
    typedef float inv_t;   // 1/sqrt(var + epsilon)
    typedef float scale_t;
    typedef float bias_t;
};

template <class CONFIG_T>
void init_inv_sqrt_table(typename CONFIG_T::table_t table[3 << CONFIG_T::table_bits]) {
    for (unsigned i = 0; i < (3u << CONFIG_T::table_bits); i++) {
        table[i] = 1.0 / std::sqrt(1.0 + (i + 0.5) / double(1u << CONFIG_T::table_bits));
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void layernorm_wide(data_T data[CONFIG_T::seq_len * CONFIG_T::n_feat], res_T res[CONFIG_T::seq_len * CONFIG_T::n_feat],
                    typename CONFIG_T::scale_t scale[CONFIG_T::n_feat], typename CONFIG_T::bias_t bias[CONFIG_T::n_feat]) {
    #pragma HLS PIPELINE II = CONFIG_T::reuse_factor
#ifdef __HLS_SYN__
    bool initialized = false;
    typename CONFIG_T::table_t table[3 << CONFIG_T::table_bits];
#else
    static bool initialized = false;
    static typename CONFIG_T::table_t table[3 << CONFIG_T::table_bits];
#endif
    if (!initialized) {
        init_inv_sqrt_table<CONFIG_T>(table);
        initialized = true;
    }
    const unsigned N = CONFIG_T::n_feat;
    const typename CONFIG_T::accum_t k_inv = 1.0 / N;
    const typename CONFIG_T::var_t epsilon = CONFIG_T::epsilon;

Tokens:
    for (unsigned t = 0; t < CONFIG_T::seq_len; t++) {
        typename CONFIG_T::in_t x[N];
        typename CONFIG_T::accum_t sum = 0, diff[N];
        #pragma HLS ARRAY_PARTITION variable = x complete
        #pragma HLS ARRAY_PARTITION variable = diff complete
        for (unsigned i = 0; i < N; i++) {
            x[i] = data[t * N + i];
            sum += x[i];
        }
        typename CONFIG_T::accum_t mean = sum * k_inv;
        typename CONFIG_T::var_t var = 0;
        for (unsigned i = 0; i < N; i++) {
            diff[i] = x[i] - mean;
            var += diff[i] * diff[i];
        }
        var = var * k_inv + epsilon;

        // var = m * 4^e with m in [1, 4): count 2-bit shifts (bounded loops, unrolled in hardware).
        ap_ufixed<64, 32> m = var;
        int e = 0;
        for (unsigned k = 0; k < CONFIG_T::max_shift; k++) {
            if (m >= 4) {
                m >>= 2;
                e++;
            }
        }
        for (unsigned k = 0; k < CONFIG_T::max_shift; k++) {
            if (m < 1) {
                m <<= 2;
                e--;
            }
        }
        // m - 1 in [0, 3): its integer and leading table_bits fractional bits index the table.
        unsigned index = (unsigned)((m - 1) * (1u << CONFIG_T::table_bits));
        if (index > (3u << CONFIG_T::table_bits) - 1)
            index = (3u << CONFIG_T::table_bits) - 1;
        typename CONFIG_T::inv_t inv = table[index];
        if (e > 0)
            inv = inv >> e; // 1/sqrt(4^e) = 2^-e
        else
            inv = inv << (-e);

        for (unsigned i = 0; i < N; i++) {
            res[t * N + i] = diff[i] * inv * scale[i] + bias[i];
        }
    }
}

} // namespace nnet

#endif
