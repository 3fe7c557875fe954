// Test kernel for the emulator and the compile gate: C (M, N) = A (M, K) · B (K, N), row-major
// float32, register-tiled. A block (16, 16) computes a 64×64 tile of C, each thread a 4×4 register
// tile; K advances in steps of 8 through shared memory. Global loads and stores use float4 when the
// base pointer is 16-byte aligned and the row length is a multiple of 4 (the aligned fast path), and
// fall back to scalar accesses otherwise and for the partial groups at the edges (the tail).
// Grid (ceil(N/64), ceil(M/64)).
//
// @budget sgemm_reg registers=96 shared=4096

#define BM 64
#define BN 64
#define BK 8
#define TM 4
#define TN 4

__device__ __forceinline__ bool aligned16(const void* p) {
    return (reinterpret_cast<size_t>(p) & 15u) == 0;
}

extern "C" __global__ void __launch_bounds__(256)
sgemm_reg(const float* __restrict__ a, const float* __restrict__ b, float* __restrict__ c,
          int m, int n, int k) {
    __shared__ __align__(16) float as[BK][BM];  // A tile, stored k-major
    __shared__ __align__(16) float bs[BK][BN];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int tid = ty * 16 + tx;
    const int row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;
    // Launch-uniform: float4 is only legal on 16-byte aligned addresses.
    const bool a_vec = aligned16(a) && (k % 4) == 0;
    const bool b_vec = aligned16(b) && (n % 4) == 0;
    const bool c_vec = aligned16(c) && (n % 4) == 0;

    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = 0.f;

    for (int k0 = 0; k0 < k; k0 += BK) {
        float v[4];
        if (tid < 128) {
            // A: 64 rows × 2 groups of 4 consecutive k
            const int r = tid >> 1, kq = (tid & 1) * 4;
            const int gr = row0 + r, gk = k0 + kq;
            if (a_vec && gr < m && gk + 3 < k) {
                const float4 q = *reinterpret_cast<const float4*>(a + (size_t)gr * k + gk);
                v[0] = q.x; v[1] = q.y; v[2] = q.z; v[3] = q.w;
            } else {
#pragma unroll
                for (int e = 0; e < 4; ++e)
                    v[e] = (gr < m && gk + e < k) ? a[(size_t)gr * k + gk + e] : 0.f;
            }
#pragma unroll
            for (int e = 0; e < 4; ++e) as[kq + e][r] = v[e];
        } else {
            // B: 8 rows × 16 groups of 4 consecutive n
            const int t = tid - 128;
            const int kr = t >> 4, cq = (t & 15) * 4;
            const int gk = k0 + kr, gc = col0 + cq;
            if (b_vec && gk < k && gc + 3 < n) {
                const float4 q = *reinterpret_cast<const float4*>(b + (size_t)gk * n + gc);
                v[0] = q.x; v[1] = q.y; v[2] = q.z; v[3] = q.w;
            } else {
#pragma unroll
                for (int e = 0; e < 4; ++e)
                    v[e] = (gk < k && gc + e < n) ? b[(size_t)gk * n + gc + e] : 0.f;
            }
            *reinterpret_cast<float4*>(&bs[kr][cq]) = make_float4(v[0], v[1], v[2], v[3]);
        }
        __syncthreads();
#pragma unroll
        for (int kk = 0; kk < BK; ++kk) {
            const float4 av = *reinterpret_cast<const float4*>(&as[kk][ty * TM]);
            const float4 bv = *reinterpret_cast<const float4*>(&bs[kk][tx * TN]);
            const float ar[TM] = {av.x, av.y, av.z, av.w};
            const float br[TN] = {bv.x, bv.y, bv.z, bv.w};
#pragma unroll
            for (int i = 0; i < TM; ++i)
#pragma unroll
                for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(ar[i], br[j], acc[i][j]);
        }
        __syncthreads();
    }

#pragma unroll
    for (int i = 0; i < TM; ++i) {
        const int gr = row0 + ty * TM + i;
        if (gr >= m) continue;
        const int gc = col0 + tx * TN;
        float* crow = c + (size_t)gr * n;
        if (c_vec && gc + 3 < n) {
            *reinterpret_cast<float4*>(crow + gc) = make_float4(acc[i][0], acc[i][1], acc[i][2], acc[i][3]);
        } else {
#pragma unroll
            for (int j = 0; j < TN; ++j)
                if (gc + j < n) crow[gc + j] = acc[i][j];
        }
    }
}
