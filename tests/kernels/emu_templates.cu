// Test kernels for the emulator and the compile gate: templates fetched through name expressions.
// The budget lines name the instantiations; the compile gate instantiates them.
//
// @budget axpy<float> registers=32 shared=0
// @budget axpy<double> registers=32 shared=0
// @budget scale_rows<float, 4> registers=32 shared=0
// @budget cxx_linkage_fill registers=32 shared=0

// y = a*x + y
template <typename T>
__global__ void axpy(T a, const T* __restrict__ x, T* __restrict__ y, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = a * x[i] + y[i];
}

// x[r, :] *= s[r] for a (rows, COLS) array; one thread per row.
template <typename T, int COLS>
__global__ void scale_rows(T* __restrict__ x, const T* __restrict__ s, int rows) {
    const int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r < rows) {
#pragma unroll
        for (int j = 0; j < COLS; ++j) x[(size_t)r * COLS + j] *= s[r];
    }
}

// A non-template kernel with C++ linkage: CuPy finds it only through a name expression.
__global__ void cxx_linkage_fill(float* x, float v, int n) {
    const int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = v;
}
