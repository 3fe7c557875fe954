// The CUDA execution model on the CPU: included (g++ -include cuda_emu.h) before every kernel source
// that gpuparams.emulator compiles. It maps CUDA's keywords, built-in variables and intrinsics onto
// the emulator runtime (libcuemu), which runs one fiber per CUDA thread.
//
// How the pieces map:
//   __shared__            block-scope `thread_local` (implicitly static): all fibers of a block run on
//                         one OS thread, so they share it; the runtime poisons the module's TLS block
//                         (0xFF bytes: NaN as float) at every block start.
//   extern __shared__     an undefined TLS symbol; the loader defines every such symbol at one address,
//                         the block's dynamic shared memory (see _build.py).
//   threadIdx, blockIdx   reads of the runtime's current-thread record.
//   __syncthreads, warp   calls into the runtime, which switches fibers; each call carries its source
//   collectives           location (__builtin_FILE/__builtin_LINE) for barrier error messages.
//   atomics               plain read-modify-write: fibers never interleave inside one.
//   assert                glibc's assert, with __assert_fail renamed to the runtime's handler, which
//                         stops the launch with a KernelFault instead of aborting the process.
#ifndef CUEMU_CUDA_EMU_H
#define CUEMU_CUDA_EMU_H

// What the sources may test: we emulate NVRTC compiling device code for sm_90.
#define __CUEMU__ 1
#define __CUDACC__ 1
#define __CUDACC_RTC__ 1
#define __CUDA_ARCH__ 900
#define __CUDACC_VER_MAJOR__ 13
#define __CUDACC_VER_MINOR__ 0

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <type_traits>
#include <utility>

#include "cuemu_abi.h"

// A device assert must stop the launch, not abort Python. glibc's assert macro calls __assert_fail;
// renaming it here also covers a later `#include <assert.h>` in the kernel source, which redefines
// the macro (assert.h has no include guard) but then calls the renamed function.
#define __assert_fail cuemu_assert_fail
#include <assert.h>

// ---- keywords and qualifiers ---------------------------------------------------------------------
#ifdef CUEMU_SCAN
// The loader's preprocessing pass looks for these tokens to find entry points and their launch
// bounds (kernel names may be produced by macros, so it reads the preprocessed text, not the source).
#define __global__ __cuemu_global__
#define __launch_bounds__(...) __cuemu_launch_bounds__(__VA_ARGS__)
#else
#define __global__
#define __launch_bounds__(...)
#endif
#define __device__
#define __host__
#define __constant__
#define __managed__
#define __shared__ thread_local
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __restrict__ __restrict
#define __align__(n) __attribute__((aligned(n)))
#define __builtin_align__(n) __attribute__((aligned(n)))
#define __grid_constant__
#define __cudart_builtin__
#define __device_builtin__
#define CUDART_CB

// ---- built-in variables --------------------------------------------------------------------------
// Read-only, as on the GPU (assigning to threadIdx.x does not compile there either).
#define threadIdx (static_cast<const uint3&>(::cuemu_current->idx))
#define blockIdx (static_cast<const uint3&>(::cuemu_block_idx))
#define blockDim (static_cast<const dim3&>(::cuemu_block_dim))
#define gridDim (static_cast<const dim3&>(::cuemu_grid_dim))
static const int warpSize = 32;

namespace cuemu {
template <class T>
inline uint64_t to_bits(T v) {
    static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value,
                  "warp collectives take a scalar of at most 8 bytes");
    uint64_t r = 0;
    memcpy(&r, &v, sizeof(T));
    return r;
}
template <class T>
inline T from_bits(uint64_t r) {
    T v;
    memcpy(&v, &r, sizeof(T));
    return v;
}
inline int lane_id() { return ::cuemu_current->lane; }
}  // namespace cuemu

// ---- barriers and warp collectives ---------------------------------------------------------------
// The defaulted file/line arguments are evaluated at the call site (GCC's __builtin_FILE/LINE).
#define CUEMU_LOC const char* cuemu_file_ = __builtin_FILE(), int cuemu_line_ = __builtin_LINE()
#define CUEMU_AT cuemu_file_, cuemu_line_

