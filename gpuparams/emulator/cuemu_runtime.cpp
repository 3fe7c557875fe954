// libcuemu: the emulator runtime. Runs a kernel launch on the CPU with one fiber per CUDA thread.
//
// Blocks run one after another on the calling OS thread. Within a block every CUDA thread is a
// fiber with its own stack; a fiber runs until it exits or blocks (at __syncthreads, a warp
// collective, or __nanosleep) and the scheduler then picks the next runnable one in the launch's
// thread order (forward, reverse, or a seeded shuffle per pass). A block barrier releases when every
// live (not exited) thread of the block has arrived; a warp collective completes when every lane in
// its mask has arrived with the same operation and mask.
//
// What a GPU would hide and the runtime reports instead:
//   * out-of-bounds global accesses: every pointer argument is copied into a private mapping that
//     keeps the caller's address modulo 256 (so alignment-dependent code paths are the same) and
//     whose data ends as close as that allows to 64 KiB of PROT_NONE guard, with as much guard
//     before it. The kernel module checks every load and store (cuda_emu.h's sanitizer callbacks)
//     and reports any access between the data and the guards, or in them, with the exact thread
//     and code address; a real fault in a guard is caught by the signal handler; the poisoned
//     slack is checked once more after the launch for writes the compiler could not instrument;
//   * writes through pointers to const (those mappings are read-only);
//   * uninitialized shared memory: the module's TLS block (its __shared__ variables and the dynamic
//     shared memory) is filled with 0xFF bytes (NaN as float) at every block start;
//   * divergent or deadlocked barriers, warp collectives naming exited lanes;
//   * cp.async reads of a stage that has not landed: an asynchronous copy (__pipeline_memcpy_async,
//     the emulator's form of cp.async) poisons its destination and marks it in a shadow map of
//     shared memory until the issuing thread's __pipeline_wait_prior (cp.async.wait_group) lands
//     it; any access to a marked word stops the launch, naming both threads and the issue site;
//   * device asserts, __trap(), misaligned accesses and out-of-range indexing of fixed-size arrays
//     (the kernel module is built with -fsanitize=alignment,bounds; the handlers are below).
// A fault inside a fiber (SIGSEGV/SIGBUS/SIGILL/SIGFPE/SIGTRAP) is caught by a handler installed
// for the duration of the launch, which jumps back to the launcher; the caller's arrays are only
// written back after a launch that succeeded.
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "cuemu_abi.h"

using namespace cuemu;

#define CUEMU_RUNTIME_VERSION 2

// ---- launch request / result (mirrored by ctypes in _module.py) ----------------------------------

struct BufferSpec {
    uint64_t addr;       // the caller's array data
    uint64_t nbytes;
    int32_t readonly;    // every pointer into it points to const: map it read-only
    int32_t copy_back;   // write the data back after a successful launch
};

struct LaunchRequest {
    const KernelEntry* kernel;
    void** args;               // one pointer per parameter, to the argument's bytes
    uint32_t grid[3];
    uint32_t block[3];
    uint64_t shared_mem;       // dynamic shared memory, bytes
    int32_t order;             // 0 forward, 1 reverse, 2 random
    int32_t nbuffers;
    uint64_t seed;
    const BufferSpec* buffers;
    int32_t nptrs;
    int32_t pad_;
    const int32_t* ptr_slot;   // parameter index of each pointer argument
    const int32_t* ptr_buffer; // the buffer it points into (-1: null pointer)
    const uint64_t* ptr_offset;// byte offset into that buffer
    void* module_handle;       // dlopen handle of the kernel module (for its TLS block)
    void* (*dynsmem)(void);    // the module's function returning the dynamic shared memory address
    uint64_t dyn_capacity;     // bytes reserved for dynamic shared memory
};

enum Status : int32_t { ST_OK = 0, ST_FAULT = 1, ST_BARRIER = 2, ST_CONFIG = 3, ST_INTERNAL = 4 };
enum Access : int32_t { ACC_UNKNOWN = 0, ACC_READ = 1, ACC_WRITE = 2 };

struct LaunchResult {
    int32_t status;
    int32_t has_thread;
    uint32_t block[3];
    uint32_t thread[3];
    int32_t buffer;    // the buffer an invalid access hit, or -1
    int32_t access;    // Access
    int64_t offset;    // byte offset of that access from the buffer's data
    int32_t line;
    int32_t pad_;
    uint64_t pc;       // code address of a faulting access, relative to `object`'s load address
    char object[512];  // the shared object containing it
    char file[512];
    char message[4096];
};

// ---- exported state read by kernel code ----------------------------------------------------------

extern "C" {
CUEMU_EXPORT uintptr_t cuemu_watch[4] = {0, 0, 0, 0};
CUEMU_EXPORT uintptr_t cuemu_async_watch[2] = {0, 0};
CUEMU_EXPORT unsigned char* cuemu_async_shadow = nullptr;
CUEMU_EXPORT ThreadPub* cuemu_current = nullptr;
CUEMU_EXPORT uint3 cuemu_block_idx = {0, 0, 0};
CUEMU_EXPORT dim3 cuemu_block_dim;
CUEMU_EXPORT dim3 cuemu_grid_dim;
}

