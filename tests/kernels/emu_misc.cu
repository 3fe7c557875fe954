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