inline void __syncthreads(CUEMU_LOC) { ::cuemu_sync_block(cuemu::BAR_SYNC, 1, CUEMU_AT); }
inline int __syncthreads_count(int pred, CUEMU_LOC) {
    return ::cuemu_sync_block(cuemu::BAR_COUNT, pred != 0, CUEMU_AT);
}
inline int __syncthreads_and(int pred, CUEMU_LOC) {
    return ::cuemu_sync_block(cuemu::BAR_AND, pred != 0, CUEMU_AT);
}
inline int __syncthreads_or(int pred, CUEMU_LOC) {
    return ::cuemu_sync_block(cuemu::BAR_OR, pred != 0, CUEMU_AT);
}
inline void __syncwarp(unsigned mask = 0xffffffffu, CUEMU_LOC) {
    ::cuemu_warp(cuemu::OP_SYNCWARP, mask, 0, 0, 32, CUEMU_AT);
}
inline unsigned __activemask() { return ::cuemu_activemask(); }

template <class T>
inline T __shfl_sync(unsigned mask, T var, int src_lane, int width = 32, CUEMU_LOC) {
    return cuemu::from_bits<T>(
        ::cuemu_warp(cuemu::OP_SHFL_IDX, mask, cuemu::to_bits(var), src_lane, width, CUEMU_AT));
}
template <class T>
inline T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = 32, CUEMU_LOC) {
    return cuemu::from_bits<T>(
        ::cuemu_warp(cuemu::OP_SHFL_UP, mask, cuemu::to_bits(var), (int)delta, width, CUEMU_AT));
}
template <class T>
inline T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = 32, CUEMU_LOC) {
    return cuemu::from_bits<T>(
        ::cuemu_warp(cuemu::OP_SHFL_DOWN, mask, cuemu::to_bits(var), (int)delta, width, CUEMU_AT));
}
template <class T>
inline T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = 32, CUEMU_LOC) {
    return cuemu::from_bits<T>(
        ::cuemu_warp(cuemu::OP_SHFL_XOR, mask, cuemu::to_bits(var), lane_mask, width, CUEMU_AT));
}
inline unsigned __ballot_sync(unsigned mask, int pred, CUEMU_LOC) {
    return (unsigned)::cuemu_warp(cuemu::OP_BALLOT, mask, pred != 0, 0, 32, CUEMU_AT);
}
inline int __any_sync(unsigned mask, int pred, CUEMU_LOC) {
    return (int)::cuemu_warp(cuemu::OP_ANY, mask, pred != 0, 0, 32, CUEMU_AT);
}
inline int __all_sync(unsigned mask, int pred, CUEMU_LOC) {
    return (int)::cuemu_warp(cuemu::OP_ALL, mask, pred != 0, 0, 32, CUEMU_AT);
}
inline unsigned __reduce_add_sync(unsigned mask, unsigned v, CUEMU_LOC) {
    return (unsigned)::cuemu_warp(cuemu::OP_REDUCE_ADD, mask, v, 0, 32, CUEMU_AT);
}
inline int __reduce_add_sync(unsigned mask, int v, CUEMU_LOC) {
    return (int)::cuemu_warp(cuemu::OP_REDUCE_ADD, mask, (unsigned)v, 0, 32, CUEMU_AT);
}
inline unsigned __reduce_min_sync(unsigned mask, unsigned v, CUEMU_LOC) {
    return (unsigned)::cuemu_warp(cuemu::OP_REDUCE_MIN_U, mask, v, 0, 32, CUEMU_AT);
}
inline int __reduce_min_sync(unsigned mask, int v, CUEMU_LOC) {
    return (int)::cuemu_warp(cuemu::OP_REDUCE_MIN_I, mask, (unsigned)v, 0, 32, CUEMU_AT);
}
inline unsigned __reduce_max_sync(unsigned mask, unsigned v, CUEMU_LOC) {
    return (unsigned)::cuemu_warp(cuemu::OP_REDUCE_MAX_U, mask, v, 0, 32, CUEMU_AT);
}
inline int __reduce_max_sync(unsigned mask, int v, CUEMU_LOC) {
    return (int)::cuemu_warp(cuemu::OP_REDUCE_MAX_I, mask, (unsigned)v, 0, 32, CUEMU_AT);
}
inline unsigned __reduce_and_sync(unsigned mask, unsigned v, CUEMU_LOC) {
    return (unsigned)::cuemu_warp(cuemu::OP_REDUCE_AND, mask, v, 0, 32, CUEMU_AT);
}
inline unsigned __reduce_or_sync(unsigned mask, unsigned v, CUEMU_LOC) {
    return (unsigned)::cuemu_warp(cuemu::OP_REDUCE_OR, mask, v, 0, 32, CUEMU_AT);
}
inline unsigned __reduce_xor_sync(unsigned mask, unsigned v, CUEMU_LOC) {
    return (unsigned)::cuemu_warp(cuemu::OP_REDUCE_XOR, mask, v, 0, 32, CUEMU_AT);
}
template <class T>
inline unsigned __match_any_sync(unsigned mask, T value, CUEMU_LOC) {
    return (unsigned)::cuemu_warp(cuemu::OP_MATCH_ANY, mask, cuemu::to_bits(value), 0, 32, CUEMU_AT);
}
template <class T>
inline unsigned __match_all_sync(unsigned mask, T value, int* pred, CUEMU_LOC) {
    const uint64_t r =
        ::cuemu_warp(cuemu::OP_MATCH_ALL, mask, cuemu::to_bits(value), 0, 32, CUEMU_AT);
    *pred = r != 0;
    return (unsigned)r;
}