namespace {

// ---- fibers --------------------------------------------------------------------------------------

#if defined(__x86_64__) && !defined(CUEMU_UCONTEXT)
// A context switch saves the callee-saved registers, MXCSR and the x87 control word on the old
// stack and restores them from the new one: no system call, unlike swapcontext (which saves the
// signal mask every time).
struct Context { void* sp; };
extern "C" void cuemu_switch_context(Context* from, Context* to);
asm(R"(
    .text
    .p2align 4
    .globl cuemu_switch_context
    .hidden cuemu_switch_context
    .type cuemu_switch_context, @function
cuemu_switch_context:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    subq $8, %rsp
    stmxcsr (%rsp)
    fnstcw 4(%rsp)
    movq %rsp, (%rdi)
    movq (%rsi), %rsp
    ldmxcsr (%rsp)
    fldcw 4(%rsp)
    addq $8, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size cuemu_switch_context, .-cuemu_switch_context
)");

inline void switch_context(Context* from, Context* to) { cuemu_switch_context(from, to); }

void init_context(Context* c, char* stack_lo, size_t size, void (*entry)()) {
    uint64_t* sp = (uint64_t*)(((uintptr_t)(stack_lo + size)) & ~(uintptr_t)15);
    *--sp = 0;                 // return address of `entry` (never used): keeps the ABI alignment
    *--sp = (uint64_t)entry;   // where the first switch's `ret` goes
    for (int i = 0; i < 6; ++i) *--sp = 0;  // rbp rbx r12 r13 r14 r15
    --sp;
    // Flush denormals to zero and treat denormal inputs as zero, like CuPy's -ftz=true.
    uint32_t* csr = (uint32_t*)sp;
    csr[0] = 0x1f80u | 0x8040u;  // default MXCSR + FTZ + DAZ
    csr[1] = 0x037fu;            // default x87 control word
    c->sp = sp;
}
#else
// Portable fallback.
struct Context { ucontext_t uc; };
inline void switch_context(Context* from, Context* to) { swapcontext(&from->uc, &to->uc); }
void init_context(Context* c, char* stack_lo, size_t size, void (*entry)()) {
    getcontext(&c->uc);
    c->uc.uc_stack.ss_sp = stack_lo;
    c->uc.uc_stack.ss_size = size;
    c->uc.uc_link = nullptr;
    makecontext(&c->uc, entry, 0);
}
#endif

const int kMaxThreads = 1024;
const size_t kStackSize = 256 * 1024;
const uint64_t kPoison64 = ~0ull;
const size_t kCanaryWindow = 256;

enum TState : int { TS_RUNNABLE, TS_BARRIER, TS_WARP, TS_EXITED };

struct Thread {
    ThreadPub pub;  // first: cuemu_current points here
    Context ctx;
    TState state;
    int warp;
    // what it waits for
    int op;
    unsigned mask;
    uint64_t in, out;
    int arg, width, pred;
    const char* file;
    int line;
    // cp.async: this thread's copies in flight (a ring in g_async), and its open group's number
    int aq_head, aq_count;
    uint64_t async_open;
};

// One asynchronous global -> shared copy in flight (see the cp.async section).
struct AsyncCopy {
    char* dst;
    uint32_t n;
    int line;
    uint64_t group;
    const char* file;
    unsigned char data[16];
};
const int kAsyncPerThread = 64;

struct Mapping {
    char* base;       // the whole mapping, guard pages included
    size_t len;
    char* lo;         // first byte after the front guard page
    char* hi;         // first byte of the tail guard page
    char* data;
    size_t nbytes;
    const BufferSpec* spec;
};

struct State {
    const LaunchRequest* req;
    LaunchResult* res;
    Thread* threads;
    int nthreads;
    int live;
    int arrived;
    unsigned warp_exists[kMaxThreads / 32];
    Context sched;
    Thread* running;
    volatile sig_atomic_t in_fiber;
    int failed;
    // dynamic shared memory and the module's TLS block
    char* dyn;
    char* tls_lo;
    char* tls_hi;
    Mapping* maps;
    int nmaps;
    uint64_t rng;
    // a signal caught in a fiber
    int sig;
    int sig_code;
    void* sig_addr;
    int sig_write;
    void* sig_pc;
    Thread* sig_thread;
    // cp.async copies in flight in the running block, over all its threads
    int async_pending;
};

State g;
Thread g_threads[kMaxThreads];
int g_order[kMaxThreads];
char* g_stacks = nullptr;
size_t g_page = 4096;
pthread_mutex_t g_launch_mutex = PTHREAD_MUTEX_INITIALIZER;
sigjmp_buf g_jmp;
pthread_t g_launch_thread;
const int kSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP};
const int kNumSignals = sizeof(kSignals) / sizeof(kSignals[0]);
struct sigaction g_old_actions[kNumSignals];
stack_t g_old_altstack;
char* g_altstack = nullptr;
const size_t kAltStackSize = 64 * 1024;
unsigned char g_ones[4096];
AsyncCopy* g_async = nullptr;           // kAsyncPerThread slots per thread, allocated once
unsigned char* g_shadow = nullptr;      // one byte per 4-byte word of the module's TLS block
size_t g_shadow_words = 0;

