// Graph message passing on a fixed-size set of nodes for hls4ml io_parallel projects (hepfpga extension).
//
// Nodes: n_nodes x n_feat, row-major. Edges j -> i: every j != i, or (k > 0) the k nearest j of node i by
// squared Euclidean distance over the feature columns coord_first .. coord_first + n_coord - 1 (ties:
// the lower index first). Message: m_ij = relu(x_i We_i + x_j We_j + be) (n_edge features; the edge MLP
// on the concatenated pair, split so each node's halves are computed once). Aggregation over incoming
// edges: sum, mean or max (aggr = 0, 1, 2; the mean as a product with 1/degree). Update:
// h_i = relu(x_i Wn_x + a_i Wn_a + bn) (n_out features). The input is first converted to in_t.
#ifndef NNET_MESSAGE_PASSING_H_
#define NNET_MESSAGE_PASSING_H_

#include "nnet_common.h"

namespace nnet {

struct message_passing_config {
    static const unsigned n_nodes = 8;
    static const unsigned n_feat = 3;
    static const unsigned n_edge = 16;
    static const unsigned n_out = 16;
    static const unsigned k = 0; // 0: complete graph
    static const unsigned coord_first = 1;
    static const unsigned n_coord = 2;
    static const unsigned aggr = 0; // 0 sum, 1 mean, 2 max
    static const unsigned reuse_factor = 1;
    typedef float in_t;    // the input, converted first
    typedef float accum_t;
    typedef float half_t;  // x_i We_i + be and x_j We_j
    typedef float msg_t;   // messages
    typedef float agg_t;   // aggregated messages
    typedef float dist_t;  // squared distances
};

template <class data_T, class res_T, typename CONFIG_T>
void message_passing(data_T data[CONFIG_T::n_nodes * CONFIG_T::n_feat], res_T res[CONFIG_T::n_nodes * CONFIG_T::n_out],
                     typename CONFIG_T::we_self_t we_self[CONFIG_T::n_feat * CONFIG_T::n_edge],
                     typename CONFIG_T::we_other_t we_other[CONFIG_T::n_feat * CONFIG_T::n_edge],
                     typename CONFIG_T::be_t be[CONFIG_T::n_edge],
                     typename CONFIG_T::wn_x_t wn_x[CONFIG_T::n_feat * CONFIG_T::n_out],
                     typename CONFIG_T::wn_a_t wn_a[CONFIG_T::n_edge * CONFIG_T::n_out],
                     typename CONFIG_T::bn_t bn[CONFIG_T::n_out]) {
    const unsigned N = CONFIG_T::n_nodes, F = CONFIG_T::n_feat, H = CONFIG_T::n_edge, O = CONFIG_T::n_out;
    #pragma HLS PIPELINE II = CONFIG_T::reuse_factor

    typename CONFIG_T::in_t x[N * F];
    #pragma HLS ARRAY_PARTITION variable = x complete
    for (unsigned i = 0; i < N * F; i++) {
        x[i] = data[i];
    }

    typename CONFIG_T::half_t self_half[N * H], other_half[N * H];
    #pragma HLS ARRAY_PARTITION variable = self_half complete
    #pragma HLS ARRAY_PARTITION variable = other_half complete
Halves:
    for (unsigned n = 0; n < N; n++) {
        for (unsigned h = 0; h < H; h++) {
            typename CONFIG_T::accum_t s = be[h], o = 0;
            for (unsigned f = 0; f < F; f++) {
                s += x[n * F + f] * we_self[f * H + h];
                o += x[n * F + f] * we_other[f * H + h];
            }
            self_half[n * H + h] = s;
            other_half[n * H + h] = o;
        }
    }

Nodes:
    for (unsigned i = 0; i < N; i++) {
        // Incoming edges of node i.
        bool edge[N];
        #pragma HLS ARRAY_PARTITION variable = edge complete
        for (unsigned j = 0; j < N; j++)
            edge[j] = (j != i) && CONFIG_T::k == 0;
        if (CONFIG_T::k > 0) {
            typename CONFIG_T::dist_t dist[N];
            #pragma HLS ARRAY_PARTITION variable = dist complete
            for (unsigned j = 0; j < N; j++) {
                typename CONFIG_T::dist_t d = 0;
                for (unsigned c = 0; c < CONFIG_T::n_coord; c++) {
                    typename CONFIG_T::accum_t delta =
                        x[j * F + CONFIG_T::coord_first + c] - x[i * F + CONFIG_T::coord_first + c];
                    d += delta * delta;
                }
                dist[j] = d;
            }
            for (unsigned n = 0; n < CONFIG_T::k; n++) { // k times: the nearest node not yet chosen
                int best = -1;
                for (unsigned j = 0; j < N; j++) {
                    if (j != i && !edge[j] && (best < 0 || dist[j] < dist[best]))
                        best = j;
                }
                if (best >= 0)
                    edge[best] = true;
            }
        }

        typename CONFIG_T::agg_t agg[H];
        #pragma HLS ARRAY_PARTITION variable = agg complete
        for (unsigned h = 0; h < H; h++) {
            typename CONFIG_T::accum_t a = 0; // messages are >= 0 (ReLU), so 0 also starts the max
            for (unsigned j = 0; j < N; j++) {
                if (!edge[j])
                    continue;
                typename CONFIG_T::accum_t pre = self_half[i * H + h] + other_half[j * H + h];
                typename CONFIG_T::msg_t m = pre > 0 ? typename CONFIG_T::msg_t(pre) : typename CONFIG_T::msg_t(0);
                if (CONFIG_T::aggr == 2)
                    a = m > a ? typename CONFIG_T::accum_t(m) : a;
                else
                    a += m;
            }
            if (CONFIG_T::aggr == 1) { // mean: times 1/degree, truncated to 17 fractional bits
                const unsigned degree = CONFIG_T::k > 0 ? CONFIG_T::k : N - 1;
                agg[h] = a * ap_ufixed<18, 1>(1.0 / degree);
            } else {
                agg[h] = a;
            }
        }

        for (unsigned o = 0; o < O; o++) {
            typename CONFIG_T::accum_t acc = bn[o];
            for (unsigned f = 0; f < F; f++)
                acc += x[i * F + f] * wn_x[f * O + o];
            for (unsigned h = 0; h < H; h++)
                acc += agg[h] * wn_a[h * O + o];
            res[i * O + o] = acc > 0 ? res_T(acc) : res_T(0);
        }
    }
}

} // namespace nnet

#endif
