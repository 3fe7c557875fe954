// Dense (fully connected) layer kernels: forward y = act(x·Wᵀ + b) and the backward GEMMs.
//
// Shapes (all row-major, float32):
//   x (N, K)   W (M, K)   b (M,)   y, dY (N, M)   dX (N, K)   dW (M, K)   db (M,)
//
// Every GEMM here is C[i, j] = Σ_r A(i, r) · B(r, j) for i < P, j < Q, r < R, written into a
// contiguous (P, Q) output. The three layer products differ only in which index of each operand is
// contiguous in memory:
//   forward  y  = x · Wᵀ   P=N Q=M R=K   A(i,r)=x[i*K+r]   (r contiguous)  B(r,j)=W[j*K+r]  (r contiguous)  NT
//   backward dX = dZ · W   P=N Q=K R=M   A(i,r)=dZ[i*M+r]  (r contiguous)  B(r,j)=W[r*K+j]  (j contiguous)  NN
//   backward dW = dZᵀ · X  P=M Q=K R=N   A(i,r)=dZ[r*M+i]  (i contiguous)  B(r,j)=X[r*K+j]  (j contiguous)  TN
// so one templated body (gemm_tile) serves all of them. dZ = dY ⊙ (y > 0) is applied while the A
// tile is loaded (the mask array has the same layout as A), never written to memory.
//
// Tiling: a block computes a BM×BN tile of C, each thread a TM×TN register tile. Operand tiles are
// staged through double-buffered shared memory, stored reduction-major (S[r][t]) so the inner loop
// reads each thread's TM (TN) values with float4 loads. Operands whose reduction index is contiguous
// are transposed on the way in; their shared rows are XOR-swizzled in groups of four floats so that
// transposing store is bank-conflict free without padding and the float4 reads stay aligned.
//
// Split-K (all but "l", gridDim.z > 1): each z-slice reduces a contiguous range of BK-tiles and writes its partial
// tile to a workspace; the last slice of a tile to finish (found with an atomic counter) sums the
// partials in slice order — deterministic whatever order the blocks ran in — applies the epilogue and
// resets the counter to 0 for the next launch. Counters must be zero before the first launch.
//
// Optional pointers are always valid arrays (the launcher passes a dummy) and gated by int flags, so
// the argument marshalling is identical on CuPy and in the emulator.

// ---- tile configurations -----------------------------------------------------------------------
// The cost-model planner (gpuparams/backend/gemm_plan.py) picks one per GEMM. "w" and "m" (below,
// "multistage cp.async configurations") need 16-byte-aligned operands with leading dimensions that
// are multiples of 4; "l" and "s" are the fallback for everything else.
//
// The ReLU mask is re-read from y (4 bytes per element) by both backward GEMMs rather than from a
// 1-bit mask the forward would write: for batch 2048 × 1024→1024 that is 8 MB per GEMM, about 2.5 µs
// of HBM time on an H100 against ~130 µs of FMA work per GEMM (< 2 %; the second read mostly hits
// L2 in the grouped launch), and a bit mask would cost the forward an extra store per element and a
// shuffle-and-ballot epilogue. Estimated, not measured; revisit if gpu_check shows the backward
// memory-bound.
//
// "l": 128×128 tile, 8×8 per thread, BK=8, 256 threads — large batches. __launch_bounds__(256, 2)
//      caps it at 128 registers (two blocks, 16 warps per SM); it has no split-K path, which would
//      not fit in that budget, and the launcher only picks it when it already fills the GPU.
// "s":  64×64 tile, 4×4 per thread, BK=16, 256 threads — small batches, usually with split-K;
//      __launch_bounds__(256, 3) caps it at 80 registers (three blocks per SM).
// Both double-buffer 2 × (BK×BM + BK×BN) floats = 16 KiB of static shared memory (plus a flag).
//
// @budget dense_fwd_l registers=128 shared=16400
// @budget dense_bwd_dx_l registers=128 shared=16400
// @budget dense_bwd_dw_l registers=128 shared=16400
// @budget dense_fwd_s registers=80 shared=16400
// @budget dense_bwd_dx_s registers=80 shared=16400
// @budget dense_bwd_dw_s registers=80 shared=16400
// @budget dense_bwd_db registers=40 shared=1056

#define GP_L_BM 128
#define GP_L_BN 128
#define GP_L_BK 8
#define GP_L_TM 8
#define GP_L_TN 8

#define GP_S_BM 64
#define GP_S_BN 64
#define GP_S_BK 16
#define GP_S_TM 4
#define GP_S_TN 4

#define GP_THREADS 256

// Column swizzle of a transposed (reduction-contiguous) operand tile: the four floats r..r+3 of one
// source row are written by one thread into four shared rows, and the KV = BK/4 threads sharing a
// source row would otherwise hit the same bank. XOR-ing the column with (r/4 mod KV)·(32/KV) spreads
// them over all 32 banks; being a multiple of 4 it keeps float4 groups contiguous and aligned.
template <int BK>
__device__ __forceinline__ int swizzle_of(int r) {
    return ((r >> 2) & (BK / 4 - 1)) * (32 / (BK / 4));
}

__device__ __forceinline__ bool aligned16(const void* p) {
    return (reinterpret_cast<size_t>(p) & 15u) == 0;
}

// One operand tile of BT (non-reduction) × BK (reduction) elements, moved global → registers →
// shared memory. RCONTIG: the reduction index is the contiguous one (element (t, r) at t*ld + r).
template <int BT, int BK, int NT, bool RCONTIG>
struct TileLoader {
    static constexpr int V = BT * BK / (4 * NT);  // float4 groups per thread
    static_assert(V >= 1 && BT * BK == V * 4 * NT, "tile must split evenly into float4 groups");
    static_assert(BT >= 32 && (BT & (BT - 1)) == 0, "swizzle needs a power-of-two tile of >= 32");
    static_assert(BK >= 4 && BK <= 32 && (BK & (BK - 1)) == 0, "BK must be 4, 8, 16 or 32");

    float4 reg[V];