uint64_t splitmix(uint64_t* s) {
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

char* stack_of(int i) { return g_stacks + (size_t)i * (kStackSize + g_page) + g_page; }

bool ensure_stacks() {
    if (g_stacks) return true;
    g_page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t slot = kStackSize + g_page;
    void* p = mmap(nullptr, slot * kMaxThreads, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return false;
    for (int i = 0; i < kMaxThreads; ++i) mprotect((char*)p + i * slot, g_page, PROT_NONE);
    g_stacks = (char*)p;
    memset(g_ones, 0xff, sizeof g_ones);
    return true;
}

bool in_stack_guard(uintptr_t a) {
    if (!g_stacks) return false;
    const uintptr_t base = (uintptr_t)g_stacks, slot = kStackSize + g_page;
    if (a < base || a >= base + slot * kMaxThreads) return false;
    return (a - base) % slot < g_page;
}

// ---- errors --------------------------------------------------------------------------------------

void set_thread(Thread* t) {
    LaunchResult* r = g.res;
    r->has_thread = t != nullptr;
    r->block[0] = cuemu_block_idx.x;
    r->block[1] = cuemu_block_idx.y;
    r->block[2] = cuemu_block_idx.z;
    if (t) {
        r->thread[0] = t->pub.idx.x;
        r->thread[1] = t->pub.idx.y;
        r->thread[2] = t->pub.idx.z;
    }
}

void set_site(const char* file, int line) {
    if (!file) return;
    snprintf(g.res->file, sizeof g.res->file, "%s", file);
    g.res->line = line;
}

__attribute__((format(printf, 5, 6)))
void fail(int status, Thread* t, const char* file, int line, const char* fmt, ...) {
    if (g.failed) return;  // the first error wins
    g.failed = status;
    g.res->status = status;
    set_thread(t);
    set_site(file, line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g.res->message, sizeof g.res->message, fmt, ap);
    va_end(ap);
}

// Appends to the result message.
__attribute__((format(printf, 1, 2)))
void append(const char* fmt, ...) {
    char* m = g.res->message;
    const size_t used = strlen(m);
    if (used + 1 >= sizeof g.res->message) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m + used, sizeof g.res->message - used, fmt, ap);
    va_end(ap);
}

const char* op_name(int op) {
    switch (op) {
        case OP_SYNCWARP: return "__syncwarp";
        case OP_SHFL_IDX: return "__shfl_sync";
        case OP_SHFL_UP: return "__shfl_up_sync";
        case OP_SHFL_DOWN: return "__shfl_down_sync";
        case OP_SHFL_XOR: return "__shfl_xor_sync";
        case OP_BALLOT: return "__ballot_sync";
        case OP_ANY: return "__any_sync";
        case OP_ALL: return "__all_sync";
        case OP_WMMA: return "a wmma::*_sync call";
        case OP_MATCH_ANY: return "__match_any_sync";
        case OP_MATCH_ALL: return "__match_all_sync";
        case OP_ACTIVEMASK: return "__activemask";
        default: return "__reduce_*_sync";
    }
}

const char* barrier_name(int op) {
    switch (op) {
        case BAR_COUNT: return "__syncthreads_count";
        case BAR_AND: return "__syncthreads_and";
        case BAR_OR: return "__syncthreads_or";
        default: return "__syncthreads";
    }
}

bool same_site(const Thread* a, const Thread* b) {
    if (a->line != b->line) return false;
    if (a->file == b->file) return true;
    return a->file && b->file && strcmp(a->file, b->file) == 0;
}

// Never returns to the caller: the fiber is abandoned once the launch has failed.
[[noreturn]] void to_scheduler_for_good(Thread* t) {
    switch_context(&t->ctx, &g.sched);
    abort();  // unreachable: a failed launch never resumes its fibers
}

inline void to_scheduler(Thread* t) {
    switch_context(&t->ctx, &g.sched);
}

// ---- block barriers ------------------------------------------------------------------------------

void release_barrier() {
    if (g.failed) return;
    // Every live thread has arrived at a barrier: they must all be at the same one.
    Thread* first = nullptr;
    Thread* other = nullptr;
    for (int i = 0; i < g.nthreads; ++i) {
        Thread* t = &g.threads[i];
        if (t->state != TS_BARRIER) continue;
        if (!first)
            first = t;
        else if (!other && (!same_site(t, first) || t->op != first->op))
            other = t;
    }
    if (!first) return;
    if (other) {
        fail(ST_BARRIER, other, other->file, other->line,
             "divergent barrier: the threads of the block wait at different __syncthreads call "
             "sites (on a GPU this hangs or corrupts shared memory):");
        // Summarise each distinct site with a count and an example thread.
        for (int i = 0; i < g.nthreads; ++i) {
            Thread* t = &g.threads[i];
            if (t->state != TS_BARRIER) continue;
            bool seen = false;
            for (int j = 0; j < i && !seen; ++j) {
                Thread* u = &g.threads[j];
                seen = u->state == TS_BARRIER && same_site(u, t) && u->op == t->op;
            }
            if (seen) continue;
            int count = 0;
            for (int j = i; j < g.nthreads; ++j) {
                Thread* u = &g.threads[j];
                count += u->state == TS_BARRIER && same_site(u, t) && u->op == t->op;
            }
            append(" %d thread(s) at %s (%s:%d), e.g. threadIdx (%u,%u,%u);", count,
                   barrier_name(t->op), t->file, t->line, t->pub.idx.x, t->pub.idx.y, t->pub.idx.z);
        }
        return;
    }
    int count = 0;
    for (int i = 0; i < g.nthreads; ++i)
        if (g.threads[i].state == TS_BARRIER) count += g.threads[i].pred != 0;
    const int arrived = g.arrived;
    uint64_t out = 1;
    if (first->op == BAR_COUNT) out = (uint64_t)count;
    if (first->op == BAR_AND) out = count == arrived;
    if (first->op == BAR_OR) out = count != 0;
    for (int i = 0; i < g.nthreads; ++i) {
        Thread* t = &g.threads[i];
        if (t->state != TS_BARRIER) continue;
        t->out = out;
        t->state = TS_RUNNABLE;
    }
    g.arrived = 0;
}

// ---- warp collectives ----------------------------------------------------------------------------

Thread* lane_thread(int warp, int lane) {
    const int i = warp * 32 + lane;
    return i < g.nthreads ? &g.threads[i] : nullptr;
}

void complete_collective(int warp, unsigned eff, int op) {
    Thread* lanes[32] = {};
    for (int l = 0; l < 32; ++l)
        if (eff >> l & 1u) lanes[l] = lane_thread(warp, l);
    uint64_t common = 0;
    if (op == OP_BALLOT || op == OP_ANY || op == OP_ALL) {
        unsigned bits = 0;
        for (int l = 0; l < 32; ++l)
            if (lanes[l] && lanes[l]->in) bits |= 1u << l;
        common = op == OP_BALLOT ? bits : op == OP_ANY ? bits != 0 : bits == eff;
    } else if (op >= OP_REDUCE_ADD && op <= OP_REDUCE_XOR) {
        bool started = false;
        uint32_t acc = 0;
        for (int l = 0; l < 32; ++l) {
            if (!lanes[l]) continue;
            const uint32_t v = (uint32_t)lanes[l]->in;
            if (!started) { acc = v; started = true; continue; }
            switch (op) {
                case OP_REDUCE_ADD: acc += v; break;
                case OP_REDUCE_MIN_U: acc = v < acc ? v : acc; break;
                case OP_REDUCE_MAX_U: acc = v > acc ? v : acc; break;
                case OP_REDUCE_MIN_I: acc = (int32_t)v < (int32_t)acc ? v : acc; break;
                case OP_REDUCE_MAX_I: acc = (int32_t)v > (int32_t)acc ? v : acc; break;
                case OP_REDUCE_AND: acc &= v; break;
                case OP_REDUCE_OR: acc |= v; break;
                default: acc ^= v; break;
            }
        }
        common = acc;
    } else if (op == OP_MATCH_ALL) {
        bool all = true;
        uint64_t v0 = 0;
        bool have = false;
        for (int l = 0; l < 32; ++l) {
            if (!lanes[l]) continue;
            if (!have) { v0 = lanes[l]->in; have = true; }
            all = all && lanes[l]->in == v0;
        }
        common = all ? eff : 0;
    }
    for (int l = 0; l < 32; ++l) {
        Thread* t = lanes[l];
        if (!t) continue;
        uint64_t out = common;
        if (op >= OP_SHFL_IDX && op <= OP_SHFL_XOR) {
            const int w = t->width;
            const int seg = l & ~(w - 1);
            int src = l;
            if (op == OP_SHFL_IDX) src = seg + (t->arg & (w - 1));
            if (op == OP_SHFL_UP) src = (l - seg) >= t->arg ? l - t->arg : l;
            if (op == OP_SHFL_DOWN) src = (l - seg) + t->arg < w ? l + t->arg : l;
            if (op == OP_SHFL_XOR) {
                src = l ^ t->arg;
                if (src >= seg + w || src > 31) src = l;  // later segments: own value (CUDA docs)
            }
            // A source lane that does not take part has no defined value: hand back poison
            // (NaN as float) rather than a plausible number.
            out = (src >= 0 && src < 32 && lanes[src]) ? lanes[src]->in : kPoison64;
        } else if (op == OP_MATCH_ANY) {
            unsigned m = 0;
            for (int k = 0; k < 32; ++k)
                if (lanes[k] && lanes[k]->in == t->in) m |= 1u << k;
            out = m;
        } else if (op == OP_SYNCWARP || op == OP_WMMA) {
            out = 0;
        }
        t->out = out;
        t->state = TS_RUNNABLE;
    }
}

// Releases the lanes of `warp` waiting in __activemask() once no other live lane of the warp can
// run: they are the lanes that reached this point together.
void try_activemask(int warp) {
    unsigned waiting = 0;
    for (int l = 0; l < 32; ++l) {
        Thread* u = lane_thread(warp, l);
        if (!u) break;
        if (u->state == TS_RUNNABLE) return;
        if (u->state == TS_WARP && u->op == OP_ACTIVEMASK) waiting |= 1u << l;
    }
    for (int l = 0; l < 32; ++l) {
        if (!(waiting >> l & 1u)) continue;
        Thread* u = lane_thread(warp, l);
        u->out = waiting;
        u->state = TS_RUNNABLE;
    }
}

// After a lane exits: a lane waiting in a collective whose mask names it can never finish.
void check_exit_against_collectives(Thread* gone) {
    for (int l = 0; l < 32; ++l) {
        Thread* u = lane_thread(gone->warp, l);
        if (!u || u->state != TS_WARP || !(u->mask >> gone->pub.lane & 1u)) continue;
        fail(ST_BARRIER, u, u->file, u->line,
             "%s with mask 0x%08x waits for lane %d (threadIdx (%u,%u,%u)), which has exited: the "
             "mask must name only lanes that reach the same call (undefined behaviour on a GPU)",
             op_name(u->op), u->mask, gone->pub.lane, gone->pub.idx.x, gone->pub.idx.y,
             gone->pub.idx.z);
        return;
    }
}

// ---- fiber entry and exit ------------------------------------------------------------------------

void fiber_main() {
    Thread* t = g.running;
    const KernelEntry* k = g.req->kernel;
    k->thunk(k->fn, g.req->args);
    t->state = TS_EXITED;
    g.live--;
    check_exit_against_collectives(t);
    if (!g.failed && g.live > 0 && g.arrived == g.live) release_barrier();
    to_scheduler_for_good(t);
}

// ---- deadlock diagnosis --------------------------------------------------------------------------

void report_deadlock() {
    Thread* example = nullptr;
    for (int i = 0; i < g.nthreads && !example; ++i)
        if (g.threads[i].state != TS_EXITED) example = &g.threads[i];
    if (!example) return;
    fail(ST_BARRIER, example, example->file, example->line,
         "deadlock: every live thread of the block is blocked and no barrier or warp collective "
         "can complete:");
    for (int i = 0; i < g.nthreads; ++i) {
        Thread* t = &g.threads[i];
        if (t->state == TS_EXITED || t->state == TS_RUNNABLE) continue;
        bool seen = false;
        for (int j = 0; j < i && !seen; ++j) {
            Thread* u = &g.threads[j];
            seen = u->state == t->state && u->op == t->op && same_site(u, t) &&
                   (t->state == TS_BARRIER || u->mask == t->mask);
        }
        if (seen) continue;
        int count = 0;
        for (int j = i; j < g.nthreads; ++j) {
            Thread* u = &g.threads[j];
            count += u->state == t->state && u->op == t->op && same_site(u, t) &&
                     (t->state == TS_BARRIER || u->mask == t->mask);
        }
        if (t->state == TS_BARRIER)
            append(" %d thread(s) at %s (%s:%d), e.g. threadIdx (%u,%u,%u);", count,
                   barrier_name(t->op), t->file, t->line, t->pub.idx.x, t->pub.idx.y, t->pub.idx.z);
        else
            append(" %d thread(s) in %s with mask 0x%08x (%s:%d), e.g. threadIdx (%u,%u,%u);",
                   count, op_name(t->op), t->mask, t->file, t->line, t->pub.idx.x, t->pub.idx.y,
                   t->pub.idx.z);
    }
    int exited = 0;
    for (int i = 0; i < g.nthreads; ++i) exited += g.threads[i].state == TS_EXITED;
    if (exited) append(" %d thread(s) have exited.", exited);
}

// ---- memory: argument mappings, canaries, shared memory poison -----------------------------------

// Guard region on either side of an argument copy: wide enough that a wrong stride of a few
// thousand elements still lands in it (and is attributed to the right argument).
const size_t kGuardBytes = 64 * 1024;

bool map_buffer(const BufferSpec* spec, Mapping* m) {
    const size_t page = g_page;
    const size_t guard = (kGuardBytes + page - 1) / page * page;
    const size_t a = (size_t)(spec->addr % 256);
    const size_t nbytes = (size_t)spec->nbytes;
    const size_t tail_gap = (256 - (a + nbytes) % 256) % 256;
    const size_t mid = (nbytes + tail_gap + page - 1) / page * page;
    const size_t len = mid + 2 * guard;
    void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return false;
    m->base = (char*)p;
    m->len = len;
    m->lo = m->base + guard;
    m->hi = m->lo + mid;
    m->data = m->hi - tail_gap - nbytes;
    m->nbytes = nbytes;
    m->spec = spec;
    memset(m->lo, 0xff, (size_t)(m->data - m->lo));
    if (nbytes) memcpy(m->data, (const void*)(uintptr_t)spec->addr, nbytes);
    memset(m->data + nbytes, 0xff, tail_gap);
    mprotect(m->base, guard, PROT_NONE);
    mprotect(m->hi, guard, PROT_NONE);
    if (spec->readonly && mid) mprotect(m->lo, mid, PROT_READ);
    return true;
}

// First byte in [lo, hi) that is not 0xFF, or null.
char* first_changed(char* lo, char* hi) {
    while (lo < hi) {
        const size_t n = (size_t)(hi - lo) < sizeof g_ones ? (size_t)(hi - lo) : sizeof g_ones;
        if (memcmp(lo, g_ones, n) != 0) {
            for (size_t i = 0; i < n; ++i)
                if ((unsigned char)lo[i] != 0xff) return lo + i;
        }
        lo += n;
    }
    return nullptr;
}

// After a launch: the poisoned slack next to every writable argument and past the dynamic shared
// memory in use must be intact. The access checks catch instrumented code writing there as it
// happens; this catches what the compiler could not instrument (libc's memcpy, inline assembly).
bool check_canaries() {
    for (int i = 0; i < g.nmaps; ++i) {
        Mapping* m = &g.maps[i];
        if (m->spec->readonly) continue;  // read-only pages fault on the write itself
        char* bad = first_changed(m->lo, m->data);
        if (!bad) bad = first_changed(m->data + m->nbytes, m->hi);
        if (!bad) continue;
        fail(ST_FAULT, nullptr, nullptr, 0,
             "out-of-bounds write: bytes next to an argument array were overwritten (found after "
             "the launch, so the thread is unknown)");
        g.res->buffer = i;
        g.res->access = ACC_WRITE;
        g.res->offset = (int64_t)(bad - m->data);
        return false;
    }
    if (g.dyn) {
        const uint64_t used = g.req->shared_mem;
        const uint64_t cap = g.req->dyn_capacity;
        const uint64_t end = used + kCanaryWindow < cap ? used + kCanaryWindow : cap;
        char* bad = first_changed(g.dyn + used, g.dyn + end);
        if (bad) {
            fail(ST_FAULT, nullptr, nullptr, 0,
                 "out-of-bounds write to dynamic shared memory: byte offset %lld written, but the "
                 "launch has shared_mem=%llu bytes (found after the launch)",
                 (long long)(bad - g.dyn), (unsigned long long)used);
            return false;
        }
    }
    return true;
}

void poison_shared() {
    if (!g.tls_lo) return;
    const uint64_t cap = g.req->dyn_capacity;
    const uint64_t used = g.req->shared_mem;
    const uint64_t window = used + kCanaryWindow < cap ? used + kCanaryWindow : cap;
    // Static __shared__ variables live in the module's TLS block outside the dynamic area.
    if (g.dyn > g.tls_lo) memset(g.tls_lo, 0xff, (size_t)(g.dyn - g.tls_lo));
    if (g.tls_hi > g.dyn + cap) memset(g.dyn + cap, 0xff, (size_t)(g.tls_hi - (g.dyn + cap)));
    memset(g.dyn, 0xff, (size_t)window);
}

struct TlsQuery { size_t modid; size_t memsz; };

int find_tls_segment(struct dl_phdr_info* info, size_t, void* data) {
    TlsQuery* q = (TlsQuery*)data;
    if (info->dlpi_tls_modid != q->modid) return 0;
    for (int i = 0; i < info->dlpi_phnum; ++i)
        if (info->dlpi_phdr[i].p_type == PT_TLS) q->memsz = info->dlpi_phdr[i].p_memsz;
    return 1;
}

// Locates this thread's copy of the kernel module's TLS block.
bool locate_tls() {
    g.dyn = (char*)g.req->dynsmem();  // also makes glibc allocate the block for this thread
    void* block = nullptr;
    TlsQuery q = {0, 0};
    if (dlinfo(g.req->module_handle, RTLD_DI_TLS_MODID, &q.modid) != 0 || q.modid == 0) return false;
    if (dlinfo(g.req->module_handle, RTLD_DI_TLS_DATA, &block) != 0 || !block) return false;
    dl_iterate_phdr(find_tls_segment, &q);
    g.tls_lo = (char*)block;
    g.tls_hi = g.tls_lo + q.memsz;
    return g.dyn >= g.tls_lo && g.dyn + g.req->dyn_capacity <= g.tls_hi;
}

// ---- signals -------------------------------------------------------------------------------------

void on_fault(int sig, siginfo_t* si, void* ucv) {
    if (!g.in_fiber || !pthread_equal(pthread_self(), g_launch_thread)) {
        // Not a fault of emulated code: restore the previous handler and let the instruction
        // fault again under it.
        for (int i = 0; i < kNumSignals; ++i)
            if (kSignals[i] == sig) sigaction(sig, &g_old_actions[i], nullptr);
        return;
    }
    g.in_fiber = 0;
    g.sig = sig;
    g.sig_code = si->si_code;
    g.sig_addr = si->si_addr;
    g.sig_write = -1;
    g.sig_pc = nullptr;
#if defined(__x86_64__) && defined(REG_ERR)
    const ucontext_t* uc = (const ucontext_t*)ucv;
    g.sig_pc = (void*)uc->uc_mcontext.gregs[REG_RIP];
    if (sig == SIGSEGV) g.sig_write = (uc->uc_mcontext.gregs[REG_ERR] & 2) ? 1 : 0;  // error code W bit
#else
    (void)ucv;
#endif
    g.sig_thread = g.running;
    siglongjmp(g_jmp, 1);
}

bool install_handlers() {
    if (!g_altstack) {
        g_altstack = (char*)mmap(nullptr, kAltStackSize, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (g_altstack == (char*)MAP_FAILED) {
            g_altstack = nullptr;
            return false;
        }
    }
    stack_t ss;
    ss.ss_sp = g_altstack;
    ss.ss_size = kAltStackSize;
    ss.ss_flags = 0;
    sigaltstack(&ss, &g_old_altstack);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < kNumSignals; ++i) sigaction(kSignals[i], &sa, &g_old_actions[i]);
    return true;
}

void restore_handlers() {
    for (int i = 0; i < kNumSignals; ++i) sigaction(kSignals[i], &g_old_actions[i], nullptr);
    sigaltstack(&g_old_altstack, nullptr);
}

void describe_signal_kind();
void set_pc(void* pc);

void describe_signal() {
    describe_signal_kind();
    // The faulting instruction, for its source line (the handler itself must not call dladdr).
    set_pc((char*)g.sig_pc + 1);  // set_pc expects a return address, one past the instruction
}

void describe_signal_kind() {
    Thread* t = g.sig_thread;
    const uintptr_t a = (uintptr_t)g.sig_addr;
    const char* what = g.sig_write == 1 ? "write" : g.sig_write == 0 ? "read" : "access";
    if (g.sig == SIGSEGV || g.sig == SIGBUS) {
        for (int i = 0; i < g.nmaps; ++i) {
            Mapping* m = &g.maps[i];
            if (a < (uintptr_t)m->base || a >= (uintptr_t)m->base + m->len) continue;
            const bool inside = a >= (uintptr_t)m->data && a < (uintptr_t)m->data + m->nbytes;
            if (inside && m->spec->readonly)
                fail(ST_FAULT, t, nullptr, 0, "write to an array passed as a pointer to const");
            else
                fail(ST_FAULT, t, nullptr, 0, "out-of-bounds %s", what);
            g.res->buffer = i;
            g.res->access = inside ? ACC_WRITE : g.sig_write == 1 ? ACC_WRITE
                                                 : g.sig_write == 0 ? ACC_READ : ACC_UNKNOWN;
            g.res->offset = (int64_t)(a - (uintptr_t)m->data);
            return;
        }
        if (in_stack_guard(a)) {
            fail(ST_FAULT, t, nullptr, 0,
                 "stack overflow: the emulator gives each CUDA thread %zu KiB of stack (large local "
                 "arrays, or unbounded recursion?)", kStackSize / 1024);
            return;
        }
        if (g.sig == SIGSEGV && g.sig_code == SI_KERNEL) {
            fail(ST_FAULT, t, nullptr, 0,
                 "general protection fault: a misaligned vector access or a non-canonical address");
            return;
        }
        if (a < 65536) {
            fail(ST_FAULT, t, nullptr, 0, "invalid %s at address 0x%llx (a null pointer?)", what,
                 (unsigned long long)a);
            return;
        }
        fail(ST_FAULT, t, nullptr, 0,
             "invalid %s at address 0x%llx, which is inside no argument array (a pointer not "
             "derived from a kernel argument, or far out of bounds)", what, (unsigned long long)a);
        return;
    }
    if (g.sig == SIGFPE) {
        fail(ST_FAULT, t, nullptr, 0, "arithmetic exception (integer division by zero or overflow)");
        return;
    }
    if (g.sig == SIGILL) {
        fail(ST_FAULT, t, nullptr, 0, "illegal instruction at 0x%llx", (unsigned long long)a);
        return;
    }
    fail(ST_FAULT, t, nullptr, 0, "trap (signal %d)", g.sig);
}

// ---- checked memory accesses ---------------------------------------------------------------------

void set_pc(void* pc) {
    Dl_info info;
    if (pc && dladdr(pc, &info) && info.dli_fbase) {
        g.res->pc = (uint64_t)((uintptr_t)pc - (uintptr_t)info.dli_fbase);
        snprintf(g.res->object, sizeof g.res->object, "%s", info.dli_fname ? info.dli_fname : "");
    }
}

__attribute__((noinline)) void mem_check_slow(uintptr_t a, size_t n, int write, void* pc) {
    Thread* t = g.running;
    if (!t || g.failed) return;
    for (int i = 0; i < g.nmaps; ++i) {
        Mapping* m = &g.maps[i];
        const uintptr_t base = (uintptr_t)m->base, data = (uintptr_t)m->data;
        if (a + n <= base || a >= base + m->len) continue;
        const bool inside = a >= data && a + n <= data + m->nbytes;
        if (inside && !(write && m->spec->readonly)) return;
        if (inside)
            fail(ST_FAULT, t, nullptr, 0, "write to an array passed as a pointer to const");
        else
            fail(ST_FAULT, t, nullptr, 0, "out-of-bounds %s of %zu byte(s)", write ? "write" : "read", n);
        g.res->buffer = i;
        g.res->access = write ? ACC_WRITE : ACC_READ;
        g.res->offset = (int64_t)(a - data);
        set_pc(pc);
        to_scheduler_for_good(t);
    }
    if (a + n > cuemu_watch[2] && a < cuemu_watch[3]) {
        fail(ST_FAULT, t, nullptr, 0,
             "out-of-bounds %s of dynamic shared memory: byte offset %lld, but the launch has "
             "shared_mem=%llu bytes", write ? "write" : "read", (long long)(a - (uintptr_t)g.dyn),
             (unsigned long long)g.req->shared_mem);
        set_pc(pc);
        to_scheduler_for_good(t);
    }
}


// ---- cp.async ------------------------------------------------------------------------------------
// An asynchronous copy reads its source when it is issued (as the copy engine may), poisons its
// destination (0xFF: NaN) and marks the destination's words in g_shadow. It lands (data written,
// marks cleared) only when its thread waits for its group; __syncthreads does not land anything,
// as on the GPU. While any copy is in flight, cuemu_async_watch spans the TLS block, so that
// cuda_emu.h looks up the shadow on every access to shared memory. That covers every access through
// a pointer (dynamic shared memory, a pointer into a static __shared__ array); g++ leaves direct
// accesses to a static __shared__ array by name uninstrumented, and those see the 0xFF poison.

AsyncCopy* async_slot(const Thread* t, int i) {
    return &g_async[(size_t)t->pub.linear * kAsyncPerThread + (size_t)((t->aq_head + i) % kAsyncPerThread)];
}

void async_reset_block() {
    for (int i = 0; i < g.nthreads; ++i) {
        g.threads[i].aq_head = g.threads[i].aq_count = 0;
        g.threads[i].async_open = 0;
    }
    if (g.async_pending && g_shadow) memset(g_shadow, 0, g_shadow_words);
    g.async_pending = 0;
    cuemu_async_watch[0] = cuemu_async_watch[1] = 0;
}

bool async_prepare() {
    if (!g_async) {
        g_async = (AsyncCopy*)calloc((size_t)kMaxThreads * kAsyncPerThread, sizeof(AsyncCopy));
        if (!g_async) return false;
    }
    const size_t words = (size_t)(g.tls_hi - g.tls_lo) / 4 + 2;
    if (words > g_shadow_words) {
        free(g_shadow);
        g_shadow = (unsigned char*)calloc(words, 1);
        if (!g_shadow) return false;
        g_shadow_words = words;
    }
    memset(g_shadow, 0, g_shadow_words);
    cuemu_async_shadow = g_shadow;
    return true;
}

size_t shadow_word(uintptr_t a) { return (size_t)((a - (uintptr_t)g.tls_lo) >> 2); }

// Where in shared memory `a` is, for messages: "dynamic shared memory byte N" or "static ...".
void describe_shared(char* out, size_t size, uintptr_t a) {
    const uintptr_t dyn = (uintptr_t)g.dyn;
    if (a >= dyn && a < dyn + g.req->dyn_capacity)
        snprintf(out, size, "dynamic shared memory byte %llu", (unsigned long long)(a - dyn));
    else
        snprintf(out, size, "a static __shared__ variable (TLS byte %llu)",
                 (unsigned long long)(a - (uintptr_t)g.tls_lo));
}

// The in-flight copy overlapping [a, a+n), and the thread that issued it.
const AsyncCopy* find_async(uintptr_t a, size_t n, const Thread** owner) {
    for (int i = 0; i < g.nthreads; ++i) {
        const Thread* t = &g.threads[i];
        for (int j = 0; j < t->aq_count; ++j) {
            const AsyncCopy* c = async_slot(t, j);
            if (a < (uintptr_t)c->dst + c->n && (uintptr_t)c->dst < a + n) {
                *owner = t;
                return c;
            }
        }
    }
    return nullptr;
}

}  // namespace

