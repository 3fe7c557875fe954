// Emulator stand-in for CUDA's <mma.h>: nvcuda::wmma as a sequential reference implementation.
//
// On a GPU a fragment is spread over the 32 lanes of a warp. Here every lane holds the whole tile
// (num_elements is the tile size), which keeps element-wise loops over frag.x[i] correct, and every
// wmma call is a warp collective over all 32 lanes (so a divergent call is reported like a divergent
// __syncwarp). store_matrix_sync writes each element from one lane only (element e from lane e % 32),
// as the hardware does, so a lane reading another lane's stored elements without a __syncwarp()
// sees the race it would have on the GPU.
#ifndef CUEMU_MMA_H
#define CUEMU_MMA_H

#include "cuda_fp16.h"

namespace nvcuda {
namespace wmma {

struct matrix_a {};
struct matrix_b {};
struct accumulator {};
struct row_major {};
struct col_major {};
enum layout_t { mem_row_major, mem_col_major };

namespace detail {
template <class Use, int M, int N, int K> struct shape;
template <int M, int N, int K> struct shape<matrix_a, M, N, K> { static const int rows = M, cols = K; };
template <int M, int N, int K> struct shape<matrix_b, M, N, K> { static const int rows = K, cols = N; };
template <int M, int N, int K> struct shape<accumulator, M, N, K> { static const int rows = M, cols = N; };

template <int M, int N, int K> struct valid_shape { static const bool value = false; };
template <> struct valid_shape<16, 16, 16> { static const bool value = true; };
template <> struct valid_shape<32, 8, 16> { static const bool value = true; };
template <> struct valid_shape<8, 32, 16> { static const bool value = true; };

inline void collective(const char* file, int line) {
    ::cuemu_warp(cuemu::OP_WMMA, 0xffffffffu, 0, 0, 32, file, line);
}
}  // namespace detail

template <class Use, int M, int N, int K, class T, class Layout = void>
class fragment {
    static_assert(detail::valid_shape<M, N, K>::value,
                  "the emulator's wmma supports the half-precision shapes m16n16k16, m32n8k16, m8n32k16");

public:
    typedef T element_type;
    static const int rows = detail::shape<Use, M, N, K>::rows;
    static const int cols = detail::shape<Use, M, N, K>::cols;
    static const int num_elements = rows * cols;
    T x[num_elements];  // row-major, whatever the memory layout it was loaded from
};

template <class Use, int M, int N, int K, class T, class L>
inline void fill_fragment(fragment<Use, M, N, K, T, L>& f, const T& v) {
    for (int i = 0; i < f.num_elements; ++i) f.x[i] = v;
}
template <class Use, int M, int N, int K, class T, class L, class V>
inline void fill_fragment(fragment<Use, M, N, K, T, L>& f, const V& v) {
    fill_fragment(f, T(v));
}

template <class Use, int M, int N, int K, class T, class L>
inline void load_matrix_sync(fragment<Use, M, N, K, T, L>& f, const T* p, unsigned ldm,
                             CUEMU_LOC) {
    static_assert(!std::is_same<Use, accumulator>::value,
                  "loading an accumulator needs the memory layout argument");
    detail::collective(CUEMU_AT);
    const bool rowm = std::is_same<L, row_major>::value;
    for (int r = 0; r < f.rows; ++r)
        for (int c = 0; c < f.cols; ++c)
            f.x[r * f.cols + c] = rowm ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r];
}

template <int M, int N, int K, class T>
inline void load_matrix_sync(fragment<accumulator, M, N, K, T, void>& f, const T* p, unsigned ldm,
                             layout_t layout, CUEMU_LOC) {
    detail::collective(CUEMU_AT);
    for (int r = 0; r < f.rows; ++r)
        for (int c = 0; c < f.cols; ++c)
            f.x[r * f.cols + c] =
                layout == mem_row_major ? p[(size_t)r * ldm + c] : p[(size_t)c * ldm + r];
}

template <int M, int N, int K, class T>
inline void store_matrix_sync(T* p, const fragment<accumulator, M, N, K, T, void>& f, unsigned ldm,
                              layout_t layout, CUEMU_LOC) {
    detail::collective(CUEMU_AT);
    const int lane = cuemu::lane_id();
    for (int e = lane; e < f.num_elements; e += 32) {
        const int r = e / f.cols, c = e % f.cols;
        if (layout == mem_row_major)
            p[(size_t)r * ldm + c] = f.x[e];
        else
            p[(size_t)c * ldm + r] = f.x[e];
    }
}

// d = a·b + c, products of the (half) inputs accumulated in float.
template <int M, int N, int K, class TA, class LA, class TB, class LB, class TC>
inline void mma_sync(fragment<accumulator, M, N, K, TC, void>& d,
                     const fragment<matrix_a, M, N, K, TA, LA>& a,
                     const fragment<matrix_b, M, N, K, TB, LB>& b,
                     const fragment<accumulator, M, N, K, TC, void>& c, CUEMU_LOC) {
    detail::collective(CUEMU_AT);
    float out[M * N];
    for (int i = 0; i < M; ++i)
        for (int j = 0; j < N; ++j) {
            float acc = (float)c.x[i * N + j];
            for (int k = 0; k < K; ++k) acc = fmaf((float)a.x[i * K + k], (float)b.x[k * N + j], acc);
            out[i * N + j] = acc;
        }
    for (int e = 0; e < M * N; ++e) d.x[e] = TC(out[e]);
}

}  // namespace wmma
}  // namespace nvcuda

#endif  // CUEMU_MMA_H