    // Loads the tile whose first element is (t0, r0); out-of-range elements read as zero. Each group
    // of four is one float4 load when it lies wholly inside the operand and its address (and the
    // mask's) is 16-byte aligned, else four scalar loads: an odd leading dimension or a ragged edge
    // costs scalar loads only for the groups it affects, not for the whole operand. With `mask`,
    // elements whose mask value is not > 0 become 0.
    __device__ __forceinline__ void load(const float* __restrict__ src, const float* __restrict__ mask,
                                         bool use_mask, int ld, int t0, int T, int r0, int R) {
#pragma unroll
        for (int v = 0; v < V; ++v) {
            const int f = threadIdx.x + v * NT;
            int t, r;
            if (RCONTIG) {
                t = f / (BK / 4);
                r = (f % (BK / 4)) * 4;
            } else {
                r = f / (BT / 4);
                t = (f % (BT / 4)) * 4;
            }
            const int gt = t0 + t;
            const int gr = r0 + r;
            float4 val = make_float4(0.f, 0.f, 0.f, 0.f);
            float4 mk = make_float4(1.f, 1.f, 1.f, 1.f);
            const bool full = RCONTIG ? (gt < T && gr + 3 < R) : (gr < R && gt + 3 < T);
            const size_t off = full ? (RCONTIG ? (size_t)gt * (size_t)ld + (size_t)gr
                                               : (size_t)gr * (size_t)ld + (size_t)gt)
                                    : 0;
            if (full && aligned16(src + off) && (!use_mask || aligned16(mask + off))) {
                val = *reinterpret_cast<const float4*>(src + off);
                if (use_mask) mk = *reinterpret_cast<const float4*>(mask + off);
            } else {
                // Scalar tail: an unaligned group, or one crossing the operand's edge.
                float e[4] = {0.f, 0.f, 0.f, 0.f};
                float m[4] = {1.f, 1.f, 1.f, 1.f};
#pragma unroll
                for (int c = 0; c < 4; ++c) {
                    const int et = RCONTIG ? gt : gt + c;
                    const int er = RCONTIG ? gr + c : gr;
                    if (et < T && er < R) {
                        const size_t off = RCONTIG ? (size_t)et * (size_t)ld + (size_t)er
                                                   : (size_t)er * (size_t)ld + (size_t)et;
                        e[c] = src[off];
                        if (use_mask) m[c] = mask[off];
                    }
                }
                val = make_float4(e[0], e[1], e[2], e[3]);
                mk = make_float4(m[0], m[1], m[2], m[3]);
            }
            if (use_mask) {
                val.x = mk.x > 0.f ? val.x : 0.f;
                val.y = mk.y > 0.f ? val.y : 0.f;
                val.z = mk.z > 0.f ? val.z : 0.f;
                val.w = mk.w > 0.f ? val.w : 0.f;
            }
            reg[v] = val;
        }
    }

    // Writes the registers into a shared tile laid out as s[r * BT + col].
    __device__ __forceinline__ void store(float* s) const {
#pragma unroll
        for (int v = 0; v < V; ++v) {
            const int f = threadIdx.x + v * NT;
            if (RCONTIG) {
                const int t = f / (BK / 4);
                const int r = (f % (BK / 4)) * 4;
                const int col = t ^ swizzle_of<BK>(r);  // same swizzle for r..r+3
                s[(r + 0) * BT + col] = reg[v].x;
                s[(r + 1) * BT + col] = reg[v].y;
                s[(r + 2) * BT + col] = reg[v].z;
                s[(r + 3) * BT + col] = reg[v].w;
            } else {
                const int r = f / (BT / 4);
                const int t = (f % (BT / 4)) * 4;
                *reinterpret_cast<float4*>(s + r * BT + t) = reg[v];
            }
        }
    }
};

// Reads the float4 group starting at logical column `col` of shared row `r`.
template <int BT, int BK, bool SWIZZLED>
__device__ __forceinline__ float4 smem_read4(const float* s, int r, int col) {
    const int phys = SWIZZLED ? (col ^ swizzle_of<BK>(r)) : col;
    return *reinterpret_cast<const float4*>(s + r * BT + phys);
}

// Arguments of one GEMM launch (see the file header for the operand conventions).
struct GemmArgs {
    const float* a;      // operand A
    const float* amask;  // ReLU mask for A (y, same layout as A) when use_mask
    const float* b;      // operand B
    const float* bias;   // (Q,) added to every row when use_bias
    float* c;            // (P, Q) output
    float* dsum;         // (P,) row sums of A (db) when use_dsum; only blocks with blockIdx.y == 0
    float* ws;           // split-K workspace: gridDim.z (P,Q) partials, then gridDim.z (P,) row sums
    int* counters;       // split-K arrival counters, one per (blockIdx.x, blockIdx.y), zero at rest
    int P, Q, R, lda, ldb;
    bool use_mask, use_bias, relu, accumulate, use_dsum, accumulate_dsum;
};

// Where a block's tile is: (bx, by) in a grid of nbx × ... tiles, split-K slice bz of nz. A plain
// launch takes it from blockIdx/gridDim; the grouped backward launch computes it from its flat grid.
struct TileCoord {
    int bx, by, bz, nz, nbx;
};

__device__ __forceinline__ TileCoord tile_of_block() {
    TileCoord t;
    t.bx = blockIdx.x; t.by = blockIdx.y; t.bz = blockIdx.z;
    t.nz = gridDim.z; t.nbx = gridDim.x;
    return t;
}