extern "C" {

CUEMU_EXPORT void cuemu_async_fault(uintptr_t a, size_t n, int write, void* pc) {
    Thread* t = g.running;
    if (!t || g.failed) return;
    const Thread* owner = nullptr;
    const AsyncCopy* c = find_async(a, n, &owner);
    if (!c) return;  // the shadow and the queues always agree; nothing to report otherwise
    char where[128];
    describe_shared(where, sizeof where, a);
    fail(ST_FAULT, t, nullptr, 0,
         "%s of %zu byte(s) at %s before the cp.async writing it has landed: it was issued by "
         "thread (%u,%u,%u) at %s:%d, group %llu, and that thread has not waited for the group "
         "yet (a missing cp.async.wait_group / __pipeline_wait_prior, or a missing __syncthreads "
         "between the wait and another thread's read)",
         write ? "write" : "read", n, where, owner->pub.idx.x, owner->pub.idx.y, owner->pub.idx.z,
         c->file ? c->file : "?", c->line, (unsigned long long)c->group);
    set_pc(pc);
    to_scheduler_for_good(t);
}

CUEMU_EXPORT void cuemu_async_copy(void* dst, const void* src, const void* data, unsigned n,
                                   unsigned src_bytes, const char* file, int line) {
    Thread* t = g.running;
    if (!t || g.failed) return;
    const uintptr_t a = (uintptr_t)dst;
    if (n != 4 && n != 8 && n != 16) {
        fail(ST_FAULT, t, file, line, "cp.async of %u bytes: the size must be 4, 8 or 16", n);
        to_scheduler_for_good(t);
    }
    if (a < (uintptr_t)g.tls_lo || a + n > (uintptr_t)g.tls_hi) {
        fail(ST_FAULT, t, file, line, "cp.async destination %p is not in shared memory", dst);
        to_scheduler_for_good(t);
    }
    if ((a % n) != 0 || (src_bytes && ((uintptr_t)src % n) != 0)) {
        fail(ST_FAULT, t, file, line,
             "misaligned cp.async of %u bytes (shared %p, global %p): both addresses must be "
             "%u-byte aligned", n, dst, src, n);
        to_scheduler_for_good(t);
    }
    mem_check_slow(a, n, 1, __builtin_return_address(0));  // past the launch's dynamic shared memory
    for (size_t w = shadow_word(a); w <= shadow_word(a + n - 1); ++w)
        if (g_shadow[w]) {
            const Thread* owner = nullptr;
            const AsyncCopy* c = find_async(a, n, &owner);
            fail(ST_FAULT, t, file, line,
                 "cp.async into shared memory that an earlier cp.async (thread (%u,%u,%u) at %s:%d) "
                 "still has in flight: wait for that group before reusing its stage",
                 owner ? owner->pub.idx.x : 0, owner ? owner->pub.idx.y : 0,
                 owner ? owner->pub.idx.z : 0, c && c->file ? c->file : "?", c ? c->line : 0);
            to_scheduler_for_good(t);
        }
    if (t->aq_count == kAsyncPerThread) {
        fail(ST_FAULT, t, file, line,
             "more than %d cp.async copies in flight in one thread (the emulator's limit): wait "
             "for older groups", kAsyncPerThread);
        to_scheduler_for_good(t);
    }
    AsyncCopy* c = async_slot(t, t->aq_count++);
    c->dst = (char*)dst;
    c->n = n;
    c->group = t->async_open;
    c->file = file;
    c->line = line;
    memcpy(c->data, data, n);
    memset(dst, 0xff, n);
    for (size_t w = shadow_word(a); w <= shadow_word(a + n - 1); ++w) g_shadow[w] = 1;
    if (g.async_pending++ == 0) {
        cuemu_async_watch[0] = (uintptr_t)g.tls_lo;
        cuemu_async_watch[1] = (uintptr_t)g.tls_hi;
    }
}

CUEMU_EXPORT void cuemu_async_commit(void) {
    if (g.running) ++g.running->async_open;
}

CUEMU_EXPORT void cuemu_async_wait(unsigned prior) {
    Thread* t = g.running;
    if (!t || g.failed) return;
    // Groups numbered below async_open - prior are complete after the wait (the open, uncommitted
    // group is not waited for, as with cp.async.wait_group).
    while (t->aq_count > 0) {
        AsyncCopy* c = async_slot(t, 0);
        if (c->group + prior >= t->async_open) break;
        memcpy(c->dst, c->data, c->n);
        const uintptr_t a = (uintptr_t)c->dst;
        for (size_t w = shadow_word(a); w <= shadow_word(a + c->n - 1); ++w) g_shadow[w] = 0;
        t->aq_head = (t->aq_head + 1) % kAsyncPerThread;
        --t->aq_count;
        if (--g.async_pending == 0) cuemu_async_watch[0] = cuemu_async_watch[1] = 0;
    }
}

}  // extern "C"

