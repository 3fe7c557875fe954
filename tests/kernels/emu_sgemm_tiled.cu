// Test kernel for the emulator and the compile gate: C (M, N) = A (M, K) · B (K, N), row-major
// float32, staged through shared-memory tiles with a barrier after the loads and another before the
// next tile overwrites them. Block (TILE, TILE), grid (ceil(N/TILE), ceil(M/TILE)).
//
// @budget * registers=40 shared=2048

#define TILE 16

extern "C" __global__ void sgemm_tiled(const float* __restrict__ a, const float* __restrict__ b,
                                       float* __restrict__ c, int m, int n, int k) {
    __shared__ float as[TILE][TILE];
    __shared__ float bs[TILE][TILE];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int row = blockIdx.y * TILE + ty;
    const int col = blockIdx.x * TILE + tx;
    float acc = 0.f;
    for (int t = 0; t < k; t += TILE) {
        as[ty][tx] = (row < m && t + tx < k) ? a[(size_t)row * k + t + tx] : 0.f;
        bs[ty][tx] = (t + ty < k && col < n) ? b[(size_t)(t + ty) * n + col] : 0.f;
        __syncthreads();
#pragma unroll
        for (int i = 0; i < TILE; ++i) acc = fmaf(as[ty][i], bs[i][tx], acc);
        __syncthreads();
    }
    if (row < m && col < n) c[(size_t)row * n + col] = acc;
}