// Split-K combination and the epilogue, shared by every tile configuration. Thread tid owns the
// TM×TN outputs (i0 + ty*4 + gm*SM_ROW + a4, j0 + tx*4 + gn*SN_COL + b4) of the block's tile, and
// with do_dsum the row sum of A for row i0 + tid (tid < BM).
template <int BM, int BN, int TM, int TN, bool SPLITK>
__device__ __forceinline__ void gemm_finish(const GemmArgs& g, const TileCoord& tc,
                                            float (&acc)[TM][TN], float rowsum, bool do_dsum) {
    constexpr int TXN = BN / TN;
    constexpr int GM = TM / 4;
    constexpr int GN = TN / 4;
    constexpr int SM_ROW = BM / GM;
    constexpr int SN_COL = BN / GN;
    __shared__ int is_last;
    const int tid = threadIdx.x;
    const int tx = tid % TXN;
    const int ty = tid / TXN;
    const int i0 = tc.bx * BM;
    const int j0 = tc.by * BN;
    const bool vec_c = aligned16(g.c) && (g.Q % 4 == 0);

    if (SPLITK && tc.nz > 1) {
        // ---- split-K: publish this slice's partial, the last slice to arrive finishes the tile.
        // Partials go through L2 only (st.cg / ld.cg): they are read by another block, possibly on
        // another SM, whose L1 is not coherent with this one.
        const size_t pq = (size_t)g.P * (size_t)g.Q;
        const bool vec_ws = aligned16(g.ws) && (g.Q % 4 == 0);
        float* part = g.ws + (size_t)tc.bz * pq;
#pragma unroll
        for (int gm = 0; gm < GM; ++gm)
#pragma unroll
            for (int a4 = 0; a4 < 4; ++a4) {
                const int i = i0 + ty * 4 + gm * SM_ROW + a4;
                if (i >= g.P) continue;
                float* prow = part + (size_t)i * (size_t)g.Q;
#pragma unroll
                for (int gn = 0; gn < GN; ++gn) {
                    const int jb = j0 + tx * 4 + gn * SN_COL;
                    const int r = gm * 4 + a4, c = gn * 4;
                    if (vec_ws && jb + 3 < g.Q) {
                        __stcg(reinterpret_cast<float4*>(prow + jb),
                               make_float4(acc[r][c], acc[r][c + 1], acc[r][c + 2], acc[r][c + 3]));
                    } else {
#pragma unroll
                        for (int b4 = 0; b4 < 4; ++b4)
                            if (jb + b4 < g.Q) __stcg(prow + jb + b4, acc[r][c + b4]);
                    }
                }
            }
        float* dpart = g.ws + (size_t)tc.nz * pq;
        if (do_dsum && tid < BM && i0 + tid < g.P)
            __stcg(dpart + (size_t)tc.bz * g.P + i0 + tid, rowsum);
        // Make the partial visible device-wide before announcing it (threadFenceReduction pattern).
        __threadfence();
        __syncthreads();
        if (tid == 0) {
            int* counter = g.counters + (size_t)tc.by * tc.nbx + tc.bx;
            const int arrived = atomicAdd(counter, 1);
            is_last = arrived == tc.nz - 1 ? 1 : 0;
            if (is_last == 1) *counter = 0;  // every slice has arrived: reset for the next launch
        }
        __syncthreads();
        // `== 1` rather than truthiness: a read that raced ahead of thread 0's write would see
        // garbage (the emulator's NaN poison is -1), and must not pass for "last".
        if (is_last != 1) return;
        __threadfence();
        // Sum the partials in slice order, so the result does not depend on which slice came last.
#pragma unroll
        for (int gm = 0; gm < GM; ++gm)
#pragma unroll
            for (int a4 = 0; a4 < 4; ++a4) {
                const int i = i0 + ty * 4 + gm * SM_ROW + a4;
                if (i >= g.P) continue;
                const float* prow = g.ws + (size_t)i * (size_t)g.Q;
#pragma unroll
                for (int gn = 0; gn < GN; ++gn) {
                    const int jb = j0 + tx * 4 + gn * SN_COL;
                    const int r = gm * 4 + a4, c = gn * 4;
                    if (vec_ws && jb + 3 < g.Q) {
                        float4 t = make_float4(0.f, 0.f, 0.f, 0.f);
#pragma unroll 1
                        for (int z = 0; z < tc.nz; ++z) {
                            const float4 p =
                                __ldcg(reinterpret_cast<const float4*>(prow + (size_t)z * pq + jb));
                            t.x += p.x; t.y += p.y; t.z += p.z; t.w += p.w;
                        }
                        acc[r][c] = t.x; acc[r][c + 1] = t.y; acc[r][c + 2] = t.z; acc[r][c + 3] = t.w;
                    } else {
#pragma unroll
                        for (int b4 = 0; b4 < 4; ++b4) {
                            float t = 0.f;
                            if (jb + b4 < g.Q)
#pragma unroll 1
                                for (int z = 0; z < tc.nz; ++z)
                                    t += __ldcg(prow + (size_t)z * pq + jb + b4);
                            acc[r][c + b4] = t;
                        }
                    }
                }
            }
        if (do_dsum && tid < BM && i0 + tid < g.P) {
            float t = 0.f;
#pragma unroll 1
            for (int z = 0; z < tc.nz; ++z) t += __ldcg(dpart + (size_t)z * g.P + i0 + tid);
            rowsum = t;
        }
    }

    // ---- epilogue: db, then C = (accumulate ? C : 0) + acc (+ bias), optional ReLU.
    if (do_dsum && tid < BM && i0 + tid < g.P) {
        float* d = g.dsum + i0 + tid;
        *d = g.accumulate_dsum ? *d + rowsum : rowsum;
    }
#pragma unroll
    for (int gm = 0; gm < GM; ++gm)
#pragma unroll
        for (int a4 = 0; a4 < 4; ++a4) {
            const int i = i0 + ty * 4 + gm * SM_ROW + a4;
            if (i >= g.P) continue;
            float* crow = g.c + (size_t)i * (size_t)g.Q;
#pragma unroll
            for (int gn = 0; gn < GN; ++gn) {
                const int jb = j0 + tx * 4 + gn * SN_COL;
                float v[4];
#pragma unroll
                for (int b4 = 0; b4 < 4; ++b4) {
                    const int j = jb + b4;
                    float x = acc[gm * 4 + a4][gn * 4 + b4];
                    if (g.use_bias && j < g.Q) x += g.bias[j];
                    v[b4] = x;
                }
                if (vec_c && jb + 3 < g.Q) {
                    float4 o = make_float4(v[0], v[1], v[2], v[3]);
                    if (g.accumulate) {
                        const float4 old = *reinterpret_cast<const float4*>(crow + jb);
                        o.x += old.x; o.y += old.y; o.z += old.z; o.w += old.w;
                    }
                    if (g.relu) {
                        o.x = fmaxf(o.x, 0.f); o.y = fmaxf(o.y, 0.f);
                        o.z = fmaxf(o.z, 0.f); o.w = fmaxf(o.w, 0.f);
                    }
                    *reinterpret_cast<float4*>(crow + jb) = o;
                } else {
#pragma unroll
                    for (int b4 = 0; b4 < 4; ++b4) {
                        const int j = jb + b4;
                        if (j >= g.Q) continue;
                        float x = v[b4];
                        if (g.accumulate) x += crow[j];
                        if (g.relu) x = fmaxf(x, 0.f);
                        crow[j] = x;
                    }
                }
            }
        }
}

