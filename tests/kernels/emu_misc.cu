// Test kernels for the emulator and the compile gate: warp intrinsics, half precision, pointer
// alignment, aliasing and null pointers.
//
// @budget * registers=40 shared=0

#include <cuda_fp16.h>

// Every warp intrinsic on one full warp (block 32): out[k * 32 + lane] is result k of `lane`.
extern "C" __global__ void warp_ops(const int* __restrict__ in, int* __restrict__ out) {
    const int lane = threadIdx.x;
    const int v = in[lane];
    int k = 0;
    out[32 * k++ + lane] = (int)__ballot_sync(0xffffffffu, v > 0);
    out[32 * k++ + lane] = __any_sync(0xffffffffu, v > 100);
    out[32 * k++ + lane] = __all_sync(0xffffffffu, v > -100);
    out[32 * k++ + lane] = __shfl_sync(0xffffffffu, v, (lane + 3) % 32);
    out[32 * k++ + lane] = __shfl_sync(0xffffffffu, v, lane + 5, 16);  // index mod width, in segment
    out[32 * k++ + lane] = __shfl_up_sync(0xffffffffu, v, 1);
    out[32 * k++ + lane] = __shfl_down_sync(0xffffffffu, v, 2, 8);
    out[32 * k++ + lane] = __shfl_xor_sync(0xffffffffu, v, 1);
    out[32 * k++ + lane] = __shfl_xor_sync(0xffffffffu, v, 8, 16);
    // the lower half of the warp alone
    int half_sum = -1;
    if (lane < 16) {
        half_sum = v;
        for (int d = 8; d > 0; d >>= 1) half_sum += __shfl_xor_sync(0x0000ffffu, half_sum, d);
    }
    __syncwarp();
    out[32 * k++ + lane] = half_sum;
    out[32 * k++ + lane] = (int)__reduce_add_sync(0xffffffffu, (unsigned)v);
    out[32 * k++ + lane] = __popc(__activemask());
}

// h = half(x) (round to nearest even), y = float(h).
extern "C" __global__ void half_roundtrip(const float* __restrict__ x, __half* __restrict__ h,
                                          float* __restrict__ y, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        const __half v = __float2half(x[i]);
        h[i] = v;
        y[i] = __half2float(v);
    }
}

// out[0] = address of p modulo 256 (what alignment the kernel sees).
extern "C" __global__ void pointer_alignment(const float* p, unsigned* out) {
    if (threadIdx.x == 0) out[0] = (unsigned)(reinterpret_cast<size_t>(p) & 255u);
}

// y[i] = x[i] * s, where x and y may be the same array (in place); bias may be null.
extern "C" __global__ void scale_bias(const float* x, float* y, const float* bias, float s, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = x[i] * s + (bias ? bias[i] : 0.f);
}

// The math functions, intrinsics, vector types and atomics issue 5 lists beyond the GEMM and
// reduction kernels: float2 loads through __ldg, make_float2, dim3, __expf, rsqrtf, fmaf, tanhf and
// a double atomicAdd. out[4 i + k] is result k of element i; *total gets the sum of every x.
extern "C" __global__ void math_and_vectors(const float2* __restrict__ xy, float* __restrict__ out,
                                            double* __restrict__ total, int n) {
    const dim3 block = blockDim;
    const size_t i = (size_t)blockIdx.x * block.x + threadIdx.x;
    if (i >= (size_t)n) return;
    const float2 v = __ldg(xy + i);
    const float2 w = make_float2(v.x, fabsf(v.y) + 0.5f);
    out[4 * i + 0] = __expf(w.x);
    out[4 * i + 1] = rsqrtf(w.y);
    out[4 * i + 2] = fmaf(w.x, w.y, 1.f);
    out[4 * i + 3] = tanhf(w.x);
    atomicAdd(total, (double)v.x);
}
