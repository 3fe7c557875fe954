// Kernels with deliberate bugs that the emulator must catch (tests/test_emulator.py). Each one
// compiles cleanly (the compile gate checks that too): the bugs only show when it runs.
//
// @budget * registers=40 shared=2048

#define TILE 16

// The tiled SGEMM of emu_sgemm_tiled.cu without the barrier that keeps the next tile's loads from
// overwriting the one still being read: the result depends on the order the threads run in.
extern "C" __global__ void sgemm_missing_barrier(const float* __restrict__ a,
                                                 const float* __restrict__ b,
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
        for (int i = 0; i < TILE; ++i) acc = fmaf(as[ty][i], bs[i][tx], acc);
        // BUG: no __syncthreads() here
    }
    if (row < m && col < n) c[(size_t)row * n + col] = acc;
}

// Reads shared memory that no thread wrote (thread i reads slot i + 1, but only the first
// blockDim.x - 1 ... are written): poisoned shared memory turns the read into NaN.
extern "C" __global__ void read_unwritten_shared(float* out, int n) {
    __shared__ float s[256];
    const int i = threadIdx.x;
    if (i + 1 < (int)blockDim.x) s[i] = 1.0f;  // BUG: s[blockDim.x - 1] is never written
    __syncthreads();
    if (i < n) out[i] = s[(i + 1) % blockDim.x];
}

// Off-by-one bound: reads x[n].
extern "C" __global__ void oob_read(const float* __restrict__ x, float* __restrict__ y, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) y[i < n ? i : 0] += x[i];  // BUG: i == n reads past the end
}

// Off-by-one bound: writes y[n].
extern "C" __global__ void oob_write(const float* __restrict__ x, float* __restrict__ y, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i <= n) y[i] = 2.f * x[i < n ? i : 0];  // BUG: i == n writes past the end
}

// Reads far past the end (a wrong stride), into the guard page.
extern "C" __global__ void oob_read_far(const float* __restrict__ x, float* __restrict__ y, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = x[(size_t)i * 4096];  // BUG: stride 4096 instead of 1
}

// Writes through a pointer to const (casting the const away).
extern "C" __global__ void write_const(const float* __restrict__ x, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) const_cast<float*>(x)[i] = 0.f;  // BUG
}

// Half the block waits at one barrier, half at another.
extern "C" __global__ void divergent_barrier(float* x) {
    if (threadIdx.x < blockDim.x / 2) {
        x[threadIdx.x] = 1.f;
        __syncthreads();  // BUG: the other half never gets here
    } else {
        __syncthreads();
        x[threadIdx.x] = 2.f;
    }
}

// Warp 0 waits in a full-warp shuffle whose lane 31 is stuck at a block barrier that warp 0 never
// reaches: no thread can proceed.
extern "C" __global__ void deadlock(float* x) {
    float v = x[threadIdx.x];
    if (threadIdx.x == 31) {
        __syncthreads();  // BUG: lanes 0..30 never arrive here, lane 31 never reaches the shuffle
    } else if (threadIdx.x < 32) {
        v += __shfl_down_sync(0xffffffffu, v, 1);
    } else {
        __syncthreads();
    }
    x[threadIdx.x] = v;
}

// A warp reduction whose full mask names lanes that returned early.
extern "C" __global__ void shuffle_after_return(float* x, int n) {
    const int i = threadIdx.x;
    if (i >= n) return;  // BUG: lanes >= n leave, but the mask below still names them
    float v = x[i];
    for (int d = 16; d > 0; d >>= 1) v += __shfl_down_sync(0xffffffffu, v, d);
    if (i == 0) x[0] = v;
}

// Device-side assert.
extern "C" __global__ void device_assert(const int* flags, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) assert(flags[i] == 0);
}

// A float4 load from a pointer that is not 16-byte aligned (no alignment check before it).
extern "C" __global__ void misaligned_float4(const float* __restrict__ x, float* __restrict__ y,
                                             int n4) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n4) {
        const float4 v = reinterpret_cast<const float4*>(x)[i];  // BUG when x is not aligned
        y[i] = v.x + v.y + v.z + v.w;
    }
}

// Indexes a __shared__ array past its end.
extern "C" __global__ void shared_index_oob(float* out) {
    __shared__ float s[32];
    s[threadIdx.x] = (float)threadIdx.x;  // BUG when blockDim.x > 32
    __syncthreads();
    out[threadIdx.x] = s[threadIdx.x % 32];
}

// Dynamic shared memory written past the size the launch asked for.
extern "C" __global__ void dynamic_smem_overrun(float* out, int n) {
    extern __shared__ float dyn[];
    dyn[threadIdx.x] = 1.f;  // BUG when blockDim.x * 4 > shared_mem
    __syncthreads();
    if ((int)threadIdx.x < n) out[threadIdx.x] = dyn[threadIdx.x];
}

// Calls __trap().
extern "C" __global__ void trap_kernel(int code) {
    if (code == (int)threadIdx.x) __trap();
}

// Writes through a null pointer (the caller passes None): a real SIGSEGV inside a CUDA thread.
extern "C" __global__ void null_write(float* p) { p[threadIdx.x] = 1.f; }

// A local array far larger than the emulator's per-thread stack.
extern "C" __global__ void stack_overflow(float* out, int i) {
    volatile float big[100000];  // 400 KB
    big[i % 100000] = 1.f;
    out[threadIdx.x] = big[(i * 7) % 100000];
}

// Integer division by zero (garbage on a GPU, a trap on the CPU).
extern "C" __global__ void divide(const int* __restrict__ a, int* __restrict__ b) {
    b[threadIdx.x] = a[threadIdx.x] / b[threadIdx.x];
}

// Device-side printf.
extern "C" __global__ void say(int v) {
    if (threadIdx.x == 1) printf("hello from thread %d: %d\n", (int)threadIdx.x, v);
}

// Clears one element too many with libc's memset, which the access checks cannot see into: the
// emulator finds the overwritten bytes after the launch.
extern "C" __global__ void memset_overrun(float* y, int n) {
    if (threadIdx.x == 0) memset(y, 0, (size_t)(n + 1) * sizeof(float));
}

// Only block 0 writes the shared slot, every block reads it: on a GPU a later block on the same SM
// may find block 0's value still there, so the emulator poisons shared memory at every block start.
extern "C" __global__ void shared_from_previous_block(float* out) {
    __shared__ float s[1];
    if (blockIdx.x == 0 && threadIdx.x == 0) s[0] = 1.f;  // BUG: other blocks read s[0] unwritten
    __syncthreads();
    if (threadIdx.x == 0) out[blockIdx.x] = s[0];
}
