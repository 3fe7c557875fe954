// Test kernel for the emulator and the compile gate: tensor-core GEMM through nvcuda::wmma.
// C (M, N) = A (M, K) · B (K, N) with A, B half (row-major) and C float; M, N, K multiples of 16.
// One warp (block 32) per 16×16 tile of C; grid (N/16, M/16).
//
// @budget wmma_gemm registers=64 shared=0

#include <cuda_fp16.h>
#include <mma.h>

using namespace nvcuda;

extern "C" __global__ void wmma_gemm(const __half* __restrict__ a, const __half* __restrict__ b,
                                     float* __restrict__ c, int m, int n, int k) {
    const int tm = blockIdx.y * 16, tn = blockIdx.x * 16;
    wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::row_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    wmma::fill_fragment(acc, 0.0f);
    for (int k0 = 0; k0 < k; k0 += 16) {
        wmma::load_matrix_sync(fa, a + (size_t)tm * k + k0, k);
        wmma::load_matrix_sync(fb, b + (size_t)k0 * n + tn, n);
        wmma::mma_sync(acc, fa, fb, acc);
    }
    wmma::store_matrix_sync(c + (size_t)tm * n + tn, acc, n, wmma::mem_row_major);
}
