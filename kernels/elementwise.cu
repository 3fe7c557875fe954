// Standalone ReLU forward and backward (the dense kernels fuse ReLU themselves; these serve
// nn.Activation('relu') and nd.relu on a GPU).
//
// Grid-stride loops over n elements; float4 when every pointer is 16-byte aligned (which a sliced
// view need not be), then a scalar tail for the last n % 4 elements. Launch with 256 threads per
// block and any grid size.
//
// @budget * registers=32 shared=0

__device__ __forceinline__ bool aligned16(const void* p) {
    return (reinterpret_cast<size_t>(p) & 15u) == 0;
}

// NaN propagates (x != x only for NaN), as in MXNet's relu: relu(NaN) = NaN.
__device__ __forceinline__ float relu1(float x) { return (x > 0.f || x != x) ? x : 0.f; }

// dL/dx = dL/dy where the output was positive, NaN where it was NaN (MXNet's gradient at NaN), else
// 0 (the subgradient at 0 is taken as 0).
__device__ __forceinline__ float relu_grad1(float dy, float y) {
    return y > 0.f ? dy : (y != y ? y : 0.f);
}

// y = max(x, 0); y may alias x (in place).
extern "C" __global__ void __launch_bounds__(256)
relu_fwd(const float* x, float* y, int n) {
    const size_t tid = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    const size_t total = (size_t)n;
    size_t done = 0;
    if (aligned16(x) && aligned16(y)) {
        const size_t n4 = total / 4;
        const float4* x4 = reinterpret_cast<const float4*>(x);
        float4* y4 = reinterpret_cast<float4*>(y);
        for (size_t q = tid; q < n4; q += stride) {
            const float4 v = x4[q];
            y4[q] = make_float4(relu1(v.x), relu1(v.y), relu1(v.z), relu1(v.w));
        }
        done = n4 * 4;
    }
    for (size_t e = done + tid; e < total; e += stride) y[e] = relu1(x[e]);
}

// dx = dy ⊙ (y > 0); dx may alias dy.
extern "C" __global__ void __launch_bounds__(256)
relu_bwd(const float* dy, const float* y, float* dx, int n) {
    const size_t tid = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    const size_t total = (size_t)n;
    size_t done = 0;
    if (aligned16(dy) && aligned16(y) && aligned16(dx)) {
        const size_t n4 = total / 4;
        const float4* g4 = reinterpret_cast<const float4*>(dy);
        const float4* y4 = reinterpret_cast<const float4*>(y);
        float4* d4 = reinterpret_cast<float4*>(dx);
        for (size_t q = tid; q < n4; q += stride) {
            const float4 g = g4[q];
            const float4 v = y4[q];
            d4[q] = make_float4(relu_grad1(g.x, v.x), relu_grad1(g.y, v.y),
                                relu_grad1(g.z, v.z), relu_grad1(g.w, v.w));
        }
        done = n4 * 4;
    }
    for (size_t e = done + tid; e < total; e += stride) dx[e] = relu_grad1(dy[e], y[e]);
}