// Memory fences: fibers run one at a time and never interleave inside a memory access.
inline void __threadfence() {}
inline void __threadfence_block() {}
inline void __threadfence_system() {}
inline void __nanosleep(unsigned) { ::cuemu_yield(); }
inline long long clock64() { return (long long)::cuemu_clock(); }
inline void __trap(CUEMU_LOC) { ::cuemu_trap("__trap() called", CUEMU_AT); }
inline void __brkpt(CUEMU_LOC) { ::cuemu_trap("__brkpt() called", CUEMU_AT); }

// ---- atomics -------------------------------------------------------------------------------------
#define CUEMU_ATOMIC_SCOPES(RET, NAME, PARAMS, ARGS)                                               \
    inline RET NAME##_block PARAMS { return NAME ARGS; }                                          \
    inline RET NAME##_system PARAMS { return NAME ARGS; }

#define CUEMU_ATOMIC_RMW(NAME, T, EXPR)                                                            \
    inline T NAME(T* address, T val) {                                                             \
        const T old = *address;                                                                    \
        *address = (EXPR);                                                                         \
        return old;                                                                                \
    }                                                                                              \
    CUEMU_ATOMIC_SCOPES(T, NAME, (T * address, T val), (address, val))

CUEMU_ATOMIC_RMW(atomicAdd, int, old + val)
CUEMU_ATOMIC_RMW(atomicAdd, unsigned int, old + val)
CUEMU_ATOMIC_RMW(atomicAdd, unsigned long long, old + val)
CUEMU_ATOMIC_RMW(atomicAdd, float, old + val)
CUEMU_ATOMIC_RMW(atomicAdd, double, old + val)
CUEMU_ATOMIC_RMW(atomicSub, int, old - val)
CUEMU_ATOMIC_RMW(atomicSub, unsigned int, old - val)
CUEMU_ATOMIC_RMW(atomicExch, int, val)
CUEMU_ATOMIC_RMW(atomicExch, unsigned int, val)
CUEMU_ATOMIC_RMW(atomicExch, unsigned long long, val)
CUEMU_ATOMIC_RMW(atomicExch, float, val)
CUEMU_ATOMIC_RMW(atomicMin, int, val < old ? val : old)
CUEMU_ATOMIC_RMW(atomicMin, unsigned int, val < old ? val : old)
CUEMU_ATOMIC_RMW(atomicMin, long long, val < old ? val : old)
CUEMU_ATOMIC_RMW(atomicMin, unsigned long long, val < old ? val : old)
CUEMU_ATOMIC_RMW(atomicMax, int, val > old ? val : old)
CUEMU_ATOMIC_RMW(atomicMax, unsigned int, val > old ? val : old)
CUEMU_ATOMIC_RMW(atomicMax, long long, val > old ? val : old)
CUEMU_ATOMIC_RMW(atomicMax, unsigned long long, val > old ? val : old)
CUEMU_ATOMIC_RMW(atomicAnd, int, old & val)
CUEMU_ATOMIC_RMW(atomicAnd, unsigned int, old & val)
CUEMU_ATOMIC_RMW(atomicAnd, unsigned long long, old & val)
CUEMU_ATOMIC_RMW(atomicOr, int, old | val)
CUEMU_ATOMIC_RMW(atomicOr, unsigned int, old | val)
CUEMU_ATOMIC_RMW(atomicOr, unsigned long long, old | val)
CUEMU_ATOMIC_RMW(atomicXor, int, old ^ val)
CUEMU_ATOMIC_RMW(atomicXor, unsigned int, old ^ val)
CUEMU_ATOMIC_RMW(atomicXor, unsigned long long, old ^ val)
CUEMU_ATOMIC_RMW(atomicInc, unsigned int, old >= val ? 0u : old + 1u)
CUEMU_ATOMIC_RMW(atomicDec, unsigned int, (old == 0u || old > val) ? val : old - 1u)

