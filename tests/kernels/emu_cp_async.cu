// cp.async in the emulator (tests/test_emulator.py): a correct three-stage pipeline, and the same
// pipeline with planted bugs the emulator must catch. The copies are inline PTX on the GPU and the
// pipeline primitives the emulator provides under __CUEMU__ (DESIGN.md §4).
//
// Each of the 64 threads copies one float4 of a 256-float tile into a stage of dynamic shared memory
// and then reads the float4 its neighbour (tid + 1) copied, so the read needs the neighbour's wait
// and a barrier after it.
//
// @budget * registers=48 shared=0

#define STAGES 3
#define THREADS 64

__device__ __forceinline__ void cp_async16(void* dst, const void* src, int src_bytes) {
#ifdef __CUEMU__
    __pipeline_memcpy_async(dst, src, 16, (size_t)(16 - src_bytes));
#else
    const unsigned s = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(src_bytes)
                 : "memory");
#endif
}

__device__ __forceinline__ void cp_async_commit() {
#ifdef __CUEMU__
    __pipeline_commit();
#else
    asm volatile("cp.async.commit_group;\n" ::: "memory");
#endif
}

template <int N>
__device__ __forceinline__ void cp_async_wait() {
#ifdef __CUEMU__
    __pipeline_wait_prior(N);
#else
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
#endif
}

// Copies tile t's chunk of this thread (floats [4*tid, 4*tid+4) of the tile) into `dst`; floats at
// or past n are zero-filled, and a chunk wholly past n reads nothing.
__device__ __forceinline__ void issue(float4* dst, const float* x, int t, int n) {
    const int first = t * 4 * THREADS + 4 * (int)threadIdx.x;
    int bytes = (n - first) * 4;
    bytes = bytes < 0 ? 0 : (bytes > 16 ? 16 : bytes);
    cp_async16(dst, bytes > 0 ? x + first : x, bytes);
}

// out[i] = x[i] for i < n, 0 up to ntiles * 256, staged through a 3-deep cp.async pipeline.
// mode 0: correct. mode 1 (BUG): no wait at all. mode 2 (BUG): waits for one group too few, so the
// tile it reads has not landed. mode 3 (BUG): no __syncthreads between the wait and reading the
// neighbour's chunk. x must be 16-byte aligned.
extern "C" __global__ void pipeline_copy(const float* __restrict__ x, float* __restrict__ out,
                                         int n, int ntiles, int mode) {
    extern __shared__ float4 stage[];  // STAGES * THREADS float4
    const int tid = threadIdx.x;
    for (int s = 0; s < STAGES - 1; ++s) {
        if (s < ntiles) issue(&stage[s * THREADS + tid], x, s, n);
        cp_async_commit();
    }
    for (int t = 0; t < ntiles; ++t) {
        if (mode == 0 || mode == 3) cp_async_wait<STAGES - 2>();
        if (mode == 2) cp_async_wait<STAGES - 1>();  // BUG (mode 2)
        if (mode != 3) __syncthreads();              // BUG (mode 3) when skipped
        const int from = (tid + 1) % THREADS;
        const float4 v = stage[(t % STAGES) * THREADS + from];
        float* o = out + (size_t)t * 4 * THREADS + 4 * from;
        o[0] = v.x; o[1] = v.y; o[2] = v.z; o[3] = v.w;
        // The stage of tile t - 1: every thread finished reading it before the barrier above.
        if (t + STAGES - 1 < ntiles)
            issue(&stage[((t + STAGES - 1) % STAGES) * THREADS + tid], x, t + STAGES - 1, n);
        cp_async_commit();
    }
    cp_async_wait<0>();
}
