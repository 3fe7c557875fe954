// Optimizer updates: one launch per parameter, in place, no temporaries. The formulas are MXNet's
// (the CPU optimizer in gpuparams/optimizer.py computes the same):
//
//   SGD:           g = rescale*grad; clip; w = w - lr*(g + wd*w)
//   SGD+momentum:  g = rescale*grad; clip; mom = momentum*mom - lr*(g + wd*w); w = w + mom
//   Adam:          g = rescale*grad + wd*w; clip; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g*g;
//                  w = w - lr_t*m/(sqrt(v) + eps)     (lr_t carries the bias correction)
//
// "clip" means g = min(max(g, -clip), clip) and is skipped when clip < 0. Note SGD clips before
// adding weight decay and Adam after, as MXNet does.
//
// Grid-stride loops; float4 when every array is 16-byte aligned, scalar tail otherwise. 256 threads.
//
// The *_p variants read their hyperparameters from a small device array instead of scalar
// arguments, in the order of the structs' fields below. A captured training step (a CUDA graph,
// gpuparams/graph_step.py) launches them: the host writes the step's learning rate (Adam's lr_t
// changes every step), rescale_grad, ... into that array before each launch of the graph, so no
// value is frozen into it. Same arithmetic as the scalar kernels, bit for bit.
//
// @budget * registers=48 shared=0

__device__ __forceinline__ bool aligned16(const void* p) {
    return (reinterpret_cast<size_t>(p) & 15u) == 0;
}

__device__ __forceinline__ float clip1(float g, float clip) {
    return clip >= 0.f ? fminf(fmaxf(g, -clip), clip) : g;
}

struct Sgd {
    float lr, wd, rescale, clip;
    __device__ __forceinline__ void operator()(float& w, float grad) const {
        const float g = clip1(rescale * grad, clip);
        w = w - lr * (g + wd * w);
    }
};

struct SgdMom {
    float lr, momentum, wd, rescale, clip;
    __device__ __forceinline__ void operator()(float& w, float grad, float& mom) const {
        const float g = clip1(rescale * grad, clip);
        mom = momentum * mom - lr * (g + wd * w);
        w = w + mom;
    }
};

// 1 - beta comes from the host, computed in double: in float32, 1 - 0.999f keeps only ~4 digits.
struct Adam {
    float lr_t, beta1, one_minus_beta1, beta2, one_minus_beta2, eps, wd, rescale, clip;
    __device__ __forceinline__ void operator()(float& w, float grad, float& m, float& v) const {
        const float g = clip1(rescale * grad + wd * w, clip);
        m = beta1 * m + one_minus_beta1 * g;
        v = beta2 * v + one_minus_beta2 * g * g;
        w = w - lr_t * m / (sqrtf(v) + eps);
    }
};

#define GP_GRID_STRIDE_SETUP                                                   \
    const size_t tid = (size_t)blockIdx.x * blockDim.x + threadIdx.x;          \
    const size_t stride = (size_t)gridDim.x * blockDim.x;                      \
    const size_t total = (size_t)n;                                            \
    size_t done = 0;

template <class Op>
__device__ __forceinline__ void sgd_body(const Op& op, float* __restrict__ weight,
                                         const float* __restrict__ grad, int n) {
    GP_GRID_STRIDE_SETUP
    if (aligned16(weight) && aligned16(grad)) {
        const size_t n4 = total / 4;
        for (size_t q = tid; q < n4; q += stride) {
            float4 w = reinterpret_cast<float4*>(weight)[q];
            const float4 g = reinterpret_cast<const float4*>(grad)[q];
            op(w.x, g.x); op(w.y, g.y); op(w.z, g.z); op(w.w, g.w);
            reinterpret_cast<float4*>(weight)[q] = w;
        }
        done = n4 * 4;
    }
    for (size_t e = done + tid; e < total; e += stride) op(weight[e], grad[e]);
}

template <class Op>
__device__ __forceinline__ void sgd_mom_body(const Op& op, float* __restrict__ weight,
                                             const float* __restrict__ grad,
                                             float* __restrict__ mom, int n) {
    GP_GRID_STRIDE_SETUP
    if (aligned16(weight) && aligned16(grad) && aligned16(mom)) {
        const size_t n4 = total / 4;
        for (size_t q = tid; q < n4; q += stride) {
            float4 w = reinterpret_cast<float4*>(weight)[q];
            float4 m = reinterpret_cast<float4*>(mom)[q];
            const float4 g = reinterpret_cast<const float4*>(grad)[q];
            op(w.x, g.x, m.x); op(w.y, g.y, m.y); op(w.z, g.z, m.z); op(w.w, g.w, m.w);
            reinterpret_cast<float4*>(weight)[q] = w;
            reinterpret_cast<float4*>(mom)[q] = m;
        }
        done = n4 * 4;
    }
    for (size_t e = done + tid; e < total; e += stride) op(weight[e], grad[e], mom[e]);
}