// SPLITK: compile the split-K path (the small configuration only: the large one runs at the
// register limit of two blocks per SM, and the launcher never splits it).
template <int BM, int BN, int BK, int TM, int TN, bool A_RCONTIG, bool B_RCONTIG, bool SPLITK>
__device__ __forceinline__ void gemm_tile(const GemmArgs& g) {
    constexpr int NT = (BM / TM) * (BN / TN);
    constexpr int TXN = BN / TN;       // threads along a tile row
    constexpr int GM = TM / 4;         // float4 row groups per thread
    constexpr int GN = TN / 4;         // float4 column groups per thread
    constexpr int SM_ROW = BM / GM;    // distance between a thread's row groups
    constexpr int SN_COL = BN / GN;    // distance between a thread's column groups
    static_assert(NT == GP_THREADS, "all configurations use 256 threads");
    static_assert(TM % 4 == 0 && TN % 4 == 0, "register tiles are made of float4 groups");

    __shared__ __align__(16) float As[2][BK * BM];
    __shared__ __align__(16) float Bs[2][BK * BN];

    TileLoader<BM, BK, NT, A_RCONTIG> la;
    TileLoader<BN, BK, NT, B_RCONTIG> lb;

    const int tid = threadIdx.x;
    const int tx = tid % TXN;
    const int ty = tid / TXN;
    const TileCoord tc = tile_of_block();
    const int i0 = tc.bx * BM;
    const int j0 = tc.by * BN;

    // Row sums of A are wanted from one column of blocks only; the threads i < BM each own a row.
    const bool do_dsum = g.use_dsum && tc.by == 0;

    // This slice's range of BK-tiles: as even as possible, every slice non-empty when
    // gridDim.z <= number of tiles (the launcher guarantees it).
    const int ktiles = (g.R + BK - 1) / BK;
    int kt_begin = 0, kt_end = ktiles;
    if (SPLITK) {
        kt_begin = (int)(((long long)ktiles * tc.bz) / tc.nz);
        kt_end = (int)(((long long)ktiles * (tc.bz + 1)) / tc.nz);
    } else if (tc.bz != 0) {
        return;  // a configuration without split-K launched with gridDim.z > 1: slice 0 does it all
    }

    float acc[TM][TN];
#pragma unroll
    for (int a = 0; a < TM; ++a)
#pragma unroll
        for (int b = 0; b < TN; ++b) acc[a][b] = 0.f;
    float rowsum = 0.f;

    if (kt_begin < kt_end) {
        la.load(g.a, g.amask, g.use_mask, g.lda, i0, g.P, kt_begin * BK, g.R);
        lb.load(g.b, nullptr, false, g.ldb, j0, g.Q, kt_begin * BK, g.R);
        la.store(As[0]);
        lb.store(Bs[0]);
        __syncthreads();
    }
    for (int kt = kt_begin; kt < kt_end; ++kt) {
        const int cur = (kt - kt_begin) & 1;
        const bool has_next = kt + 1 < kt_end;
        // Issue the next tile's global loads now; they complete while this tile is multiplied.
        if (has_next) {
            la.load(g.a, g.amask, g.use_mask, g.lda, i0, g.P, (kt + 1) * BK, g.R);
            lb.load(g.b, nullptr, false, g.ldb, j0, g.Q, (kt + 1) * BK, g.R);
        }
        const float* as = As[cur];
        const float* bs = Bs[cur];
#pragma unroll
        for (int k = 0; k < BK; ++k) {
            float fa[TM], fb[TN];
#pragma unroll
            for (int gm = 0; gm < GM; ++gm) {
                const float4 v = smem_read4<BM, BK, A_RCONTIG>(as, k, ty * 4 + gm * SM_ROW);
                fa[gm * 4 + 0] = v.x; fa[gm * 4 + 1] = v.y; fa[gm * 4 + 2] = v.z; fa[gm * 4 + 3] = v.w;
            }
#pragma unroll
            for (int gn = 0; gn < GN; ++gn) {
                const float4 v = smem_read4<BN, BK, B_RCONTIG>(bs, k, tx * 4 + gn * SN_COL);
                fb[gn * 4 + 0] = v.x; fb[gn * 4 + 1] = v.y; fb[gn * 4 + 2] = v.z; fb[gn * 4 + 3] = v.w;
            }
#pragma unroll
            for (int a = 0; a < TM; ++a)
#pragma unroll
                for (int b = 0; b < TN; ++b) acc[a][b] = fmaf(fa[a], fb[b], acc[a][b]);
        }
        if (do_dsum && tid < BM) {
            // Warp-uniform branch (BM is a multiple of 32); lanes read consecutive columns.
#pragma unroll
            for (int k = 0; k < BK; ++k) {
                const int phys = A_RCONTIG ? (tid ^ swizzle_of<BK>(k)) : tid;
                rowsum += as[k * BM + phys];
            }
        }
        if (has_next) {
            // The other buffer was last read before the previous iteration's barrier.
            la.store(As[cur ^ 1]);
            lb.store(Bs[cur ^ 1]);
        }
        __syncthreads();
    }

    gemm_finish<BM, BN, TM, TN, SPLITK>(g, tc, acc, rowsum, do_dsum);
}

// ---- entry points --------------------------------------------------------------------------------
// Scalars are exactly int (np.int32). `bias`, `yact`, `db`, `ws`, `counters` must be valid device
// arrays even when their flag is 0 (pass any float32/int32 array); they are then never touched.

#define GP_L_CFG GP_L_BM, GP_L_BN, GP_L_BK, GP_L_TM, GP_L_TN
#define GP_S_CFG GP_S_BM, GP_S_BN, GP_S_BK, GP_S_TM, GP_S_TN

// y (N, M) = act(x (N, K) · W (M, K)ᵀ + b); grid (ceil(N/BM), ceil(M/BN), splits).
#define GP_DENSE_FWD(NAME, CFG, MINB, SPLITK)                                                              \
    extern "C" __global__ void __launch_bounds__(GP_THREADS, MINB)                               \
    NAME(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ bias, \
         float* __restrict__ y, int n, int k, int m, int has_bias, int relu,                      \
         float* ws, int* counters) {                                                              \
        GemmArgs g;                                                                               \
        g.a = x; g.amask = x; g.b = w; g.bias = bias; g.c = y; g.dsum = y;                         \
        g.ws = ws; g.counters = counters;                                                          \
        g.P = n; g.Q = m; g.R = k; g.lda = k; g.ldb = k;                                           \
        g.use_mask = false; g.use_bias = has_bias != 0; g.relu = relu != 0;                        \
        g.accumulate = false; g.use_dsum = false; g.accumulate_dsum = false;                       \
        gemm_tile<CFG, true, true, SPLITK>(g);                                                             \
    }

// dX (N, K) (+)= (dY ⊙ (y > 0)) (N, M) · W (M, K); grid (ceil(N/BM), ceil(K/BN), splits).
#define GP_DENSE_BWD_DX(NAME, CFG, MINB, SPLITK)                                                           \
    extern "C" __global__ void __launch_bounds__(GP_THREADS, MINB)                               \
    NAME(const float* __restrict__ dy, const float* __restrict__ yact, const float* __restrict__ w,\
         float* __restrict__ dx, int n, int k, int m, int has_mask, int accumulate,                \
         float* ws, int* counters) {                                                              \
        GemmArgs g;                                                                               \
        g.a = dy; g.amask = yact; g.b = w; g.bias = w; g.c = dx; g.dsum = dx;                      \
        g.ws = ws; g.counters = counters;                                                          \
        g.P = n; g.Q = k; g.R = m; g.lda = m; g.ldb = k;                                           \
        g.use_mask = has_mask != 0; g.use_bias = false; g.relu = false;                            \
        g.accumulate = accumulate != 0; g.use_dsum = false; g.accumulate_dsum = false;             \
        gemm_tile<CFG, true, false, SPLITK>(g);                                                            \
    }

// dW (M, K) (+)= (dY ⊙ (y > 0))ᵀ · x, and with need_db also db (M,) (+)= Σ_n dY ⊙ (y > 0);
// grid (ceil(M/BM), ceil(K/BN), splits).
#define GP_DENSE_BWD_DW(NAME, CFG, MINB, SPLITK)                                                           \
    extern "C" __global__ void __launch_bounds__(GP_THREADS, MINB)                               \
    NAME(const float* __restrict__ dy, const float* __restrict__ yact, const float* __restrict__ x,\
         float* __restrict__ dw, float* __restrict__ db, int n, int k, int m, int has_mask,         \
         int accumulate_dw, int need_db, int accumulate_db, float* ws, int* counters) {           \
        GemmArgs g;                                                                               \
        g.a = dy; g.amask = yact; g.b = x; g.bias = x; g.c = dw; g.dsum = db;                      \
        g.ws = ws; g.counters = counters;                                                          \
        g.P = m; g.Q = k; g.R = n; g.lda = m; g.ldb = k;                                           \
        g.use_mask = has_mask != 0; g.use_bias = false; g.relu = false;                            \
        g.accumulate = accumulate_dw != 0; g.use_dsum = need_db != 0;                              \
        g.accumulate_dsum = accumulate_db != 0;                                                    \
        gemm_tile<CFG, false, false, SPLITK>(g);                                                           \
    }