#define CUEMU_ATOMIC_CAS(T)                                                                        \
    inline T atomicCAS(T* address, T compare, T val) {                                             \
        const T old = *address;                                                                    \
        if (old == compare) *address = val;                                                        \
        return old;                                                                                \
    }                                                                                              \
    CUEMU_ATOMIC_SCOPES(T, atomicCAS, (T * address, T compare, T val), (address, compare, val))
CUEMU_ATOMIC_CAS(int)
CUEMU_ATOMIC_CAS(unsigned int)
CUEMU_ATOMIC_CAS(unsigned long long)
CUEMU_ATOMIC_CAS(unsigned short)
#undef CUEMU_ATOMIC_CAS
#undef CUEMU_ATOMIC_RMW

// ---- math ----------------------------------------------------------------------------------------
// The accurate functions come from libm; the fast intrinsics map to them (the emulator checks logic,
// not the last ulp of __expf).
inline float __expf(float x) { return expf(x); }
inline float __exp10f(float x) { return exp10f(x); }
inline float __logf(float x) { return logf(x); }
inline float __log2f(float x) { return log2f(x); }
inline float __log10f(float x) { return log10f(x); }
inline float __sinf(float x) { return sinf(x); }
inline float __cosf(float x) { return cosf(x); }
inline float __tanf(float x) { return tanf(x); }
inline void __sincosf(float x, float* s, float* c) { sincosf(x, s, c); }
inline float __powf(float x, float y) { return powf(x, y); }
inline float __tanhf(float x) { return tanhf(x); }
inline float __fdividef(float a, float b) { return a / b; }
inline float fdividef(float a, float b) { return a / b; }
inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }
inline double rsqrt(double x) { return 1.0 / sqrt(x); }
inline float rcbrtf(float x) { return 1.0f / cbrtf(x); }
inline float sinpif(float x) { return sinf((float)M_PI * x); }
inline float cospif(float x) { return cosf((float)M_PI * x); }
inline float __saturatef(float x) { return x >= 1.0f ? 1.0f : (x > 0.0f ? x : 0.0f); }

// The _rn/_rz forms must not be contracted into an FMA with their neighbours (that is their point
// on the GPU); the empty asm makes the product opaque to the optimizer.
namespace cuemu {
template <class T>
inline T opaque(T v) {
#if defined(__x86_64__)
    asm("" : "+x"(v));
#else
    asm("" : "+w"(v));
#endif
    return v;
}
}  // namespace cuemu
inline float __fadd_rn(float a, float b) { return cuemu::opaque(a + b); }
inline float __fsub_rn(float a, float b) { return cuemu::opaque(a - b); }
inline float __fmul_rn(float a, float b) { return cuemu::opaque(a * b); }
inline float __fdiv_rn(float a, float b) { return cuemu::opaque(a / b); }
inline float __fmaf_rn(float a, float b, float c) { return fmaf(a, b, c); }
inline float __frcp_rn(float x) { return cuemu::opaque(1.0f / x); }
inline float __fsqrt_rn(float x) { return sqrtf(x); }
inline double __dadd_rn(double a, double b) { return cuemu::opaque(a + b); }
inline double __dmul_rn(double a, double b) { return cuemu::opaque(a * b); }
inline double __fma_rn(double a, double b, double c) { return fma(a, b, c); }

