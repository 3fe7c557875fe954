// Loss kernels: softmax cross-entropy with sparse (class index) labels, and the squared error,
// forward and backward. They serve the kernel paths of the loss operators (gpuparams/ops/loss.py)
// and the captured training step (gpuparams/graph_step.py), which needs every launch of a step to
// be ours.
//
//   softmax_ce_fwd:  m = max_c x[r,c], ls = log(sum_c exp(x[r,c] - m)), loss[r] = ls - (x[r,k] - m)
//   softmax_ce_bwd:  dx[r,c] = g[r] * (exp((x[r,c] - m) - ls) - (c == k))
//   l2_fwd:          out = (p - y)^2                       (elementwise)
//   l2_bwd:          dp = g * (2*(p - y))                  (elementwise)
//   l2_rows:         loss[r] = (sum_j (p - y)^2 * scale) / cols;  dp = gscale * (2*(p - y))
//
// k = the row's label, read as a float and clipped to [0, classes-1] (MXNet's pick(mode='clip')):
// the operator checks labels on the host where that costs nothing, a GPU never synchronises for it.
// Reductions run in a fixed order (a shared-memory tree over the 128 threads of a block), so the
// results do not depend on scheduling: a captured step replays bit for bit.
//
// Row kernels: one block of 128 threads per row, grid-stride over rows. Elementwise kernels:
// grid-stride, 256 threads, size_t indices.
//
// @budget softmax_ce_fwd registers=40 shared=512
// @budget l2_rows registers=32 shared=512
// @budget * registers=32 shared=0

#define GP_ROW_THREADS 128

// Tree reduction over the 128 threads of a block; every thread gets the result. `op` is 0 for a
// sum, 1 for a maximum. The trailing barrier lets the caller reuse `buf` straight away.
__device__ __forceinline__ float block_reduce(float v, float* buf, int op) {
    const int t = threadIdx.x;
    buf[t] = v;
    __syncthreads();
    for (int half = GP_ROW_THREADS / 2; half > 0; half /= 2) {
        if (t < half) {
            const float a = buf[t], b = buf[t + half];
            buf[t] = op ? fmaxf(a, b) : a + b;
        }
        __syncthreads();
    }
    const float r = buf[0];
    __syncthreads();
    return r;
}

__device__ __forceinline__ size_t label_index(float label, int classes) {
    // NaN goes to class 0 (fmaxf returns the other operand), as clipping does on a GPU.
    const float c = fminf(fmaxf(label, 0.f), (float)(classes - 1));
    return (size_t)c;
}

// The shifted logit x - max, except in a row whose max is +inf: there the +inf entries are 0 and
// the others -inf, so that the k entries at +inf share the probability (log-softmax -log k, loss
// log k or +inf) instead of giving inf - inf = NaN. A row that is all -inf has no distribution and
// gives NaN, as the formula does. A NaN stays NaN: fmaxf skips NaN, so a row holding NaN and +inf
// has m = +inf, and mapping its NaN to -inf would hide it. (The array path of the operator,
// stable_log_softmax in gpuparams/ops/_core.py, gives the same: NaN for the whole row.)
__device__ __forceinline__ float shifted_logit(float x, float m) {
    const float inf = __int_as_float(0x7f800000);
    if (m == inf) return x == inf ? 0.f : (x != x ? x : -inf);
    return x - m;
}

// stats[r] = {max of the row, log of the sum of exp(shifted logits)}; kept apart (not added into
// one log-sum-exp) so that the backward's x - max stays exact next to large logits.
extern "C" __global__ void __launch_bounds__(128)
softmax_ce_fwd(const float* __restrict__ x, const float* __restrict__ label,
               float* __restrict__ loss, float* __restrict__ stats, int rows, int classes) {
    __shared__ float buf[GP_ROW_THREADS];
    for (size_t r = blockIdx.x; r < (size_t)rows; r += gridDim.x) {
        const float* row = x + r * (size_t)classes;
        float m = -__int_as_float(0x7f800000);  // -inf (no <math.h> in NVRTC)
        for (size_t c = threadIdx.x; c < (size_t)classes; c += GP_ROW_THREADS) m = fmaxf(m, row[c]);
        m = block_reduce(m, buf, 1);
        float s = 0.f;
        for (size_t c = threadIdx.x; c < (size_t)classes; c += GP_ROW_THREADS)
            s += expf(shifted_logit(row[c], m));
        s = block_reduce(s, buf, 0);
        if (threadIdx.x == 0) {
            const float logs = logf(s);
            stats[2 * r] = m;
            stats[2 * r + 1] = logs;
            loss[r] = logs - shifted_logit(row[label_index(label[r], classes)], m);
        }
    }
}

extern "C" __global__ void __launch_bounds__(256)
softmax_ce_bwd(const float* __restrict__ x, const float* __restrict__ label,
               const float* __restrict__ stats, const float* __restrict__ g, float* __restrict__ dx,
               int rows, int classes) {
    const size_t total = (size_t)rows * (size_t)classes;
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < total; e += stride) {
        const size_t r = e / (size_t)classes, c = e % (size_t)classes;
        const float onehot = c == label_index(label[r], classes) ? 1.f : 0.f;
        const float prob = expf(shifted_logit(x[e], stats[2 * r]) - stats[2 * r + 1]);
        dx[e] = g[r] * (prob - onehot);
    }
}

extern "C" __global__ void __launch_bounds__(256)
l2_fwd(const float* __restrict__ p, const float* __restrict__ y, float* __restrict__ out, int n) {
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < (size_t)n; e += stride) {
        const float d = p[e] - y[e];
        out[e] = d * d;
    }
}

extern "C" __global__ void __launch_bounds__(256)
l2_bwd(const float* __restrict__ p, const float* __restrict__ y, const float* __restrict__ g,
       float* __restrict__ dp, int n) {
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < (size_t)n; e += stride) {
        const float d2 = 2.f * (p[e] - y[e]);
        dp[e] = g[e] * d2;
    }
}

// The L2Loss block in one launch (forward and the gradient of sum(loss) with respect to p): the
// row sum runs in order c = 0, 1, ... (thread 0 adds the products the block wrote to shared memory
// in chunks of 128), the gradient is elementwise with the host's gscale = (1/cols) * (weight/2).
extern "C" __global__ void __launch_bounds__(128)
l2_rows(const float* __restrict__ p, const float* __restrict__ y, float* __restrict__ loss,
        float* __restrict__ dp, int rows, int cols, float scale, float gscale) {
    __shared__ float buf[GP_ROW_THREADS];
    for (size_t r = blockIdx.x; r < (size_t)rows; r += gridDim.x) {
        const size_t base = r * (size_t)cols;
        float s = 0.f;
        for (size_t c0 = 0; c0 < (size_t)cols; c0 += GP_ROW_THREADS) {
            const size_t c = c0 + threadIdx.x;
            if (c < (size_t)cols) {
                const float d = p[base + c] - y[base + c];
                buf[threadIdx.x] = (d * d) * scale;
                dp[base + c] = gscale * (2.f * d);
            }
            __syncthreads();
            if (threadIdx.x == 0) {
                const size_t m = (size_t)cols - c0 < GP_ROW_THREADS ? (size_t)cols - c0 : GP_ROW_THREADS;
                for (size_t k = 0; k < m; ++k) s += buf[k];
            }
            __syncthreads();
        }
        if (threadIdx.x == 0) loss[r] = s / (float)cols;
    }
}