namespace {

// ---- the launch ----------------------------------------------------------------------------------

void fill_order(int n) {
    for (int i = 0; i < n; ++i) g_order[i] = g.req->order == 1 ? n - 1 - i : i;
    if (g.req->order == 2)
        for (int i = n - 1; i > 0; --i) {
            const int j = (int)(splitmix(&g.rng) % (uint64_t)(i + 1));
            const int tmp = g_order[i];
            g_order[i] = g_order[j];
            g_order[j] = tmp;
        }
}

int run_block(uint32_t bx, uint32_t by, uint32_t bz) {
    const LaunchRequest* req = g.req;
    cuemu_block_idx = uint3{bx, by, bz};
    async_reset_block();  // copies a finished block left in flight are dropped (they would land)
    poison_shared();
    const uint32_t nx = req->block[0], ny = req->block[1];
    const int n = g.nthreads;
    for (int i = 0; i < kMaxThreads / 32; ++i) g.warp_exists[i] = 0;
    for (int i = 0; i < n; ++i) {
        Thread* t = &g.threads[i];
        t->pub.idx = uint3{(unsigned)i % nx, ((unsigned)i / nx) % ny, (unsigned)i / (nx * ny)};
        t->pub.linear = i;
        t->pub.lane = i & 31;
        t->warp = i >> 5;
        t->state = TS_RUNNABLE;
        t->file = nullptr;
        t->line = 0;
        t->mask = 0;
        g.warp_exists[t->warp] |= 1u << t->pub.lane;
        init_context(&t->ctx, stack_of(i), kStackSize, fiber_main);
    }
    g.live = n;
    g.arrived = 0;
    while (g.live > 0) {
        fill_order(n);
        int ran = 0;
        for (int k = 0; k < n; ++k) {
            Thread* t = &g.threads[g_order[k]];
            if (t->state != TS_RUNNABLE) continue;
            g.running = t;
            cuemu_current = &t->pub;
            g.in_fiber = 1;
            switch_context(&g.sched, &t->ctx);
            g.in_fiber = 0;
            g.running = nullptr;
            if (g.failed) return g.failed;
            try_activemask(t->warp);
            ++ran;
        }
        if (!ran && g.live > 0) {
            report_deadlock();
            return g.failed ? g.failed : ST_INTERNAL;
        }
    }
    return ST_OK;
}

uint64_t gcd64(uint64_t a, uint64_t b) {
    while (b) {
        const uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int run_grid() {
    const LaunchRequest* req = g.req;
    const uint64_t gx = req->grid[0], gy = req->grid[1], gz = req->grid[2];
    const uint64_t total = gx * gy * gz;
    // The random order visits blocks as (a*i + c) mod total, a permutation when gcd(a, total) = 1.
    uint64_t a = 1, c = 0;
    if (req->order == 2 && total > 1) {
        a = splitmix(&g.rng) % total;
        while (a == 0 || gcd64(a, total) != 1) a = (a + 1) % total;
        c = splitmix(&g.rng) % total;
    }
    for (uint64_t i = 0; i < total; ++i) {
        uint64_t b = i;
        if (req->order == 1) b = total - 1 - i;
        if (req->order == 2) b = (uint64_t)(((unsigned __int128)a * i + c) % total);
        const int status = run_block((uint32_t)(b % gx), (uint32_t)((b / gx) % gy),
                                     (uint32_t)(b / (gx * gy)));
        if (status) return status;
    }
    return ST_OK;
}

int launch_locked(const LaunchRequest* req, LaunchResult* res) {
    memset(&g, 0, sizeof g);
    g.req = req;
    g.res = res;
    memset(res, 0, sizeof *res);
    res->buffer = -1;
    g.rng = req->seed;
    g.threads = g_threads;
    const uint64_t nthreads = (uint64_t)req->block[0] * req->block[1] * req->block[2];
    if (nthreads == 0 || nthreads > (uint64_t)kMaxThreads ||
        (uint64_t)req->grid[0] * req->grid[1] * req->grid[2] == 0) {
        fail(ST_CONFIG, nullptr, nullptr, 0, "invalid launch configuration");
        return res->status;
    }
    if (req->shared_mem > req->dyn_capacity) {
        fail(ST_CONFIG, nullptr, nullptr, 0, "dynamic shared memory larger than the emulator's area");
        return res->status;
    }
    g.nthreads = (int)nthreads;
    if (!ensure_stacks()) {
        fail(ST_INTERNAL, nullptr, nullptr, 0, "could not map the fiber stacks");
        return res->status;
    }
    if (!locate_tls()) {
        fail(ST_INTERNAL, nullptr, nullptr, 0,
             "could not locate the kernel module's thread-local storage (shared memory)");
        return res->status;
    }
    if (!async_prepare()) {
        fail(ST_INTERNAL, nullptr, nullptr, 0, "could not allocate the cp.async bookkeeping");
        return res->status;
    }
    cuemu_grid_dim = dim3(req->grid[0], req->grid[1], req->grid[2]);
    cuemu_block_dim = dim3(req->block[0], req->block[1], req->block[2]);

    Mapping* maps = (Mapping*)calloc((size_t)(req->nbuffers > 0 ? req->nbuffers : 1), sizeof(Mapping));
    g.maps = maps;
    for (int i = 0; i < req->nbuffers; ++i) {
        if (!map_buffer(&req->buffers[i], &maps[i])) {
            fail(ST_INTERNAL, nullptr, nullptr, 0, "could not map a copy of argument buffer %d", i);
            break;
        }
        g.nmaps = i + 1;
    }
    if (!g.failed) {
        for (int i = 0; i < req->nptrs; ++i) {
            void* p = nullptr;
            if (req->ptr_buffer[i] >= 0) p = maps[req->ptr_buffer[i]].data + req->ptr_offset[i];
            memcpy(req->args[req->ptr_slot[i]], &p, sizeof p);
        }
        // The memory-access callbacks look closely only at these ranges.
        uintptr_t lo_all = ~(uintptr_t)0, hi_all = 0;
        for (int i = 0; i < g.nmaps; ++i) {
            const uintptr_t lo = (uintptr_t)maps[i].base, hi = lo + maps[i].len;
            lo_all = lo < lo_all ? lo : lo_all;
            hi_all = hi > hi_all ? hi : hi_all;
        }
        cuemu_watch[0] = g.nmaps ? lo_all : 0;
        cuemu_watch[1] = g.nmaps ? hi_all : 0;
        cuemu_watch[2] = (uintptr_t)g.dyn + req->shared_mem;
        cuemu_watch[3] = (uintptr_t)g.dyn + req->dyn_capacity;
        g_launch_thread = pthread_self();
        if (!install_handlers()) {
            fail(ST_INTERNAL, nullptr, nullptr, 0, "could not install the fault handlers");
        } else {
            if (sigsetjmp(g_jmp, 1) == 0) {
                run_grid();
            } else {
                describe_signal();
            }
            restore_handlers();
        }
        cuemu_current = nullptr;
        cuemu_watch[0] = cuemu_watch[1] = cuemu_watch[2] = cuemu_watch[3] = 0;
        async_reset_block();
        // A safety net behind the access checks: code the compiler did not instrument (a libc
        // memcpy, inline assembly) could still have written next to an argument.
        if (!g.failed) check_canaries();
        if (!g.failed)
            for (int i = 0; i < g.nmaps; ++i)
                if (maps[i].spec->copy_back && maps[i].nbytes)
                    memcpy((void*)(uintptr_t)maps[i].spec->addr, maps[i].data, maps[i].nbytes);
    }
    for (int i = 0; i < g.nmaps; ++i) munmap(maps[i].base, maps[i].len);
    free(maps);
    g.maps = nullptr;
    g.nmaps = 0;
    return res->status;
}

}  // namespace

// ---- entry points called from kernel code ----------------------------------------------------------

extern "C" {

CUEMU_EXPORT int cuemu_sync_block(int op, int pred, const char* file, int line) {
    Thread* t = g.running;
    if (!t) return 1;
    t->state = TS_BARRIER;
    t->op = op;
    t->pred = pred;
    t->file = file;
    t->line = line;
    g.arrived++;
    if (g.arrived == g.live) release_barrier();
    if (g.failed) to_scheduler_for_good(t);
    to_scheduler(t);
    return (int)t->out;
}

CUEMU_EXPORT uint64_t cuemu_warp(int op, unsigned mask, uint64_t value, int arg, int width,
                                 const char* file, int line) {
    Thread* t = g.running;
    if (!t) return value;
    const int lane = t->pub.lane;
    if (!(mask >> lane & 1u)) {
        fail(ST_BARRIER, t, file, line,
             "%s called by lane %d with mask 0x%08x, which does not include the calling lane",
             op_name(op), lane, mask);
        to_scheduler_for_good(t);
    }
    if (op >= OP_SHFL_IDX && op <= OP_SHFL_XOR && (width < 1 || width > 32 || (width & (width - 1)))) {
        fail(ST_FAULT, t, file, line, "%s with width %d: the width must be a power of 2 in [1, 32]",
             op_name(op), width);
        to_scheduler_for_good(t);
    }
    const unsigned eff = mask & g.warp_exists[t->warp];
    for (int l = 0; l < 32; ++l) {
        if (!(eff >> l & 1u)) continue;
        Thread* u = lane_thread(t->warp, l);
        if (u->state == TS_EXITED) {
            fail(ST_BARRIER, t, file, line,
                 "%s with mask 0x%08x names lane %d (threadIdx (%u,%u,%u)), which has exited: the "
                 "mask must name only lanes that reach the same call (undefined behaviour on a GPU)",
                 op_name(op), mask, l, u->pub.idx.x, u->pub.idx.y, u->pub.idx.z);
            to_scheduler_for_good(t);
        }
    }
    t->state = TS_WARP;
    t->op = op;
    t->mask = mask;
    t->in = value;
    t->arg = arg;
    t->width = width;
    t->file = file;
    t->line = line;
    bool complete = true;
    for (int l = 0; l < 32 && complete; ++l) {
        if (!(eff >> l & 1u)) continue;
        Thread* u = lane_thread(t->warp, l);
        complete = u->state == TS_WARP && u->op == op && u->mask == mask;
    }
    if (complete) complete_collective(t->warp, eff, op);
    to_scheduler(t);
    return t->out;
}

CUEMU_EXPORT unsigned cuemu_activemask(void) {
    Thread* t = g.running;
    if (!t) return 1u;
    t->state = TS_WARP;
    t->op = OP_ACTIVEMASK;
    t->mask = 0;
    t->file = nullptr;
    t->line = 0;
    to_scheduler(t);  // the scheduler releases it (try_activemask)
    return (unsigned)t->out;
}

CUEMU_EXPORT void cuemu_yield(void) {
    Thread* t = g.running;
    if (t) to_scheduler(t);
}

CUEMU_EXPORT unsigned long long cuemu_clock(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

CUEMU_EXPORT void cuemu_trap(const char* what, const char* file, int line) {
    Thread* t = g.running;
    if (!t) {
        fprintf(stderr, "cuemu: %s at %s:%d outside a kernel launch\n", what, file, line);
        abort();
    }
    fail(ST_FAULT, t, file, line, "%s", what);
    to_scheduler_for_good(t);
}

CUEMU_EXPORT void cuemu_assert_fail(const char* expr, const char* file, unsigned int line,
                                    const char* function) noexcept {
    Thread* t = g.running;
    if (!t) {
        fprintf(stderr, "cuemu: assertion `%s' failed at %s:%u outside a kernel launch\n", expr,
                file, line);
        abort();
    }
    fail(ST_FAULT, t, file, (int)line, "device assert `%s` failed in %s", expr, function);
    to_scheduler_for_good(t);
}

// ---- UndefinedBehaviorSanitizer handlers ---------------------------------------------------------
// The kernel module is compiled with -fsanitize=alignment,bounds,integer-divide-by-zero but not
// linked with libubsan: the compiler's checks call these instead, with the source location.

struct UbLocation { const char* file; uint32_t line; uint32_t column; };
struct UbType { uint16_t kind; uint16_t info; char name[1]; };
struct UbTypeMismatch { UbLocation loc; const UbType* type; unsigned char log_alignment; unsigned char check_kind; };
struct UbOutOfBounds { UbLocation loc; const UbType* array_type; const UbType* index_type; };
struct UbOverflow { UbLocation loc; const UbType* type; };

static const char* ub_check_kind(unsigned k) {
    static const char* const names[] = {"load of", "store to", "reference binding to",
                                        "member access within", "member call on",
                                        "constructor call on", "downcast of", "downcast of",
                                        "upcast of", "cast to virtual base of"};
    return k < sizeof(names) / sizeof(names[0]) ? names[k] : "access to";
}

// Integer value handles wider than a pointer are passed by address; ours never are (<= 64 bits).
static long long ub_int(const UbType* t, uintptr_t v, bool* is_signed) {
    const unsigned bits = 1u << (t->info >> 1);
    *is_signed = t->info & 1;
    if (*is_signed && bits < 64) {
        const uint64_t sign = 1ull << (bits - 1);
        const uint64_t x = (uint64_t)v & ((sign << 1) - 1);
        return (long long)((x ^ sign) - sign);
    }
    return (long long)v;
}

[[noreturn]] static void ub_fail(const UbLocation* loc, const char* msg) {
    Thread* t = g.running;
    if (!t) {
        fprintf(stderr, "cuemu: %s at %s:%u outside a kernel launch\n", msg, loc->file, loc->line);
        abort();
    }
    fail(ST_FAULT, t, loc->file, (int)loc->line, "%s", msg);
    to_scheduler_for_good(t);
}

CUEMU_EXPORT void __ubsan_handle_type_mismatch_v1(UbTypeMismatch* d, uintptr_t ptr) {
    char msg[512];
    const uintptr_t align = (uintptr_t)1 << d->log_alignment;
    if (ptr && (ptr & (align - 1)))
        snprintf(msg, sizeof msg,
                 "misaligned address 0x%llx: %s type %s needs %llu-byte alignment (a float4 or "
                 "other vector access through a pointer that is not suitably aligned?)",
                 (unsigned long long)ptr, ub_check_kind(d->check_kind), d->type->name,
                 (unsigned long long)align);
    else
        snprintf(msg, sizeof msg, "invalid %s address 0x%llx of type %s",
                 ub_check_kind(d->check_kind), (unsigned long long)ptr, d->type->name);
    ub_fail(&d->loc, msg);
}
CUEMU_EXPORT void __ubsan_handle_type_mismatch_v1_abort(UbTypeMismatch* d, uintptr_t ptr) {
    __ubsan_handle_type_mismatch_v1(d, ptr);
}

CUEMU_EXPORT void __ubsan_handle_out_of_bounds(UbOutOfBounds* d, uintptr_t index) {
    char msg[512];
    bool is_signed = false;
    const long long v = ub_int(d->index_type, index, &is_signed);
    if (is_signed)
        snprintf(msg, sizeof msg, "index %lld out of bounds for type %s", v, d->array_type->name);
    else
        snprintf(msg, sizeof msg, "index %llu out of bounds for type %s", (unsigned long long)v,
                 d->array_type->name);
    ub_fail(&d->loc, msg);
}
CUEMU_EXPORT void __ubsan_handle_out_of_bounds_abort(UbOutOfBounds* d, uintptr_t index) {
    __ubsan_handle_out_of_bounds(d, index);
}

CUEMU_EXPORT void __ubsan_handle_divrem_overflow(UbOverflow* d, uintptr_t, uintptr_t rhs) {
    bool is_signed = false;
    const long long r = ub_int(d->type, rhs, &is_signed);
    ub_fail(&d->loc, r == 0 ? "integer division by zero (the GPU returns garbage, the CPU traps)"
                            : "integer division overflow (INT_MIN / -1)");
}
CUEMU_EXPORT void __ubsan_handle_divrem_overflow_abort(UbOverflow* d, uintptr_t l, uintptr_t r) {
    __ubsan_handle_divrem_overflow(d, l, r);
}

// ---- checked memory accesses (slow path of the callbacks in cuda_emu.h) ---------------------------

CUEMU_EXPORT void cuemu_mem_check(uintptr_t a, size_t n, int write, void* pc) {
    mem_check_slow(a, n, write, pc);
}
CUEMU_EXPORT void __asan_before_dynamic_init(const char*) {}
CUEMU_EXPORT void __asan_after_dynamic_init(void) {}
CUEMU_EXPORT void __asan_handle_no_return(void) {}

// ---- API for the Python loader -------------------------------------------------------------------

CUEMU_EXPORT int cuemu_runtime_version(void) { return CUEMU_RUNTIME_VERSION; }
CUEMU_EXPORT size_t cuemu_sizeof_request(void) { return sizeof(LaunchRequest); }
CUEMU_EXPORT size_t cuemu_sizeof_result(void) { return sizeof(LaunchResult); }
CUEMU_EXPORT size_t cuemu_sizeof_entry(void) { return sizeof(KernelEntry); }
CUEMU_EXPORT size_t cuemu_sizeof_param(void) { return sizeof(ParamInfo); }

CUEMU_EXPORT int cuemu_launch(const LaunchRequest* req, LaunchResult* res) {
    pthread_mutex_lock(&g_launch_mutex);
    const int status = launch_locked(req, res);
    fflush(stdout);  // device printf output appears when the launch returns, as after a GPU sync
    pthread_mutex_unlock(&g_launch_mutex);
    return status;
}

}  // extern "C"