inline int __float_as_int(float x) { return cuemu::from_bits<int>(cuemu::to_bits(x)); }
inline unsigned __float_as_uint(float x) { return cuemu::from_bits<unsigned>(cuemu::to_bits(x)); }
inline float __int_as_float(int x) { return cuemu::from_bits<float>(cuemu::to_bits(x)); }
inline float __uint_as_float(unsigned x) { return cuemu::from_bits<float>(cuemu::to_bits(x)); }
inline long long __double_as_longlong(double x) {
    return cuemu::from_bits<long long>(cuemu::to_bits(x));
}
inline double __longlong_as_double(long long x) { return cuemu::from_bits<double>(cuemu::to_bits(x)); }
inline int __float2int_rn(float x) { return (int)nearbyintf(x); }
inline int __float2int_rz(float x) { return (int)x; }
inline int __float2int_rd(float x) { return (int)floorf(x); }
inline int __float2int_ru(float x) { return (int)ceilf(x); }
inline unsigned __float2uint_rn(float x) { return (unsigned)nearbyintf(x); }
inline unsigned __float2uint_rz(float x) { return (unsigned)x; }
inline float __int2float_rn(int x) { return (float)x; }
inline float __uint2float_rn(unsigned x) { return (float)x; }
inline long long __float2ll_rn(float x) { return (long long)nearbyintf(x); }
inline float __double2float_rn(double x) { return (float)x; }

inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz((unsigned)x); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll((unsigned long long)x); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned __brev(unsigned x) {
    unsigned r = 0;
    for (int i = 0; i < 32; ++i) r |= ((x >> i) & 1u) << (31 - i);
    return r;
}
inline unsigned __byte_perm(unsigned x, unsigned y, unsigned s) {
    const uint64_t v = ((uint64_t)y << 32) | x;
    unsigned r = 0;
    for (int i = 0; i < 4; ++i) r |= (unsigned)((v >> (8 * ((s >> (4 * i)) & 7))) & 0xff) << (8 * i);
    return r;
}
inline unsigned __funnelshift_l(unsigned lo, unsigned hi, unsigned shift) {
    const uint64_t v = ((uint64_t)hi << 32) | lo;
    return (unsigned)((v << (shift & 31)) >> 32);
}
inline unsigned __funnelshift_r(unsigned lo, unsigned hi, unsigned shift) {
    const uint64_t v = ((uint64_t)hi << 32) | lo;
    return (unsigned)(v >> (shift & 31));
}
inline int __mul24(int a, int b) { return (int)((int64_t)((a << 8) >> 8) * ((b << 8) >> 8)); }
inline unsigned __umul24(unsigned a, unsigned b) { return (a & 0xffffffu) * (b & 0xffffffu); }
inline int __mulhi(int a, int b) { return (int)(((int64_t)a * b) >> 32); }
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((uint64_t)a * b) >> 32); }
inline long long __mul64hi(long long a, long long b) {
    return (long long)(((__int128)a * b) >> 64);
}
inline unsigned long long __umul64hi(unsigned long long a, unsigned long long b) {
    return (unsigned long long)(((unsigned __int128)a * b) >> 64);
}

// CUDA's min/max: float and double follow fminf/fmaxf (a NaN operand loses); integer arguments of
// mixed types go through the usual arithmetic conversions.
inline float min(float a, float b) { return fminf(a, b); }
inline float max(float a, float b) { return fmaxf(a, b); }
inline double min(double a, double b) { return fmin(a, b); }
inline double max(double a, double b) { return fmax(a, b); }
inline double min(float a, double b) { return fmin(a, b); }
inline double max(float a, double b) { return fmax(a, b); }
inline double min(double a, float b) { return fmin(a, b); }
inline double max(double a, float b) { return fmax(a, b); }
template <class A, class B,
          class = typename std::enable_if<std::is_integral<A>::value && std::is_integral<B>::value>::type>
