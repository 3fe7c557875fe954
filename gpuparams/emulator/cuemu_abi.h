// The interface between a compiled kernel module and the emulator runtime (libcuemu).
//
// A kernel module (.so built from one .cu file) exports a table of KernelEntry records, one per
// entry point, each with a "thunk" that calls the kernel with its arguments unpacked from an array
// of pointers, and a ParamInfo per parameter derived by template deduction on the kernel's function
// pointer. The runtime runs one fiber per CUDA thread and calls the thunk in each; the kernel code
// reaches back into the runtime for threadIdx/blockIdx, barriers and warp collectives.
//
// Nothing here may be thread_local: the kernel module's TLS block holds its __shared__ variables and
// is poisoned at every block start.
#ifndef CUEMU_ABI_H
#define CUEMU_ABI_H

#include <stddef.h>
#include <stdint.h>

#include "cuemu_vector_types.h"

#define CUEMU_EXPORT __attribute__((visibility("default")))

namespace cuemu {

// The per-thread state kernel code reads (threadIdx); the runtime's Thread record starts with it.
struct ThreadPub {
    uint3 idx;
    int lane;    // linear thread index % 32
    int linear;  // x + y*bx + z*bx*by
};

enum ParamKind : int32_t { PARAM_SCALAR = 0, PARAM_POINTER = 1 };

// Type codes of scalars and pointees, mirrored in gpuparams/emulator/_module.py.
enum TypeCode : int32_t {
    T_OTHER = 0, T_VOID, T_BOOL, T_CHAR, T_I8, T_U8, T_I16, T_U16, T_I32, T_U32, T_I64, T_U64,
    T_F16, T_BF16, T_F32, T_F64,
    // vector types (pointees only): the NumPy array holds their scalar base type
    T_V_F32, T_V_F64, T_V_I32, T_V_U32, T_V_I64, T_V_U64, T_V_I16, T_V_U16, T_V_I8, T_V_U8,
};

struct ParamInfo {
    int32_t kind;           // ParamKind
    int32_t code;           // TypeCode of the scalar, or of the pointee for a pointer
    int32_t is_const;       // pointer to const
    int32_t size;           // sizeof the parameter
    int32_t pointee_size;   // sizeof the pointee (0 for void)
    int32_t pointee_align;  // alignof the pointee (0 for void)
    const char* pretty;     // __PRETTY_FUNCTION__ of a template naming the type ("... [with T = int]")
};

typedef void (*AnyFn)();
typedef void (*Thunk)(AnyFn fn, void** args);

struct KernelEntry {
    const char* name;  // the entry name or name expression it was registered under
    AnyFn fn;
    Thunk thunk;
    int32_t nparams;
    const ParamInfo* params;
};

// Warp collective operations (cuemu_warp's `op`).
enum WarpOp : int32_t {
    OP_SYNCWARP = 0, OP_SHFL_IDX, OP_SHFL_UP, OP_SHFL_DOWN, OP_SHFL_XOR,
    OP_BALLOT, OP_ANY, OP_ALL, OP_WMMA,
    OP_REDUCE_ADD, OP_REDUCE_MIN_U, OP_REDUCE_MAX_U, OP_REDUCE_MIN_I, OP_REDUCE_MAX_I,
    OP_REDUCE_AND, OP_REDUCE_OR, OP_REDUCE_XOR, OP_MATCH_ANY, OP_MATCH_ALL, OP_ACTIVEMASK,
    OP_COUNT_
};

// Block barrier flavours (cuemu_sync_block's `op`).
enum BlockOp : int32_t { BAR_SYNC = 0, BAR_COUNT, BAR_AND, BAR_OR };

}  // namespace cuemu

extern "C" {
// Address ranges the memory-access checks look at closely: [0], [1) the argument copies, [2], [3)
// the dynamic shared memory past the launch's shared_mem. Empty outside a launch.
extern CUEMU_EXPORT uintptr_t cuemu_watch[4];
// The slow path of the memory-access checks (cuda_emu.h): reports an invalid access, or returns.
CUEMU_EXPORT void cuemu_mem_check(uintptr_t addr, size_t size, int write, void* pc);
// cp.async: while any copy is in flight in the running block, [0], [1) spans the module's TLS block
// (all shared memory) and the shadow holds one byte per 4-byte word of it, non-zero where a copy
// has not landed; an access there goes to cuemu_async_fault, which reports it.
extern CUEMU_EXPORT uintptr_t cuemu_async_watch[2];
extern CUEMU_EXPORT unsigned char* cuemu_async_shadow;
CUEMU_EXPORT void cuemu_async_fault(uintptr_t addr, size_t size, int write, void* pc);
// Issues one asynchronous copy of n bytes into shared `dst`: `data` holds the bytes already read
// from `src` (src_bytes of them, zero-filled to n).
CUEMU_EXPORT void cuemu_async_copy(void* dst, const void* src, const void* data, unsigned n,
                                   unsigned src_bytes, const char* file, int line);
CUEMU_EXPORT void cuemu_async_commit(void);
// Lands this thread's copies of every committed group but the `prior` most recent ones.
CUEMU_EXPORT void cuemu_async_wait(unsigned prior);
// The running CUDA thread and the launch geometry; set by the runtime before each fiber switch.
extern CUEMU_EXPORT cuemu::ThreadPub* cuemu_current;
extern CUEMU_EXPORT uint3 cuemu_block_idx;
extern CUEMU_EXPORT dim3 cuemu_block_dim;
extern CUEMU_EXPORT dim3 cuemu_grid_dim;

// __syncthreads and its _count/_and/_or forms; returns the reduction (1 for BAR_SYNC).
CUEMU_EXPORT int cuemu_sync_block(int op, int pred, const char* file, int line);
// A warp collective over the lanes in `mask`; `value` is this lane's operand (bit pattern), `arg`
// the source lane / delta / lane mask, `width` the shuffle segment. Returns this lane's result.
CUEMU_EXPORT uint64_t cuemu_warp(int op, unsigned mask, uint64_t value, int arg, int width,
                                 const char* file, int line);
// __activemask(): waits until no other live lane of the warp can run, then returns the lanes that
// are at an __activemask() call (the lanes that would be converged with the caller on a GPU).
CUEMU_EXPORT unsigned cuemu_activemask(void);
// Stops the launch with a KernelFault (device-side __trap(), invalid use of an intrinsic, ...).
CUEMU_EXPORT void cuemu_trap(const char* what, const char* file, int line) __attribute__((noreturn));
// Lets the other threads of the block run (__nanosleep: a spinning thread must not starve them).
CUEMU_EXPORT void cuemu_yield(void);
CUEMU_EXPORT unsigned long long cuemu_clock(void);
// Device-side assert(); kernel code reaches it through glibc's assert macro (see cuda_emu.h).
CUEMU_EXPORT void cuemu_assert_fail(const char* expr, const char* file, unsigned int line,
                                    const char* function) noexcept __attribute__((noreturn));
}

#endif  // CUEMU_ABI_H