GP_DENSE_FWD(dense_fwd_l, GP_L_CFG, 2, false)
GP_DENSE_FWD(dense_fwd_s, GP_S_CFG, 3, true)
GP_DENSE_BWD_DX(dense_bwd_dx_l, GP_L_CFG, 2, false)
GP_DENSE_BWD_DX(dense_bwd_dx_s, GP_S_CFG, 3, true)
GP_DENSE_BWD_DW(dense_bwd_dw_l, GP_L_CFG, 2, false)
GP_DENSE_BWD_DW(dense_bwd_dw_s, GP_S_CFG, 3, true)

// ---- multistage cp.async configurations -------------------------------------------------------
// "w": 128×256 tile, 8×16 per thread, 256 threads, 1 block per SM (up to 255 registers).
// "m": 128×64 tile, 8×8 per thread, 128 threads, 3 blocks per SM (at most 168 registers); its
//      grouped backward kernel runs two blocks per SM (at 168 registers it would spill).
// Both: BK=32, three stages in dynamic shared memory (w 144 KiB, m 72 KiB: above 48 KiB, so the
// launcher raises max_dynamic_shared_size_bytes), filled by 16-byte cp.async copies that bypass the
// registers and L1 (.cg). A stage keeps each operand as it lies in memory:
//   reduction index contiguous (x, W in the forward, dZ in dX): t-major [BT][BK], one 128-byte row
//     of 8 chunks per t; chunk c of row t lives at chunk c ^ ((t >> 2) & 7). The swizzle makes the
//     LDS.128 reads conflict free: the rows a warp reads at once are 4 apart, and so land on
//     different chunks. The copies write whole rows per 8 threads, so they are conflict free too.
//   tile index contiguous (W in dX, dZ and X in dW): k-major [BK][BT], read along t with LDS.128.
// Either way a thread reads its operand values with LDS.128 only, four k-steps of A per read.
// Preconditions (checked by the launcher): every operand pointer 16-byte aligned and every leading
// dimension a multiple of 4; otherwise the "l"/"s" kernels run.
//
// Pipeline (STAGES=3): the copies of tile kt+2 are issued while tile kt is multiplied. Per k-tile a
// thread waits for its own copies of the tile (cp.async.wait_group 1), applies the ReLU mask to its
// own chunks (the mask values were loaded into registers one tile earlier), and the barrier then
// makes every thread's chunks visible and frees the stage of tile kt-1 for the next copies.
//
// FFMA share of the main loop (static gate, NVRTC 13.5, sm_90): w 0.911 forward, 0.874 dX, 0.855
// dW (its fused db row sums and the ReLU-mask code sit in the loop); m 0.84 / 0.76 / 0.74. The
// floors below are those less about a point. Issue 12's 0.9 is met by w's forward; w's backward
// kernels and m (12 copies and 34 LDS.128 per k-tile against 2048 FFMAs per thread) are short of it.
// @budget dense_fwd_w registers=255 shared=16 ffma_share=0.9
// @budget dense_bwd_dx_w registers=255 shared=16 ffma_share=0.86
// @budget dense_bwd_dw_w registers=255 shared=16 ffma_share=0.845
// @budget dense_bwd_grouped_w registers=255 shared=16 ffma_share=0.845
// @budget dense_fwd_m registers=168 shared=16 ffma_share=0.82
// @budget dense_bwd_dx_m registers=168 shared=16 ffma_share=0.75
// @budget dense_bwd_dw_m registers=168 shared=16 ffma_share=0.73
// @budget dense_bwd_grouped_m registers=255 shared=16 ffma_share=0.73

#define GP_ASYNC_BK 32
#define GP_ASYNC_STAGES 3
#define GP_W_CFG 128, 256, GP_ASYNC_BK, 8, 16, 256, GP_ASYNC_STAGES
#define GP_M_CFG 128, 64, GP_ASYNC_BK, 8, 8, 128, GP_ASYNC_STAGES