inline typename std::common_type<A, B>::type min(A a, B b) {
    typedef typename std::common_type<A, B>::type C;
    return (C)b < (C)a ? (C)b : (C)a;
}
template <class A, class B,
          class = typename std::enable_if<std::is_integral<A>::value && std::is_integral<B>::value>::type>
inline typename std::common_type<A, B>::type max(A a, B b) {
    typedef typename std::common_type<A, B>::type C;
    return (C)b > (C)a ? (C)b : (C)a;
}
inline unsigned umin(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned umax(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long llmin(long long a, long long b) { return a < b ? a : b; }
inline long long llmax(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long ullmin(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long ullmax(unsigned long long a, unsigned long long b) { return a > b ? a : b; }

// ---- cached loads and stores (plain memory accesses here) ----------------------------------------
template <class T> inline T __ldg(const T* p) { return *p; }
template <class T> inline T __ldca(const T* p) { return *p; }
template <class T> inline T __ldcg(const T* p) { return *p; }
template <class T> inline T __ldcs(const T* p) { return *p; }
template <class T> inline T __ldlu(const T* p) { return *p; }
template <class T> inline T __ldcv(const T* p) { return *p; }
template <class T> inline void __stwb(T* p, T v) { *p = v; }
template <class T> inline void __stcg(T* p, T v) { *p = v; }
template <class T> inline void __stcs(T* p, T v) { *p = v; }
template <class T> inline void __stwt(T* p, T v) { *p = v; }

// ---- checked memory accesses ---------------------------------------------------------------------
// The kernel is compiled with -fsanitize=kernel-address and all checks out of line: every load and
// store calls one of these with its address (no shadow memory is involved). They are defined here,
// in the kernel module itself, so the common case (an address far from every argument copy) costs a
// direct call and two comparisons; anything near an argument copy or past the launch's dynamic
// shared memory goes to the runtime, which reports an out-of-bounds access with the exact thread.
#define CUEMU_NO_CHECKS __attribute__((no_sanitize_address, no_sanitize_undefined, visibility("hidden")))
namespace cuemu {
CUEMU_NO_CHECKS inline void mem_check(uintptr_t a, size_t n, int write, void* pc) {
    const uintptr_t* w = ::cuemu_watch;
    if (__builtin_expect((a + n > w[0] && a < w[1]) || (a + n > w[2] && a < w[3]), 0))
        ::cuemu_mem_check(a, n, write, pc);
    // Shared memory that a cp.async in flight will still overwrite (see cuemu_runtime.cpp).
    const uintptr_t* aw = ::cuemu_async_watch;
    if (__builtin_expect(a + n > aw[0] && a < aw[1], 0)) {
        const uintptr_t lo = a < aw[0] ? aw[0] : a;
        const uintptr_t hi = a + n > aw[1] ? aw[1] : a + n;
        for (uintptr_t word = (lo - aw[0]) >> 2; word <= (hi - 1 - aw[0]) >> 2; ++word)
            if (::cuemu_async_shadow[word]) {
                ::cuemu_async_fault(a, n, write, pc);
                break;
            }
    }
}
}  // namespace cuemu
#define CUEMU_ASAN_CALLBACKS(N)                                                                    \
    extern "C" CUEMU_NO_CHECKS void __asan_load##N(uintptr_t a) {                                 \
        cuemu::mem_check(a, N, 0, __builtin_return_address(0));                                    \
    }                                                                                              \
    extern "C" CUEMU_NO_CHECKS void __asan_store##N(uintptr_t a) {                                \
        cuemu::mem_check(a, N, 1, __builtin_return_address(0));                                    \
    }                                                                                              \
    extern "C" CUEMU_NO_CHECKS void __asan_load##N##_noabort(uintptr_t a) {                       \
        cuemu::mem_check(a, N, 0, __builtin_return_address(0));                                    \
    }                                                                                              \
    extern "C" CUEMU_NO_CHECKS void __asan_store##N##_noabort(uintptr_t a) {                      \
        cuemu::mem_check(a, N, 1, __builtin_return_address(0));                                    \
    }