template <class Op>
__device__ __forceinline__ void adam_body(const Op& op, float* __restrict__ weight,
                                          const float* __restrict__ grad, float* __restrict__ mean,
                                          float* __restrict__ var, int n) {
    GP_GRID_STRIDE_SETUP
    if (aligned16(weight) && aligned16(grad) && aligned16(mean) && aligned16(var)) {
        const size_t n4 = total / 4;
        for (size_t q = tid; q < n4; q += stride) {
            float4 w = reinterpret_cast<float4*>(weight)[q];
            float4 m = reinterpret_cast<float4*>(mean)[q];
            float4 v = reinterpret_cast<float4*>(var)[q];
            const float4 g = reinterpret_cast<const float4*>(grad)[q];
            op(w.x, g.x, m.x, v.x); op(w.y, g.y, m.y, v.y);
            op(w.z, g.z, m.z, v.z); op(w.w, g.w, m.w, v.w);
            reinterpret_cast<float4*>(weight)[q] = w;
            reinterpret_cast<float4*>(mean)[q] = m;
            reinterpret_cast<float4*>(var)[q] = v;
        }
        done = n4 * 4;
    }
    for (size_t e = done + tid; e < total; e += stride) op(weight[e], grad[e], mean[e], var[e]);
}

extern "C" __global__ void __launch_bounds__(256)
sgd_update(float* __restrict__ weight, const float* __restrict__ grad, int n,
           float lr, float wd, float rescale_grad, float clip_gradient) {
    sgd_body(Sgd{lr, wd, rescale_grad, clip_gradient}, weight, grad, n);
}

extern "C" __global__ void __launch_bounds__(256)
sgd_mom_update(float* __restrict__ weight, const float* __restrict__ grad, float* __restrict__ mom,
               int n, float lr, float momentum, float wd, float rescale_grad, float clip_gradient) {
    sgd_mom_body(SgdMom{lr, momentum, wd, rescale_grad, clip_gradient}, weight, grad, mom, n);
}

extern "C" __global__ void __launch_bounds__(256)
adam_update(float* __restrict__ weight, const float* __restrict__ grad, float* __restrict__ mean,
            float* __restrict__ var, int n, float lr_t, float beta1, float one_minus_beta1,
            float beta2, float one_minus_beta2, float epsilon, float wd, float rescale_grad,
            float clip_gradient) {
    adam_body(Adam{lr_t, beta1, one_minus_beta1, beta2, one_minus_beta2, epsilon, wd, rescale_grad,
                   clip_gradient}, weight, grad, mean, var, n);
}

// hyper = {lr, wd, rescale_grad, clip_gradient}
extern "C" __global__ void __launch_bounds__(256)
sgd_update_p(float* __restrict__ weight, const float* __restrict__ grad, int n,
             const float* __restrict__ hyper) {
    sgd_body(Sgd{hyper[0], hyper[1], hyper[2], hyper[3]}, weight, grad, n);
}

// hyper = {lr, momentum, wd, rescale_grad, clip_gradient}
extern "C" __global__ void __launch_bounds__(256)
sgd_mom_update_p(float* __restrict__ weight, const float* __restrict__ grad,
                 float* __restrict__ mom, int n, const float* __restrict__ hyper) {
    sgd_mom_body(SgdMom{hyper[0], hyper[1], hyper[2], hyper[3], hyper[4]}, weight, grad, mom, n);
}

// hyper = {lr_t, beta1, 1-beta1, beta2, 1-beta2, epsilon, wd, rescale_grad, clip_gradient}
extern "C" __global__ void __launch_bounds__(256)
adam_update_p(float* __restrict__ weight, const float* __restrict__ grad,
              float* __restrict__ mean, float* __restrict__ var, int n,
              const float* __restrict__ hyper) {
    adam_body(Adam{hyper[0], hyper[1], hyper[2], hyper[3], hyper[4], hyper[5], hyper[6], hyper[7],
                   hyper[8]}, weight, grad, mean, var, n);
}
