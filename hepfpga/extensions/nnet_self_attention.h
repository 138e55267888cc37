// Multi-head self-attention for hls4ml io_parallel projects (hepfpga extension).
//
// Input and output: a sequence of seq_len tokens of d_model features, row-major (token, feature).
// Per head h (head_dim features): q, k, v = x Wq + bq, x Wk + bk, x Wv + bv; score(i, j) = q_i . k_j * scale;
// a(i, .) = softmax_j(score(i, .)); out_i = sum_j a(i, j) v_j. Heads are concatenated, then projected:
// y = out Wo + bo. The softmax subtracts the row maximum, reads exp(-d) from a table over
// d in [0, 2^exp_range_power2) with exp_table_size entries (nearest entry; 0 beyond the table), and
// multiplies by 1/sum. The input is first converted to in_t. Every rounding happens where a value is
// assigned to one of the config's types; hepfpga's SelfAttention (fixed_point form) computes the same.
#ifndef NNET_SELF_ATTENTION_H_
#define NNET_SELF_ATTENTION_H_

#include "nnet_common.h"
#include <cmath>

namespace nnet {

struct self_attention_config {
    static const unsigned seq_len = 8;
    static const unsigned d_model = 16;
    static const unsigned heads = 2;
    static const unsigned head_dim = 8;
    static const unsigned exp_table_size = 1024;
    static const unsigned exp_range_power2 = 3;
    static const unsigned reuse_factor = 1;
    typedef float in_t;
    typedef float accum_t;
    typedef float proj_t;
    typedef float score_t;
    typedef float scale_t;
    typedef float exp_table_t;
    typedef float sum_t;
    typedef float inv_t;
    typedef float att_t;
};

template <class CONFIG_T> void init_attention_exp_table(typename CONFIG_T::exp_table_t table[CONFIG_T::exp_table_size]) {
    const double step = double(1u << CONFIG_T::exp_range_power2) / CONFIG_T::exp_table_size;
    for (unsigned i = 0; i < CONFIG_T::exp_table_size; i++) {
        table[i] = std::exp(-step * i);
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void self_attention(data_T data[CONFIG_T::seq_len * CONFIG_T::d_model], res_T res[CONFIG_T::seq_len * CONFIG_T::d_model],
                    typename CONFIG_T::wq_t wq[CONFIG_T::d_model * CONFIG_T::heads * CONFIG_T::head_dim],
                    typename CONFIG_T::bq_t bq[CONFIG_T::heads * CONFIG_T::head_dim],
                    typename CONFIG_T::wk_t wk[CONFIG_T::d_model * CONFIG_T::heads * CONFIG_T::head_dim],
                    typename CONFIG_T::bk_t bk[CONFIG_T::heads * CONFIG_T::head_dim],
                    typename CONFIG_T::wv_t wv[CONFIG_T::d_model * CONFIG_T::heads * CONFIG_T::head_dim],
                    typename CONFIG_T::bv_t bv[CONFIG_T::heads * CONFIG_T::head_dim],
                    typename CONFIG_T::wo_t wo[CONFIG_T::heads * CONFIG_T::head_dim * CONFIG_T::d_model],
                    typename CONFIG_T::bo_t bo[CONFIG_T::d_model]) {
    const unsigned T = CONFIG_T::seq_len, D = CONFIG_T::d_model, HD = CONFIG_T::heads * CONFIG_T::head_dim;
    const unsigned DH = CONFIG_T::head_dim;
    #pragma HLS PIPELINE II = CONFIG_T::reuse_factor

#ifdef __HLS_SYN__
    bool initialized = false;
    typename CONFIG_T::exp_table_t exp_table[CONFIG_T::exp_table_size];
#else
    static bool initialized = false;
    static typename CONFIG_T::exp_table_t exp_table[CONFIG_T::exp_table_size];
#endif
    if (!initialized) {
        init_attention_exp_table<CONFIG_T>(exp_table);
        initialized = true;
    }

    typename CONFIG_T::in_t x[T * D];
    typename CONFIG_T::proj_t q[T * HD], k[T * HD], v[T * HD];
    typename CONFIG_T::att_t att[T * HD];
    #pragma HLS ARRAY_PARTITION variable = x complete
    #pragma HLS ARRAY_PARTITION variable = q complete
    #pragma HLS ARRAY_PARTITION variable = k complete
    #pragma HLS ARRAY_PARTITION variable = v complete
    #pragma HLS ARRAY_PARTITION variable = att complete

    for (unsigned i = 0; i < T * D; i++) {
        x[i] = data[i];
    }

Projections:
    for (unsigned t = 0; t < T; t++) {
        for (unsigned j = 0; j < HD; j++) {
            typename CONFIG_T::accum_t aq = bq[j], ak = bk[j], av = bv[j];
            for (unsigned i = 0; i < D; i++) {
                aq += x[t * D + i] * wq[i * HD + j];
                ak += x[t * D + i] * wk[i * HD + j];
                av += x[t * D + i] * wv[i * HD + j];
            }
            q[t * HD + j] = aq;
            k[t * HD + j] = ak;
            v[t * HD + j] = av;
        }
    }

    const typename CONFIG_T::scale_t scale = 1.0 / std::sqrt(double(DH));
    const unsigned top = CONFIG_T::exp_table_size;
    // Table entries per unit of d (exact for power-of-two table sizes and ranges).
    const ap_ufixed<32, 16> per_unit = double(top) / double(1u << CONFIG_T::exp_range_power2);
    const int range = 1 << CONFIG_T::exp_range_power2;

Heads:
    for (unsigned h = 0; h < CONFIG_T::heads; h++) {
    Queries:
        for (unsigned i = 0; i < T; i++) {
            typename CONFIG_T::score_t score[T];
            typename CONFIG_T::exp_table_t weight[T];
            #pragma HLS ARRAY_PARTITION variable = score complete
            #pragma HLS ARRAY_PARTITION variable = weight complete
            typename CONFIG_T::score_t best = 0;
            for (unsigned j = 0; j < T; j++) {
                typename CONFIG_T::accum_t dot = 0;
                for (unsigned d = 0; d < DH; d++) {
                    dot += q[i * HD + h * DH + d] * k[j * HD + h * DH + d];
                }
                score[j] = dot * scale;
                if (j == 0 || score[j] > best)
                    best = score[j];
            }
            typename CONFIG_T::sum_t sum = 0;
            for (unsigned j = 0; j < T; j++) {
                typename CONFIG_T::accum_t gap = best - score[j]; // >= 0
                weight[j] = 0;
                if (gap < range) {
                    // nearest entry: floor(d * per_unit + 1/2)
                    ap_ufixed<64, 32> position = ap_ufixed<64, 32>(gap) * per_unit;
                    unsigned index = (unsigned)(position + ap_ufixed<2, 0>(0.5));
                    if (index < top)
                        weight[j] = exp_table[index];
                }
                sum += weight[j];
            }
            // ap_fixed division truncates the quotient to at least inv_t's F fractional bits, so with a
            // truncating inv_t this is floor(2^F / sum) / 2^F.
            typename CONFIG_T::inv_t inv = typename CONFIG_T::inv_t(1) / sum;
            for (unsigned d = 0; d < DH; d++) {
                typename CONFIG_T::accum_t acc = 0;
                for (unsigned j = 0; j < T; j++) {
                    acc += weight[j] * v[j * HD + h * DH + d];
                }
                att[i * HD + h * DH + d] = acc * inv;
            }
        }
    }

Output:
    for (unsigned t = 0; t < T; t++) {
        for (unsigned j = 0; j < D; j++) {
            typename CONFIG_T::accum_t acc = bo[j];
            for (unsigned i = 0; i < HD; i++) {
                acc += att[t * HD + i] * wo[i * D + j];
            }
            res[t * D + j] = acc;
        }
    }
}

} // namespace nnet

#endif