#ifndef CUEMU_SCAN
CUEMU_ASAN_CALLBACKS(1)
CUEMU_ASAN_CALLBACKS(2)
CUEMU_ASAN_CALLBACKS(4)
CUEMU_ASAN_CALLBACKS(8)
CUEMU_ASAN_CALLBACKS(16)
extern "C" CUEMU_NO_CHECKS void __asan_loadN(uintptr_t a, size_t n) {
    cuemu::mem_check(a, n, 0, __builtin_return_address(0));
}
extern "C" CUEMU_NO_CHECKS void __asan_storeN(uintptr_t a, size_t n) {
    cuemu::mem_check(a, n, 1, __builtin_return_address(0));
}
extern "C" CUEMU_NO_CHECKS void __asan_loadN_noabort(uintptr_t a, size_t n) {
    cuemu::mem_check(a, n, 0, __builtin_return_address(0));
}
extern "C" CUEMU_NO_CHECKS void __asan_storeN_noabort(uintptr_t a, size_t n) {
    cuemu::mem_check(a, n, 1, __builtin_return_address(0));
}
#endif
#undef CUEMU_ASAN_CALLBACKS

// ---- cp.async: CUDA's pipeline primitives (cuda_pipeline_primitives.h) ---------------------------
// Kernels that use cp.async through inline PTX call these in their `#ifdef __CUEMU__` path. The
// source is read here, in instrumented code, so an out-of-bounds source is reported like any load;
// the runtime poisons the destination until the issuing thread waits for the copy's group.
inline void __pipeline_memcpy_async(void* dst_shared, const void* src_global, size_t size_and_align,
                                    size_t zfill = 0, CUEMU_LOC) {
    unsigned char data[16] = {0};
    const size_t n = size_and_align;
    const size_t src_bytes = zfill < n ? n - zfill : 0;
    if (n <= 16) {
        const volatile unsigned char* s = static_cast<const volatile unsigned char*>(src_global);
        for (size_t i = 0; i < src_bytes; ++i) data[i] = s[i];
    }
    ::cuemu_async_copy(dst_shared, src_global, data, (unsigned)n, (unsigned)src_bytes, CUEMU_AT);
}
inline void __pipeline_commit() { ::cuemu_async_commit(); }
inline void __pipeline_wait_prior(size_t prior) { ::cuemu_async_wait((unsigned)prior); }

// The dynamic shared memory of the running block; every `extern __shared__` array of the module is
// placed at this address by the loader.
extern thread_local unsigned char cuemu_dynamic_smem[];

