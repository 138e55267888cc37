// Layer normalisation over the last axis for hls4ml io_parallel projects (hepfpga extension).
//
// hls4ml 1.3.0's nnet_layernorm.h reads 1/sqrt(var) from a table over var in [epsilon, 2^-p] with p >= 0,
// so any variance above 1 (common after a residual sum) saturates. Here var + epsilon is brought into
// [1, 4) by shifts of 2 bits (var = m * 4^e), 1/sqrt(m) is read from a table over [1, 4) (nearest of
// table_size entries), and the result is shifted back by e bits: the relative error is the table's
// at every scale. y = (x - mean) / sqrt(var + epsilon) * gamma + beta, per token.
#ifndef NNET_LAYERNORM_WIDE_H_
#define NNET_LAYERNORM_WIDE_H_

#include "nnet_common.h"
#include <cmath>

namespace nnet {

struct layernorm_wide_config {
    static const unsigned seq_len = 1;
    static const unsigned n_feat = 16;
    static const unsigned table_size = 4096;
    static const unsigned max_shift = 16; // |e| bound: var + epsilon in [4^-max_shift, 4^max_shift)
    static constexpr double epsilon = 1e-3;
    static const unsigned reuse_factor = 1;
    typedef float accum_t; // sums, mean, deviations
    typedef float var_t;   // variance + epsilon
    typedef float table_t; // 1/sqrt(m), m in [1, 4)
    typedef float inv_t;   // 1/sqrt(var + epsilon)
    typedef float scale_t;
    typedef float bias_t;
};

template <class CONFIG_T> void init_inv_sqrt_table(typename CONFIG_T::table_t table[CONFIG_T::table_size]) {
    for (unsigned i = 0; i < CONFIG_T::table_size; i++) {
        table[i] = 1.0 / std::sqrt(1.0 + 3.0 * i / CONFIG_T::table_size);
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void layernorm_wide(data_T data[CONFIG_T::seq_len * CONFIG_T::n_feat], res_T res[CONFIG_T::seq_len * CONFIG_T::n_feat],
                    typename CONFIG_T::scale_t scale[CONFIG_T::n_feat], typename CONFIG_T::bias_t bias[CONFIG_T::n_feat]) {
    #pragma HLS PIPELINE II = CONFIG_T::reuse_factor
#ifdef __HLS_SYN__
    bool initialized = false;
    typename CONFIG_T::table_t table[CONFIG_T::table_size];
#else
    static bool initialized = false;
    static typename CONFIG_T::table_t table[CONFIG_T::table_size];
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
        typename CONFIG_T::accum_t sum = 0, diff[N];
        #pragma HLS ARRAY_PARTITION variable = diff complete
        for (unsigned i = 0; i < N; i++) {
            sum += data[t * N + i];
        }
        typename CONFIG_T::accum_t mean = sum * k_inv;
        typename CONFIG_T::var_t var = 0;
        for (unsigned i = 0; i < N; i++) {
            diff[i] = data[t * N + i] - mean;
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
        ap_ufixed<64, 32> position = (m - 1) * ap_ufixed<32, 16>(double(CONFIG_T::table_size) / 3.0);
        unsigned index = (unsigned)(position + ap_ufixed<2, 0>(0.5));
        if (index > CONFIG_T::table_size - 1)
            index = CONFIG_T::table_size - 1;
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
