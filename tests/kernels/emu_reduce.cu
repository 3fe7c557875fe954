// Test kernels for the emulator and the compile gate: reductions (warp shuffles, atomics), a
// histogram, block-wide barrier reductions and dynamic shared memory.
//
// @budget * registers=40 shared=128

#define FULL_MASK 0xffffffffu

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
    for (int d = 16; d > 0; d >>= 1) v += __shfl_down_sync(FULL_MASK, v, d);
    return v;
}

// partial[blockIdx.x] = sum of this block's grid-stride share of x. blockDim.x: a multiple of 32.
extern "C" __global__ void reduce_sum_shfl(const float* __restrict__ x, float* __restrict__ partial,
                                           int n) {
    __shared__ float warp_sums[32];
    float v = 0.f;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < (size_t)n;
         i += (size_t)gridDim.x * blockDim.x)
        v += x[i];
    v = warp_sum(v);
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    if (lane == 0) warp_sums[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < (int)(blockDim.x / 32) ? warp_sums[lane] : 0.f;
        v = warp_sum(v);
        if (lane == 0) partial[blockIdx.x] = v;
    }
}

// *out += sum of x, one atomicAdd per element.
extern "C" __global__ void reduce_sum_atomic(const float* __restrict__ x, float* __restrict__ out,
                                             int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) atomicAdd(out, x[i]);
}

// bins[v[i]]++ for 0 <= v[i] < nbins; also tracks the largest value seen.
extern "C" __global__ void histogram(const int* __restrict__ v, int* __restrict__ bins,
                                     int* __restrict__ vmax, int n, int nbins) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        const int b = v[i];
        if (b >= 0 && b < nbins) atomicAdd(&bins[b], 1);
        atomicMax(vmax, b);
    }
}

// counts[blockIdx.x] = (number of x > 0, all x > 0, any x > 0) over the block's elements.
extern "C" __global__ void barrier_reductions(const float* __restrict__ x, int* __restrict__ counts,
                                              int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    const int pred = i < n && x[i] > 0.f;
    const int count = __syncthreads_count(pred);
    const int all = __syncthreads_and(pred);
    const int any = __syncthreads_or(pred);
    if (threadIdx.x == 0) {
        counts[3 * blockIdx.x] = count;
        counts[3 * blockIdx.x + 1] = all;
        counts[3 * blockIdx.x + 2] = any;
    }
}

// y = x with every block's blockDim.x elements reversed; dynamic shared memory of blockDim.x floats.
extern "C" __global__ void block_reverse(const float* __restrict__ x, float* __restrict__ y, int n) {
    extern __shared__ float buf[];
    const int base = blockIdx.x * blockDim.x;
    const int t = threadIdx.x;
    const int cnt = min((int)blockDim.x, n - base);
    if (t < cnt) buf[t] = x[base + t];
    __syncthreads();
    if (t < cnt) y[base + t] = buf[cnt - 1 - t];
}

// out[b] = sum over x[b*len .. (b+1)*len), staged in dynamic shared memory of len doubles (for
// more than 48 KiB, launched after raising max_dynamic_shared_size_bytes).
extern "C" __global__ void staged_sum(const float* __restrict__ x, double* __restrict__ out, int len) {
    extern __shared__ double stage[];
    const float* src = x + (size_t)blockIdx.x * len;
    for (int i = threadIdx.x; i < len; i += blockDim.x) stage[i] = src[i];
    __syncthreads();
    if (threadIdx.x == 0) {
        double s = 0.0;
        for (int i = 0; i < len; ++i) s += stage[i];
        out[blockIdx.x] = s;
    }
}