// ---- entry registration (used by the snippet the loader appends to each source) ------------------
namespace cuemu {

template <class T> struct type_code { static const int32_t value = T_OTHER; };
#define CUEMU_TYPE_CODE(T, CODE) \
    template <> struct type_code<T> { static const int32_t value = CODE; };
CUEMU_TYPE_CODE(void, T_VOID)
CUEMU_TYPE_CODE(bool, T_BOOL)
CUEMU_TYPE_CODE(char, T_CHAR)
CUEMU_TYPE_CODE(signed char, T_I8)
CUEMU_TYPE_CODE(unsigned char, T_U8)
CUEMU_TYPE_CODE(short, T_I16)
CUEMU_TYPE_CODE(unsigned short, T_U16)
CUEMU_TYPE_CODE(int, T_I32)
CUEMU_TYPE_CODE(unsigned int, T_U32)
CUEMU_TYPE_CODE(long, T_I64)
CUEMU_TYPE_CODE(unsigned long, T_U64)
CUEMU_TYPE_CODE(long long, T_I64)
CUEMU_TYPE_CODE(unsigned long long, T_U64)
CUEMU_TYPE_CODE(float, T_F32)
CUEMU_TYPE_CODE(double, T_F64)
CUEMU_TYPE_CODE(float1, T_V_F32)
CUEMU_TYPE_CODE(float2, T_V_F32)
CUEMU_TYPE_CODE(float3, T_V_F32)
CUEMU_TYPE_CODE(float4, T_V_F32)
CUEMU_TYPE_CODE(double1, T_V_F64)
CUEMU_TYPE_CODE(double2, T_V_F64)
CUEMU_TYPE_CODE(double3, T_V_F64)
CUEMU_TYPE_CODE(int1, T_V_I32)
CUEMU_TYPE_CODE(int2, T_V_I32)
CUEMU_TYPE_CODE(int3, T_V_I32)
CUEMU_TYPE_CODE(int4, T_V_I32)
CUEMU_TYPE_CODE(uint1, T_V_U32)
CUEMU_TYPE_CODE(uint2, T_V_U32)
CUEMU_TYPE_CODE(uint3, T_V_U32)
CUEMU_TYPE_CODE(uint4, T_V_U32)
CUEMU_TYPE_CODE(longlong1, T_V_I64)
CUEMU_TYPE_CODE(longlong2, T_V_I64)
CUEMU_TYPE_CODE(ulonglong1, T_V_U64)
CUEMU_TYPE_CODE(ulonglong2, T_V_U64)
CUEMU_TYPE_CODE(short2, T_V_I16)
CUEMU_TYPE_CODE(short4, T_V_I16)
CUEMU_TYPE_CODE(ushort2, T_V_U16)
CUEMU_TYPE_CODE(ushort4, T_V_U16)
CUEMU_TYPE_CODE(char2, T_V_I8)
CUEMU_TYPE_CODE(char4, T_V_I8)
CUEMU_TYPE_CODE(uchar2, T_V_U8)
CUEMU_TYPE_CODE(uchar4, T_V_U8)
// (__half and __nv_bfloat16 register themselves in cuda_fp16.h / cuda_bf16.h.)

template <class T>
const char* pretty_type() { return __PRETTY_FUNCTION__; }

template <class T> struct size_of { static const int32_t value = (int32_t)sizeof(T); };
template <> struct size_of<void> { static const int32_t value = 0; };
template <> struct size_of<const void> { static const int32_t value = 0; };
template <> struct size_of<volatile void> { static const int32_t value = 0; };
template <> struct size_of<const volatile void> { static const int32_t value = 0; };
template <class T> struct align_of { static const int32_t value = (int32_t)alignof(T); };
template <> struct align_of<void> { static const int32_t value = 0; };
template <> struct align_of<const void> { static const int32_t value = 0; };
template <> struct align_of<volatile void> { static const int32_t value = 0; };
template <> struct align_of<const volatile void> { static const int32_t value = 0; };

template <class T>
ParamInfo param_info() {
    ParamInfo p;
    if constexpr (std::is_pointer<T>::value) {
        typedef typename std::remove_pointer<T>::type P;
        p.kind = PARAM_POINTER;
        p.code = type_code<typename std::remove_cv<P>::type>::value;
        p.is_const = std::is_const<P>::value;
        p.pointee_size = size_of<P>::value;
        p.pointee_align = align_of<P>::value;
    } else {
        p.kind = PARAM_SCALAR;
        p.code = type_code<typename std::remove_cv<T>::type>::value;
        p.is_const = 0;
        p.pointee_size = 0;
        p.pointee_align = 0;
    }
    p.size = (int32_t)sizeof(T);
    p.pretty = pretty_type<T>();
    return p;
}

template <class... A, size_t... I>
inline void call_unpacked(void (*f)(A...), void** args, std::index_sequence<I...>) {
    f(*static_cast<typename std::remove_reference<A>::type*>(args[I])...);
}
template <class... A>
void thunk(AnyFn fn, void** args) {
    call_unpacked(reinterpret_cast<void (*)(A...)>(fn), args, std::index_sequence_for<A...>{});
}

// Deduces the kernel's parameter types from its function pointer.
template <class... A>
KernelEntry make_entry(const char* name, void (*fn)(A...)) {
    static const ParamInfo params[sizeof...(A) + 1] = {param_info<A>()..., ParamInfo()};
    KernelEntry e;
    e.name = name;
    e.fn = reinterpret_cast<AnyFn>(fn);
    e.thunk = &thunk<A...>;
    e.nparams = (int32_t)sizeof...(A);
    e.params = params;
    return e;
}

}  // namespace cuemu

#undef CUEMU_TYPE_CODE

#endif  // CUEMU_CUDA_EMU_H