// One 16-byte global -> shared copy; `bytes` < 16 reads that many and zero-fills the rest (0: reads
// nothing, so `src` need only be a valid address).
__device__ __forceinline__ void cp_async16(float* dst, const float* src, int bytes) {
#ifdef __CUEMU__
    __pipeline_memcpy_async(dst, src, 16, (size_t)(16 - bytes));
#else
    const unsigned s = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(src), "r"(bytes)
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

// Float offset of the 16-byte chunk holding element (t, r) of a stage (r a multiple of 4 in the
// t-major layout, t a multiple of 4 in the k-major one).
template <int BT, int BK, bool RCONTIG>
__device__ __forceinline__ int chunk_offset(int t, int r) {
    return RCONTIG ? t * BK + ((((r >> 2) ^ (t >> 2)) & 7) << 2) : r * BT + t;
}

// One operand's copies into a stage, and the ReLU mask of this thread's chunks.
template <int BT, int BK, int NT, bool RCONTIG>
struct AsyncLoader {
    static constexpr int V = BT * BK / (4 * NT);  // chunks per thread and stage
    static_assert(V >= 1 && V * 4 * NT == BT * BK, "a stage must split evenly into chunks");
    static_assert(!RCONTIG || BK == 32, "the t-major swizzle assumes 8 chunks per row");

    // The mask values of the next tile are loaded one tile ahead into registers when that costs at
    // most 16 of them; otherwise (config "m", 8 chunks per thread, at its register cap) they are
    // loaded when applied and the other resident blocks hide the latency.
    static constexpr bool PREFETCH = V <= 4;
    float4 mreg[PREFETCH ? V : 1];

    // Tile coordinates (t, r) of chunk v of this thread: consecutive threads take consecutive chunks
    // (coalesced reads; a row of 8 chunks per 8 threads in shared memory).
    __device__ __forceinline__ static void coords(int v, int& t, int& r) {
        const int f = threadIdx.x + v * NT;
        if (RCONTIG) {
            t = f / (BK / 4);
            r = (f % (BK / 4)) * 4;
        } else {
            r = f / (BT / 4);
            t = (f % (BT / 4)) * 4;
        }
    }

    // Chunk v of a thread is chunk 0 moved DT rows of t (t-major) or DR rows of r (k-major) per v,
    // so its address is chunk 0's plus v strides: one base address per call, not one per chunk.
    static constexpr int DT = RCONTIG ? NT / (BK / 4) : 0;
    static constexpr int DR = RCONTIG ? 0 : NT / (BT / 4);
    static_assert(RCONTIG ? NT % (BK / 4) == 0 : NT % (BT / 4) == 0, "chunks must stride evenly");

    // Whether chunk v of the tile at (t0, r0) lies inside the (T, R) operand, and its address
    // (`src` itself outside). Chunks are never partial: the launcher runs these kernels only when
    // every leading dimension is a multiple of 4, and the contiguous extent of each operand (R for
    // a t-major one, T for a k-major one) is its leading dimension.
    struct Walk {
        const float* p0;  // chunk 0's address (valid or not: only dereferenced when inside)
        size_t step;      // elements between consecutive chunks of the thread
        int gt0, gr0;     // chunk 0's coordinates
    };

    __device__ __forceinline__ static Walk walk(const float* src, int ld, int t0, int r0) {
        int t, r;
        coords(0, t, r);
        Walk w;
        w.gt0 = t0 + t;
        w.gr0 = r0 + r;
        w.p0 = src + (RCONTIG ? (size_t)w.gt0 * (size_t)ld + (size_t)w.gr0
                              : (size_t)w.gr0 * (size_t)ld + (size_t)w.gt0);
        w.step = (size_t)(RCONTIG ? DT : DR) * (size_t)ld;
        return w;
    }

    __device__ __forceinline__ static bool inside(const Walk& w, int v, int T, int R) {
        return RCONTIG ? (w.gt0 + v * DT < T && w.gr0 < R) : (w.gt0 < T && w.gr0 + v * DR < R);
    }

    __device__ __forceinline__ static void issue(float* stage, const float* __restrict__ src, int ld,
                                                 int t0, int T, int r0, int R) {
        const Walk w = walk(src, ld, t0, r0);
#pragma unroll
        for (int v = 0; v < V; ++v) {
            int t, r;
            coords(v, t, r);
            const bool in = inside(w, v, T, R);
            cp_async16(stage + chunk_offset<BT, BK, RCONTIG>(t, r), in ? w.p0 + v * w.step : src,
                       in ? 16 : 0);
        }
    }

    // The mask values of chunk v (1 where out of range).
    __device__ __forceinline__ static float4 mask_of(const Walk& w, int v, int T, int R) {
        return inside(w, v, T, R) ? __ldg(reinterpret_cast<const float4*>(w.p0 + v * w.step))
                                  : make_float4(1.f, 1.f, 1.f, 1.f);
    }

    // With PREFETCH: loads the mask values of this thread's chunks of the tile at (t0, r0).
    __device__ __forceinline__ void load_mask(const float* __restrict__ mask, int ld, int t0, int T,
                                              int r0, int R) {
        if (PREFETCH) {
            const Walk w = walk(mask, ld, t0, r0);
#pragma unroll
            for (int v = 0; v < V; ++v) mreg[PREFETCH ? v : 0] = mask_of(w, v, T, R);
        }
    }

    // dZ = dY ⊙ (y > 0) on this thread's own chunks of the tile at (t0, r0), which its own wait
    // has landed.
    __device__ __forceinline__ void apply_mask(float* stage, const float* __restrict__ mask, int ld,
                                               int t0, int T, int r0, int R) const {
        const Walk w = walk(mask, ld, t0, r0);
#pragma unroll
        for (int v = 0; v < V; ++v) {
            int t, r;
            coords(v, t, r);
            const float4 m = PREFETCH ? mreg[PREFETCH ? v : 0] : mask_of(w, v, T, R);
            float4* p = reinterpret_cast<float4*>(stage + chunk_offset<BT, BK, RCONTIG>(t, r));
            float4 a = *p;
            a.x = m.x > 0.f ? a.x : 0.f;
            a.y = m.y > 0.f ? a.y : 0.f;
            a.z = m.z > 0.f ? a.z : 0.f;
            a.w = m.w > 0.f ? a.w : 0.f;
            *p = a;
        }
    }
};

// acc += A-stage · B-stage for one BK-deep stage. Thread (tx, ty) owns rows ty*4 + gm*SM_ROW + a
// and columns tx*4 + gn*SN_COL + b; the swizzle of all its t-major rows is ty & 7 (columns: tx & 7)
// because SM_ROW/4 and SN_COL/4 are multiples of 8.
template <int BM, int BN, int BK, int TM, int TN, bool A_RC, bool B_RC>
__device__ __forceinline__ void mma_stage(const float* as, const float* bs, float (&acc)[TM][TN],
                                          int tx, int ty) {
    constexpr int GM = TM / 4, GN = TN / 4;
    constexpr int SM_ROW = BM / GM, SN_COL = BN / GN;
    static_assert(!A_RC || (SM_ROW / 4) % 8 == 0, "A rows of a thread must share one swizzle");
    static_assert(!B_RC || (SN_COL / 4) % 8 == 0, "B columns of a thread must share one swizzle");
    const int sa = ty & 7, sb = tx & 7;
#pragma unroll
    for (int k4 = 0; k4 < BK / 4; ++k4) {
        float fa[TM][4];
#pragma unroll
        for (int gm = 0; gm < GM; ++gm) {
            if (A_RC) {
#pragma unroll
                for (int a = 0; a < 4; ++a) {
                    const int row = ty * 4 + gm * SM_ROW + a;
                    const float4 v = *reinterpret_cast<const float4*>(as + row * BK + ((k4 ^ sa) << 2));
                    fa[gm * 4 + a][0] = v.x; fa[gm * 4 + a][1] = v.y;
                    fa[gm * 4 + a][2] = v.z; fa[gm * 4 + a][3] = v.w;
                }
            } else {
#pragma unroll
                for (int kk = 0; kk < 4; ++kk) {
                    const float4 v = *reinterpret_cast<const float4*>(
                        as + (k4 * 4 + kk) * BM + ty * 4 + gm * SM_ROW);
                    fa[gm * 4 + 0][kk] = v.x; fa[gm * 4 + 1][kk] = v.y;
                    fa[gm * 4 + 2][kk] = v.z; fa[gm * 4 + 3][kk] = v.w;
                }
            }
        }
        if (B_RC) {
#pragma unroll
            for (int gn = 0; gn < GN; ++gn)
#pragma unroll
                for (int b = 0; b < 4; ++b) {
                    const int col = tx * 4 + gn * SN_COL + b;
                    const float4 v = *reinterpret_cast<const float4*>(bs + col * BK + ((k4 ^ sb) << 2));
                    const float fb[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
                    for (int kk = 0; kk < 4; ++kk)
#pragma unroll
                        for (int a = 0; a < TM; ++a)
                            acc[a][gn * 4 + b] = fmaf(fa[a][kk], fb[kk], acc[a][gn * 4 + b]);
                }
        } else {
#pragma unroll
            for (int kk = 0; kk < 4; ++kk) {
                float fb[TN];
#pragma unroll
                for (int gn = 0; gn < GN; ++gn) {
                    const float4 v = *reinterpret_cast<const float4*>(
                        bs + (k4 * 4 + kk) * BN + tx * 4 + gn * SN_COL);
                    fb[gn * 4 + 0] = v.x; fb[gn * 4 + 1] = v.y; fb[gn * 4 + 2] = v.z; fb[gn * 4 + 3] = v.w;
                }
#pragma unroll
                for (int a = 0; a < TM; ++a)
#pragma unroll
                    for (int b = 0; b < TN; ++b) acc[a][b] = fmaf(fa[a][kk], fb[b], acc[a][b]);
            }
        }
    }
}

// One block's tile of a GEMM through the multistage pipeline; `smem` is the dynamic shared memory
// (STAGES × (BM + BN) × BK floats).
template <int BM, int BN, int BK, int TM, int TN, int NT, int STAGES, bool A_RC, bool B_RC>
__device__ __forceinline__ void gemm_async(const GemmArgs& g, const TileCoord& tc, float* smem) {
    constexpr int TXN = BN / TN;
    constexpr int A_STAGE = BM * BK, B_STAGE = BN * BK;
    static_assert((BM / TM) * TXN == NT, "one thread per TM×TN register tile");
    static_assert(BM <= NT, "the row sums need a thread per row");
    float* As = smem;
    float* Bs = smem + STAGES * A_STAGE;
    typedef AsyncLoader<BM, BK, NT, A_RC> LA;
    typedef AsyncLoader<BN, BK, NT, B_RC> LB;
    LA la;

    const int tid = threadIdx.x;
    const int tx = tid % TXN;
    const int ty = tid / TXN;
    const int i0 = tc.bx * BM;
    const int j0 = tc.by * BN;
    const bool do_dsum = g.use_dsum && tc.by == 0;

    const int ktiles = (g.R + BK - 1) / BK;
    const int kt_begin = (int)(((long long)ktiles * tc.bz) / tc.nz);
    const int kt_end = (int)(((long long)ktiles * (tc.bz + 1)) / tc.nz);
    const int nk = kt_end - kt_begin;

    float acc[TM][TN];
#pragma unroll
    for (int a = 0; a < TM; ++a)
#pragma unroll
        for (int b = 0; b < TN; ++b) acc[a][b] = 0.f;
    float rowsum = 0.f;

    // Prologue: the first STAGES-1 tiles in flight (a group is committed even when empty, so the
    // wait count below always means "all but the newest STAGES-2 groups").
#pragma unroll
    for (int s = 0; s < STAGES - 1; ++s) {
        if (s < nk) {
            LA::issue(As + s * A_STAGE, g.a, g.lda, i0, g.P, (kt_begin + s) * BK, g.R);
            LB::issue(Bs + s * B_STAGE, g.b, g.ldb, j0, g.Q, (kt_begin + s) * BK, g.R);
        }
        cp_async_commit();
    }
    if (g.use_mask && nk > 0) la.load_mask(g.amask, g.lda, i0, g.P, kt_begin * BK, g.R);

    for (int it = 0; it < nk; ++it) {
        const int st = it % STAGES;
        cp_async_wait<STAGES - 2>();  // this thread's copies of tile `it` have landed
        if (g.use_mask)
            la.apply_mask(As + st * A_STAGE, g.amask, g.lda, i0, g.P, (kt_begin + it) * BK, g.R);
        __syncthreads();  // everyone's copies of tile `it` are visible; tile it-1's stage is free
        const int next = it + STAGES - 1;
        if (next < nk) {
            const int ns = next % STAGES;
            LA::issue(As + ns * A_STAGE, g.a, g.lda, i0, g.P, (kt_begin + next) * BK, g.R);
            LB::issue(Bs + ns * B_STAGE, g.b, g.ldb, j0, g.Q, (kt_begin + next) * BK, g.R);
        }
        cp_async_commit();
        if (g.use_mask && it + 1 < nk)
            la.load_mask(g.amask, g.lda, i0, g.P, (kt_begin + it + 1) * BK, g.R);
        const float* as = As + st * A_STAGE;
        mma_stage<BM, BN, BK, TM, TN, A_RC, B_RC>(as, Bs + st * B_STAGE, acc, tx, ty);
        if (do_dsum && tid < BM) {
            // Warp-uniform branch (BM is a multiple of 32).
#pragma unroll
            for (int k = 0; k < BK; k += 4) {
                const float4 v = *reinterpret_cast<const float4*>(
                    as + (A_RC ? chunk_offset<BM, BK, true>(tid, k) : 0));
                if (A_RC) {
                    rowsum += (v.x + v.y) + (v.z + v.w);
                } else {
#pragma unroll
                    for (int kk = 0; kk < 4; ++kk) rowsum += as[(k + kk) * BM + tid];
                }
            }
        }
    }
    cp_async_wait<0>();
    gemm_finish<BM, BN, TM, TN, true>(g, tc, acc, rowsum, do_dsum);
}

// The grouped launch runs one of two instantiations per block; kept out of line so that ptxas
// allocates each one's registers on its own (inlined together they spill).
template <int BM, int BN, int BK, int TM, int TN, int NT, int STAGES, bool A_RC, bool B_RC>
__device__ __noinline__ void gemm_async_call(const GemmArgs g, const TileCoord tc, float* smem) {
    gemm_async<BM, BN, BK, TM, TN, NT, STAGES, A_RC, B_RC>(g, tc, smem);
}

__device__ __forceinline__ float* dynamic_smem() {
    extern __shared__ float4 gp_dynamic_smem[];
    return reinterpret_cast<float*>(gp_dynamic_smem);
}

#define GP_ASYNC_FWD(NAME, CFG, NTH, MINB)                                                        \
    extern "C" __global__ void __launch_bounds__(NTH, MINB)                                       \
    NAME(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ bias, \
         float* __restrict__ y, int n, int k, int m, int has_bias, int relu,                      \
         float* ws, int* counters) {                                                              \
        GemmArgs g;                                                                               \
        g.a = x; g.amask = x; g.b = w; g.bias = bias; g.c = y; g.dsum = y;                         \
        g.ws = ws; g.counters = counters;                                                          \
        g.P = n; g.Q = m; g.R = k; g.lda = k; g.ldb = k;                                           \
        g.use_mask = false; g.use_bias = has_bias != 0; g.relu = relu != 0;                        \
        g.accumulate = false; g.use_dsum = false; g.accumulate_dsum = false;                       \
        gemm_async<CFG, true, true>(g, tile_of_block(), dynamic_smem());                           \
    }

#define GP_ASYNC_BWD_DX(NAME, CFG, NTH, MINB)                                                     \
    extern "C" __global__ void __launch_bounds__(NTH, MINB)                                       \
    NAME(const float* __restrict__ dy, const float* __restrict__ yact, const float* __restrict__ w,\
         float* __restrict__ dx, int n, int k, int m, int has_mask, int accumulate,                \
         float* ws, int* counters) {                                                              \
        GemmArgs g;                                                                               \
        g.a = dy; g.amask = yact; g.b = w; g.bias = w; g.c = dx; g.dsum = dx;                      \
        g.ws = ws; g.counters = counters;                                                          \
        g.P = n; g.Q = k; g.R = m; g.lda = m; g.ldb = k;                                           \
        g.use_mask = has_mask != 0; g.use_bias = false; g.relu = false;                            \
        g.accumulate = accumulate != 0; g.use_dsum = false; g.accumulate_dsum = false;             \
        gemm_async<CFG, true, false>(g, tile_of_block(), dynamic_smem());                          \
    }

#define GP_ASYNC_BWD_DW(NAME, CFG, NTH, MINB)                                                     \
    extern "C" __global__ void __launch_bounds__(NTH, MINB)                                       \
    NAME(const float* __restrict__ dy, const float* __restrict__ yact, const float* __restrict__ x,\
         float* __restrict__ dw, float* __restrict__ db, int n, int k, int m, int has_mask,         \
         int accumulate_dw, int need_db, int accumulate_db, float* ws, int* counters) {           \
        GemmArgs g;                                                                               \
        g.a = dy; g.amask = yact; g.b = x; g.bias = x; g.c = dw; g.dsum = db;                      \
        g.ws = ws; g.counters = counters;                                                          \
        g.P = m; g.Q = k; g.R = n; g.lda = m; g.ldb = k;                                           \
        g.use_mask = has_mask != 0; g.use_bias = false; g.relu = false;                            \
        g.accumulate = accumulate_dw != 0; g.use_dsum = need_db != 0;                              \
        g.accumulate_dsum = accumulate_db != 0;                                                    \
        gemm_async<CFG, false, false>(g, tile_of_block(), dynamic_smem());                         \
    }

// dX and dW (+ db) of one layer in one launch: blocks [0, gx_dx·gy_dx·splits_dx) compute dX tiles
// (split-K slice outermost), the rest dW tiles; each GEMM has its own workspace and counters. One
// grid sized to whole waves replaces two launches whose tails would each leave SMs idle.
#define GP_ASYNC_BWD_GROUPED(NAME, CFG, NTH, MINB)                                                \
    extern "C" __global__ void __launch_bounds__(NTH, MINB)                                       \
    NAME(const float* __restrict__ dy, const float* __restrict__ yact, const float* __restrict__ w,\
         const float* __restrict__ x, float* __restrict__ dx, float* __restrict__ dw,               \
         float* __restrict__ db, int n, int k, int m, int has_mask, int accumulate_dx,             \
         int accumulate_dw, int need_db, int accumulate_db, int gx_dx, int gy_dx, int splits_dx,   \
         int gx_dw, int gy_dw, int splits_dw, float* ws_dx, int* cnt_dx, float* ws_dw,             \
         int* cnt_dw) {                                                                           \
        GemmArgs g;                                                                               \
        TileCoord tc;                                                                             \
        const int nb_dx = gx_dx * gy_dx * splits_dx;                                              \
        int b = (int)blockIdx.x;                                                                   \
        g.a = dy; g.amask = yact; g.use_mask = has_mask != 0; g.use_bias = false; g.relu = false;  \
        if (b < nb_dx) {                                                                          \
            tc.bx = b % gx_dx; tc.by = (b / gx_dx) % gy_dx; tc.bz = b / (gx_dx * gy_dx);           \
            tc.nz = splits_dx; tc.nbx = gx_dx;                                                     \
            g.b = w; g.bias = w; g.c = dx; g.dsum = dx; g.ws = ws_dx; g.counters = cnt_dx;         \
            g.P = n; g.Q = k; g.R = m; g.lda = m; g.ldb = k;                                       \
            g.accumulate = accumulate_dx != 0; g.use_dsum = false; g.accumulate_dsum = false;      \
            gemm_async_call<CFG, true, false>(g, tc, dynamic_smem());                              \
        } else {                                                                                  \
            b -= nb_dx;                                                                           \
            tc.bx = b % gx_dw; tc.by = (b / gx_dw) % gy_dw; tc.bz = b / (gx_dw * gy_dw);           \
            tc.nz = splits_dw; tc.nbx = gx_dw;                                                     \
            g.b = x; g.bias = x; g.c = dw; g.dsum = db; g.ws = ws_dw; g.counters = cnt_dw;         \
            g.P = m; g.Q = k; g.R = n; g.lda = m; g.ldb = k;                                       \
            g.accumulate = accumulate_dw != 0; g.use_dsum = need_db != 0;                          \
            g.accumulate_dsum = accumulate_db != 0;                                                \
            gemm_async_call<CFG, false, false>(g, tc, dynamic_smem());                             \
        }                                                                                         \
    }

GP_ASYNC_FWD(dense_fwd_w, GP_W_CFG, 256, 1)
GP_ASYNC_BWD_DX(dense_bwd_dx_w, GP_W_CFG, 256, 1)
GP_ASYNC_BWD_DW(dense_bwd_dw_w, GP_W_CFG, 256, 1)
GP_ASYNC_BWD_GROUPED(dense_bwd_grouped_w, GP_W_CFG, 256, 1)
GP_ASYNC_FWD(dense_fwd_m, GP_M_CFG, 128, 3)
GP_ASYNC_BWD_DX(dense_bwd_dx_m, GP_M_CFG, 128, 3)
GP_ASYNC_BWD_DW(dense_bwd_dw_m, GP_M_CFG, 128, 3)
GP_ASYNC_BWD_GROUPED(dense_bwd_grouped_m, GP_M_CFG, 128, 2)

// db (M,) (+)= Σ_n dY[n, :] ⊙ (y[n, :] > 0), for when dW is not needed (otherwise the dW kernel
// produces db). Block: 32 columns × 8 row lanes; grid (ceil(M/32)). Rows are summed in a fixed
// order, so the result is deterministic.
#define GP_DB_COLS 32
#define GP_DB_ROWS 8
extern "C" __global__ void __launch_bounds__(GP_DB_COLS * GP_DB_ROWS)
dense_bwd_db(const float* __restrict__ dy, const float* __restrict__ yact, float* __restrict__ db,
             int n, int m, int has_mask, int accumulate) {
    __shared__ float part[GP_DB_ROWS][GP_DB_COLS + 1];  // +1: the column-wise read is conflict free
    const int cx = threadIdx.x % GP_DB_COLS;
    const int ry = threadIdx.x / GP_DB_COLS;
    const int col = blockIdx.x * GP_DB_COLS + cx;
    float s = 0.f;
    if (col < m) {
        for (int row = ry; row < n; row += GP_DB_ROWS) {
            const size_t off = (size_t)row * (size_t)m + (size_t)col;
            const float v = dy[off];
            s += (!has_mask || yact[off] > 0.f) ? v : 0.f;
        }
    }
    part[ry][cx] = s;
    __syncthreads();
    if (ry == 0 && col < m) {
        float t = 0.f;
#pragma unroll
        for (int r = 0; r < GP_DB_ROWS; ++r) t += part[r][cx];
        db[col] = accumulate ? db[col] + t : t;
    }
}
