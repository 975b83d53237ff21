// Causal attention over the paged BF16 KV cache for a ragged batch, on tensor cores (mma.sync
// m16n8k16, BF16 in, FP32 accumulation; sm_80 and newer). Row r of the batch (position pos) attends
// to its sequence's keys at positions [first, pos], first = pos - window + 1 with a sliding window,
// else 0. Scores are s = scale * q.k, soft-capped to cap * tanh(s / cap) when cap > 0, then raised
// by ALiBi's slope[h] * keyPosition when slopes are given; the softmax runs online in FP32, in
// base 2 (log2(e) is folded into the scale).
//
// Two kernels share the warp-level steps (S = Q K^T into registers, the online softmax, O += P V):
// - attention_prefill_d<D>: FlashAttention-2 over a sequence's rows. A CTA takes 64 "query items"
//   (a row and one query head of a KV head's group, row-major, so GQA heads share the K/V tiles)
//   of one sequence for one KV head; four warps take 16 items each. K and V tiles of 64 keys
//   (32 at D = 256) are copied once per tile into shared memory with 16-byte cp.async through the
//   block table, K for the next tile while P V runs, V while Q K^T runs. Bottom-right causal:
//   masks are evaluated only on tiles that cross a row's first or last visible key, and a warp
//   skips tiles none of its rows can see. CTAs are found from the sequences' row ranges
//   (seqStarts), so one launch covers every prompt chunk of a step.
// - attention_decode_d<D>: single-row sequences (decode). A CTA covers one (row, KV head, split):
//   the group's query heads (at most 16) are the rows of the MMA, so each key and value is read
//   once per row. Four warps each take 16 keys of every 64-key stage of a cp.async pipeline (two
//   to four stages), then merge their partial softmax states in shared memory. With splits > 1
//   (flash-decoding) a row's keys are cut into `splits` ranges of whole 64-key tiles, sized from
//   the row's own context, so a captured graph (whose launch dimensions are frozen) pays only for
//   the splits a row needs; the others exit at once. A row that needs one split writes its output
//   directly, the others write partial (values, max, sum) that attention_decode_merge combines.
//
// D (the head size the kernel is built for: 64, 80, 96, 128 or 256) may exceed the model's head
// size (a multiple of 8): the missing dimensions are zero-filled in shared memory and never written.
#include "common.cuh"

#define ATTN_WARPS 4
#define ATTN_THREADS (ATTN_WARPS * 32)
#define ATTN_PREFILL_ITEMS 64
#define ATTN_DECODE_TILE 64
#define ATTN_LOG2E 1.4426950408889634f

namespace attn {

extern __shared__ __align__(16) unsigned char smem[];

// ---- PTX: shared-memory addresses, cp.async, ldmatrix, mma ----

__device__ __forceinline__ unsigned smem_addr(const void* p) {
    unsigned a;
    asm("{ .reg .u64 t; cvta.to.shared.u64 t, %1; cvt.u32.u64 %0, t; }" : "=r"(a) : "l"(p));
    return a;
}

// 16 bytes from global to shared memory, or 16 zero bytes when !valid (src is then not read).
__device__ __forceinline__ void cp_async16(unsigned dst, const void* src, bool valid) {
    int n = valid ? 16 : 0;
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(n) : "memory");
}

__device__ __forceinline__ void cp_async_commit() {
    asm volatile("cp.async.commit_group;\n" ::: "memory");
}

template <int N>
__device__ __forceinline__ void cp_async_wait() {
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void cp_async_wait_upto(int pending) {
    if (pending <= 0) {
        cp_async_wait<0>();
    } else if (pending == 1) {
        cp_async_wait<1>();
    } else {
        cp_async_wait<2>();
    }
}

__device__ __forceinline__ void ldsm_x4(unsigned addr, unsigned& r0, unsigned& r1, unsigned& r2, unsigned& r3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(addr));
}

__device__ __forceinline__ void ldsm_x4_trans(unsigned addr, unsigned& r0, unsigned& r1, unsigned& r2, unsigned& r3) {
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(r0), "=r"(r1), "=r"(r2), "=r"(r3)
                 : "r"(addr));
}

// d += a (16x16, row-major) * b (16x8, column-major); BF16 inputs, FP32 accumulators.
__device__ __forceinline__ void mma_bf16(float (&d)[4], unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0,
                                         unsigned b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// Two floats rounded to BF16 (nearest even) in one word, lo in the low half.
__device__ __forceinline__ unsigned pack_bf16(float lo, float hi) {
    unsigned r;
    asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(hi), "f"(lo));
    return r;
}

// ---- Scores ----

struct Scoring {
    float qkScale;         // multiplies q.k: scale * log2(e), or scale / cap with soft-capping
    float capScale;        // cap * log2(e) with soft-capping, else 0
    const float* alibi;    // one slope per query head, or null
    int window;            // sliding window, 0 for none
};

__device__ __forceinline__ Scoring scoring(float scale, float softCap, const float* alibi, int window) {
    Scoring sc;
    sc.qkScale = softCap > 0.0f ? scale / softCap : scale * ATTN_LOG2E;
    sc.capScale = softCap > 0.0f ? softCap * ATTN_LOG2E : 0.0f;
    sc.alibi = alibi;
    sc.window = window;
    return sc;
}

// The keys each of a thread's two MMA rows (lane / 4 and lane / 4 + 8) may see, and their ALiBi
// slopes in base 2.
struct RowBounds {
    int lo[2];
    int hi[2];
    float slope[2];
};

// Smem row stride in elements: 16 bytes of padding make ldmatrix's eight rows hit distinct banks.
template <int D>
struct Tile {
    static constexpr int RS = D + 8;
    static constexpr int RB = RS * 2;    // bytes
    static constexpr int CH = D / 8;     // 16-byte chunks per row
};

// Copies keys [key0, key0 + n) of one KV head into rows of kDst, and with VALUES their values into
// rows of vDst (one block-table lookup serves both); zero past keyEnd and past headDim.
template <int D, bool VALUES>
__device__ __forceinline__ void load_keys(bf16* kDst, bf16* vDst, const bf16* __restrict__ kCache,
                                          const bf16* __restrict__ vCache, const int* __restrict__ table,
                                          int blockSize, int blockShift, int kvHeads, int kvh, int headDim, int key0,
                                          int n, int keyEnd) {
    constexpr int CH = Tile<D>::CH;
    unsigned kBase = smem_addr(kDst);
    unsigned vBase = VALUES ? smem_addr(vDst) : 0;
    for (int c = threadIdx.x; c < n * CH; c += ATTN_THREADS) {
        int j = c / CH;
        int ch = c - j * CH;
        int key = key0 + j;
        bool ok = key < keyEnd && ch * 8 < headDim;
        long long at = 0;
        if (ok) {
            int block = blockShift >= 0 ? key >> blockShift : key / blockSize;
            int offset = key - block * blockSize;
            long long slot = (long long) table[block] * blockSize + offset;
            at = (slot * kvHeads + kvh) * headDim + ch * 8;
        }
        cp_async16(kBase + j * Tile<D>::RB + ch * 16, kCache + at, ok);
        if constexpr (VALUES) {
            cp_async16(vBase + j * Tile<D>::RB + ch * 16, vCache + at, ok);
        }
    }
}

__device__ __forceinline__ int block_shift(int blockSize) {
    return (blockSize & (blockSize - 1)) == 0 ? __ffs(blockSize) - 1 : -1;
}

// Q fragments (A operand) of k-step ks for a warp's 16 rows starting at smem address qBase.
template <int D>
__device__ __forceinline__ void load_q_frag(unsigned qBase, int ks, int lane, unsigned (&a)[4]) {
    ldsm_x4(qBase + (lane & 15) * Tile<D>::RB + (ks * 16 + (lane >> 4) * 8) * 2, a[0], a[1], a[2], a[3]);
}

// s = Q K^T for a warp's 16 query rows and NT * 8 keys (rows of K at kBase). With QREG the Q
// fragments come from qf, else from shared memory at qBase.
template <int D, int NT, bool QREG>
__device__ __forceinline__ void qk_tile(float (&s)[NT][4], const unsigned (&qf)[D / 16][4], unsigned qBase,
                                        unsigned kBase, int lane) {
#pragma unroll
    for (int n = 0; n < NT; n++) {
        s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.0f;
    }
#pragma unroll
    for (int ks = 0; ks < D / 16; ks++) {
        unsigned a[4];
        if constexpr (QREG) {
            a[0] = qf[ks][0];
            a[1] = qf[ks][1];
            a[2] = qf[ks][2];
            a[3] = qf[ks][3];
        } else {
            load_q_frag<D>(qBase, ks, lane, a);
        }
#pragma unroll
        for (int j = 0; j < NT / 2; j++) {
            unsigned b0, b1, b2, b3;
            ldsm_x4(kBase + ((lane & 7) + (lane >> 4) * 8 + 16 * j) * Tile<D>::RB + (ks * 16 + ((lane >> 3) & 1) * 8) * 2,
                    b0, b1, b2, b3);
            mma_bf16(s[2 * j], a[0], a[1], a[2], a[3], b0, b1);
            mma_bf16(s[2 * j + 1], a[0], a[1], a[2], a[3], b2, b3);
        }
    }
}

// Turns raw dot products into base-2 scores (scale, soft-cap, ALiBi, mask), updates the running
// max m and sum l of the thread's two rows, rescales o, and leaves the probabilities in s.
// Key column c of s is at position key0 + c.
template <int NT, int D>
__device__ __forceinline__ void softmax_update(float (&s)[NT][4], float (&m)[2], float (&l)[2], float (&o)[D / 8][4],
                                               int key0, const RowBounds& rb, const Scoring& sc, bool mask,
                                               int lane) {
    int t2 = 2 * (lane & 3);
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int n = 0; n < NT; n++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int r = e >> 1;
            int key = key0 + n * 8 + t2 + (e & 1);
            float v = sc.capScale > 0.0f ? tanhf(s[n][e] * sc.qkScale) * sc.capScale : s[n][e] * sc.qkScale;
            v += rb.slope[r] * (float) key;
            if (mask && (key < rb.lo[r] || key > rb.hi[r])) {
                v = -INFINITY;
            }
            s[n][e] = v;
            mx[r] = fmaxf(mx[r], v);
        }
    }
    float use[2];
#pragma unroll
    for (int r = 0; r < 2; r++) {
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
        mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
        float mNew = fmaxf(m[r], mx[r]);
        // A row that has seen no key yet keeps max -inf: exp2(-inf - 0) = 0, never NaN.
        use[r] = mNew == -INFINITY ? 0.0f : mNew;
        float corr = exp2f(m[r] - use[r]);
        m[r] = mNew;
        l[r] *= corr;
#pragma unroll
        for (int n = 0; n < D / 8; n++) {
            o[n][2 * r] *= corr;
            o[n][2 * r + 1] *= corr;
        }
    }
#pragma unroll
    for (int n = 0; n < NT; n++) {
#pragma unroll
        for (int e = 0; e < 4; e++) {
            int r = e >> 1;
            float p = exp2f(s[n][e] - use[r]);
            s[n][e] = p;
            l[r] += p;
        }
    }
}

// o += P V for a warp's 16 rows over NT * 8 keys (rows of V at vBase); P rounded to BF16.
template <int D, int NT>
__device__ __forceinline__ void pv_tile(float (&o)[D / 8][4], const float (&p)[NT][4], unsigned vBase, int lane) {
#pragma unroll
    for (int kk = 0; kk < NT / 2; kk++) {
        unsigned a0 = pack_bf16(p[2 * kk][0], p[2 * kk][1]);
        unsigned a1 = pack_bf16(p[2 * kk][2], p[2 * kk][3]);
        unsigned a2 = pack_bf16(p[2 * kk + 1][0], p[2 * kk + 1][1]);
        unsigned a3 = pack_bf16(p[2 * kk + 1][2], p[2 * kk + 1][3]);
#pragma unroll
        for (int dp = 0; dp < D / 16; dp++) {
            unsigned b0, b1, b2, b3;
            ldsm_x4_trans(vBase + (16 * kk + (lane & 15)) * Tile<D>::RB + (dp * 16 + (lane >> 4) * 8) * 2, b0, b1, b2, b3);
            mma_bf16(o[2 * dp], a0, a1, a2, a3, b0, b1);
            mma_bf16(o[2 * dp + 1], a0, a1, a2, a3, b2, b3);
        }
    }
}

__device__ __forceinline__ int warp_max_int(int v) {
    for (int o = 16; o > 0; o >>= 1) {
        v = max(v, __shfl_xor_sync(0xffffffffu, v, o));
    }
    return v;
}

__device__ __forceinline__ int warp_min_int(int v) {
    for (int o = 16; o > 0; o >>= 1) {
        v = min(v, __shfl_xor_sync(0xffffffffu, v, o));
    }
    return v;
}

// ---- Prefill ----

// Finds which sequence and which of its 64-item tiles CTA `target` takes; false past the last tile.
// Tiles of a sequence are taken last first (the longest rows start first). Sequences of one row
// have no tile when skipSingle (the decode kernel takes them).
__device__ __forceinline__ bool find_tile(const int* __restrict__ seqStarts, int numSeqs, int group, int skipSingle,
                                          int target, int lane, int& seq, int& tile) {
    int base = 0;
    for (int s0 = 0; s0 < numSeqs; s0 += 32) {
        int s = s0 + lane;
        int n = 0;
        if (s < numSeqs) {
            int rows = seqStarts[s + 1] - seqStarts[s];
            n = skipSingle && rows == 1 ? 0 : (rows * group + ATTN_PREFILL_ITEMS - 1) / ATTN_PREFILL_ITEMS;
        }
        int inc = n;
        for (int o = 1; o < 32; o <<= 1) {
            int v = __shfl_up_sync(0xffffffffu, inc, o);
            if (lane >= o) {
                inc += v;
            }
        }
        int total = __shfl_sync(0xffffffffu, inc, 31);
        if (target < base + total) {
            unsigned hit = __ballot_sync(0xffffffffu, base + inc > target);
            int first = __ffs(hit) - 1;
            int before = __shfl_sync(0xffffffffu, inc - n, first);
            int count = __shfl_sync(0xffffffffu, n, first);
            seq = s0 + first;
            tile = count - 1 - (target - base - before);
            return true;
        }
        base += total;
    }
    return false;
}

// Grid: (tiles, kvHeads); block: 128 threads; dynamic shared memory (64 + 2 * BC) * (D + 8) * 2 bytes.
template <int D, int BC>
__device__ __forceinline__ void prefill(const bf16* __restrict__ q, bf16* __restrict__ out,
                                        const bf16* __restrict__ kCache, const bf16* __restrict__ vCache,
                                        const int* __restrict__ positions, const int* __restrict__ seqStarts,
                                        int numSeqs, const int* __restrict__ blockTables, int tableStride,
                                        int blockSize, int numHeads, int kvHeads, int headDim, const Scoring sc,
                                        int skipSingle) {
    constexpr int RS = Tile<D>::RS;
    constexpr int CH = Tile<D>::CH;
    constexpr int NT = BC / 8;
    constexpr bool QREG = D <= 128;
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    int kvh = blockIdx.y;
    int group = numHeads / kvHeads;
    int seq;
    int tile;
    if (!find_tile(seqStarts, numSeqs, group, skipSingle, blockIdx.x, lane, seq, tile)) {
        return;
    }
    bf16* sQ = (bf16*) smem;
    bf16* sK = sQ + ATTN_PREFILL_ITEMS * RS;
    bf16* sV = sK + BC * RS;
    int start = seqStarts[seq];
    int rows = seqStarts[seq + 1] - start;
    int i0 = tile * ATTN_PREFILL_ITEMS;
    int rowLo = i0 / group;
    int rowHi = min(rows - 1, (i0 + ATTN_PREFILL_ITEMS - 1) / group);
    int kvEnd = positions[start + rowHi] + 1;
    int kvBeg = sc.window > 0 ? max(0, positions[start + rowLo] - sc.window + 1) : 0;
    const int* table = blockTables + (long long) seq * tableStride;
    int shift = block_shift(blockSize);

    // Q tile: item it is row i / group, head kvh * group + i % group.
    unsigned qBase = smem_addr(sQ);
    for (int c = threadIdx.x; c < ATTN_PREFILL_ITEMS * CH; c += ATTN_THREADS) {
        int it = c / CH;
        int ch = c - it * CH;
        int item = i0 + it;
        int lr = item / group;
        bool ok = lr < rows && ch * 8 < headDim;
        const bf16* src = q;
        if (ok) {
            src = q + ((long long) (start + lr) * numHeads + kvh * group + (item - lr * group)) * headDim + ch * 8;
        }
        cp_async16(qBase + it * Tile<D>::RB + ch * 16, src, ok);
    }
    load_keys<D, false>(sK, nullptr, kCache, nullptr, table, blockSize, shift, kvHeads, kvh, headDim, kvBeg, BC, kvEnd);
    cp_async_commit();

    RowBounds rb;
    int outRow[2];
    int outHead[2];
    int hiMax = -1;
    int loMin = 0x7fffffff;
    int hiMin = 0x7fffffff;
    int loMax = 0;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        int item = i0 + warp * 16 + (lane >> 2) + 8 * r;
        int lr = item / group;
        int h = kvh * group + (item - lr * group);
        bool valid = lr < rows;
        int pos = valid ? positions[start + lr] : -1;
        rb.hi[r] = pos;
        rb.lo[r] = valid && sc.window > 0 ? max(0, pos - sc.window + 1) : 0;
        rb.slope[r] = valid && sc.alibi != nullptr ? sc.alibi[h] * ATTN_LOG2E : 0.0f;
        outRow[r] = valid ? start + lr : -1;
        outHead[r] = h;
        hiMax = max(hiMax, rb.hi[r]);
        hiMin = min(hiMin, rb.hi[r]);
        loMax = max(loMax, rb.lo[r]);
        if (valid) {
            loMin = min(loMin, rb.lo[r]);
        }
    }
    hiMax = warp_max_int(hiMax);
    hiMin = warp_min_int(hiMin);
    loMax = warp_max_int(loMax);
    loMin = warp_min_int(loMin);

    float o[D / 8][4];
#pragma unroll
    for (int n = 0; n < D / 8; n++) {
        o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    }
    float m[2] = {-INFINITY, -INFINITY};
    float l[2] = {0.0f, 0.0f};
    unsigned qf[D / 16][4];
    unsigned wq = qBase + warp * 16 * Tile<D>::RB;
    unsigned kBase = smem_addr(sK);
    unsigned vBase = smem_addr(sV);

    for (int kt = kvBeg; kt < kvEnd; kt += BC) {
        cp_async_wait<0>();
        __syncthreads();  // K (and Q) landed; every warp is done with the previous V
        if constexpr (QREG) {
            if (kt == kvBeg) {
#pragma unroll
                for (int ks = 0; ks < D / 16; ks++) {
                    load_q_frag<D>(wq, ks, lane, qf[ks]);
                }
            }
        }
        load_keys<D, false>(sV, nullptr, vCache, nullptr, table, blockSize, shift, kvHeads, kvh, headDim, kt, BC, kvEnd);
        cp_async_commit();
        bool active = kt <= hiMax && kt + BC - 1 >= loMin;
        float s[NT][4];
        if (active) {
            bool mask = kt + BC - 1 > hiMin || kt < loMax;
            qk_tile<D, NT, QREG>(s, qf, wq, kBase, lane);
            softmax_update<NT, D>(s, m, l, o, kt, rb, sc, mask, lane);
        }
        cp_async_wait<0>();
        __syncthreads();  // V landed; every warp is done with K
        if (kt + BC < kvEnd) {
            load_keys<D, false>(sK, nullptr, kCache, nullptr, table, blockSize, shift, kvHeads, kvh, headDim, kt + BC,
                                BC, kvEnd);
            cp_async_commit();
        }
        if (active) {
            pv_tile<D, NT>(o, s, vBase, lane);
        }
    }

    int d0 = 2 * (lane & 3);
#pragma unroll
    for (int r = 0; r < 2; r++) {
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
        if (outRow[r] >= 0) {
            float inv = l[r] > 0.0f ? 1.0f / l[r] : 0.0f;
            bf16* dst = out + ((long long) outRow[r] * numHeads + outHead[r]) * headDim;
#pragma unroll
            for (int n = 0; n < D / 8; n++) {
                int d = n * 8 + d0;
                if (d < headDim) {
                    *(unsigned*) (dst + d) = pack_bf16(o[n][2 * r] * inv, o[n][2 * r + 1] * inv);
                }
            }
        }
    }
}

// ---- Decode ----

// How a decode row's keys [first, pos] are split: `splits` ranges at most, each of whole 64-key
// tiles and as even as they come; `active` of them are not empty.
struct RowSplit {
    int first;
    int pos;
    int keys;    // per split
    int active;
};

__device__ __forceinline__ RowSplit row_split(int pos, int window, int splits) {
    RowSplit rs;
    rs.first = window > 0 ? max(0, pos - window + 1) : 0;
    rs.pos = pos;
    int len = pos - rs.first + 1;
    int per = (len + splits - 1) / splits;
    rs.keys = (per + ATTN_DECODE_TILE - 1) / ATTN_DECODE_TILE * ATTN_DECODE_TILE;
    rs.active = (len + rs.keys - 1) / rs.keys;
    return rs;
}

// Whether row r is left to the other kernel: with onlySingle, rows of multi-row sequences are.
__device__ __forceinline__ bool not_a_decode_row(int onlySingle, const int* __restrict__ rowSeq,
                                                 const int* __restrict__ seqStarts, int r) {
    if (!onlySingle) {
        return false;
    }
    int s = rowSeq[r];
    return seqStarts[s + 1] - seqStarts[s] != 1;
}

// Grid: (rows, kvHeads, splits); block: 128 threads; dynamic shared memory
// (16 + stages * 2 * 64) * (D + 8) * 2 bytes. numHeads / kvHeads <= 16.
// partial is [rows, numHeads, splits, headDim + 2]: values, max (base 2), sum.
template <int D>
__device__ __forceinline__ void decode(const bf16* __restrict__ q, bf16* __restrict__ out, float* __restrict__ partial,
                                       const bf16* __restrict__ kCache, const bf16* __restrict__ vCache,
                                       const int* __restrict__ positions, const int* __restrict__ rowSeq,
                                       const int* __restrict__ seqStarts, const int* __restrict__ blockTables,
                                       int tableStride, int blockSize, int numHeads, int kvHeads, int headDim,
                                       const Scoring sc, int splits, int stages, int onlySingle) {
    constexpr int RS = Tile<D>::RS;
    constexpr int CH = Tile<D>::CH;
    constexpr bool QREG = D <= 128;
    int r = blockIdx.x;
    int kvh = blockIdx.y;
    int z = blockIdx.z;
    if (not_a_decode_row(onlySingle, rowSeq, seqStarts, r)) {
        return;
    }
    RowSplit rs = row_split(positions[r], sc.window, splits);
    if (z >= rs.active) {
        return;
    }
    int kBeg = rs.first + z * rs.keys;
    int kEnd = min(rs.pos + 1, kBeg + rs.keys);
    int group = numHeads / kvHeads;
    int lane = threadIdx.x & 31;
    int warp = threadIdx.x >> 5;
    const int* table = blockTables + (long long) rowSeq[r] * tableStride;
    int shift = block_shift(blockSize);
    bf16* sQ = (bf16*) smem;
    bf16* stage0 = sQ + 16 * RS;
    constexpr int STAGE = 2 * ATTN_DECODE_TILE * RS;  // elements: K then V

    unsigned qBase = smem_addr(sQ);
    for (int c = threadIdx.x; c < 16 * CH; c += ATTN_THREADS) {
        int it = c / CH;
        int ch = c - it * CH;
        bool ok = it < group && ch * 8 < headDim;
        const bf16* src = ok ? q + ((long long) r * numHeads + kvh * group + it) * headDim + ch * 8 : q;
        cp_async16(qBase + it * Tile<D>::RB + ch * 16, src, ok);
    }
    int tiles = (kEnd - kBeg + ATTN_DECODE_TILE - 1) / ATTN_DECODE_TILE;
    for (int st = 0; st < stages - 1; st++) {
        if (st < tiles) {
            bf16* k = stage0 + st * STAGE;
            load_keys<D, true>(k, k + ATTN_DECODE_TILE * RS, kCache, vCache, table, blockSize, shift, kvHeads, kvh,
                               headDim, kBeg + st * ATTN_DECODE_TILE, ATTN_DECODE_TILE, kEnd);
        }
        cp_async_commit();
    }

    RowBounds rb;
#pragma unroll
    for (int i = 0; i < 2; i++) {
        int head = (lane >> 2) + 8 * i;
        rb.lo[i] = kBeg;
        rb.hi[i] = kEnd - 1;
        rb.slope[i] = sc.alibi != nullptr && head < group ? sc.alibi[kvh * group + head] * ATTN_LOG2E : 0.0f;
    }
    float o[D / 8][4];
#pragma unroll
    for (int n = 0; n < D / 8; n++) {
        o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
    }
    float m[2] = {-INFINITY, -INFINITY};
    float l[2] = {0.0f, 0.0f};
    unsigned qf[D / 16][4];

    for (int t = 0; t < tiles; t++) {
        cp_async_wait_upto(stages - 2);
        __syncthreads();  // tile t landed; every warp is done with tile t - 1, whose buffer is refilled next
        if constexpr (QREG) {
            if (t == 0) {
#pragma unroll
                for (int ks = 0; ks < D / 16; ks++) {
                    load_q_frag<D>(qBase, ks, lane, qf[ks]);
                }
            }
        }
        int next = t + stages - 1;
        if (next < tiles) {
            bf16* k = stage0 + (next % stages) * STAGE;
            load_keys<D, true>(k, k + ATTN_DECODE_TILE * RS, kCache, vCache, table, blockSize, shift, kvHeads, kvh,
                               headDim, kBeg + next * ATTN_DECODE_TILE, ATTN_DECODE_TILE, kEnd);
        }
        cp_async_commit();
        int key0 = kBeg + t * ATTN_DECODE_TILE + 16 * warp;
        if (key0 < kEnd) {
            bf16* k = stage0 + (t % stages) * STAGE + 16 * warp * RS;
            float s[2][4];
            qk_tile<D, 2, QREG>(s, qf, qBase, smem_addr(k), lane);
            softmax_update<2, D>(s, m, l, o, key0, rb, sc, key0 + 15 >= kEnd, lane);
            pv_tile<D, 2>(o, s, smem_addr(k + ATTN_DECODE_TILE * RS), lane);
        }
    }

    // Merge the warps' states in shared memory (over the pipeline's buffers).
    cp_async_wait<0>();
    __syncthreads();
    float* sM = (float*) stage0;
    float* sL = sM + ATTN_WARPS * 16;
    float* sO = sL + ATTN_WARPS * 16;
    int g = lane >> 2;
    int d0 = 2 * (lane & 3);
#pragma unroll
    for (int i = 0; i < 2; i++) {
        l[i] += __shfl_xor_sync(0xffffffffu, l[i], 1);
        l[i] += __shfl_xor_sync(0xffffffffu, l[i], 2);
        int row = warp * 16 + g + 8 * i;
        if ((lane & 3) == 0) {
            sM[row] = m[i];
            sL[row] = l[i];
        }
#pragma unroll
        for (int n = 0; n < D / 8; n++) {
            sO[row * D + n * 8 + d0] = o[n][2 * i];
            sO[row * D + n * 8 + d0 + 1] = o[n][2 * i + 1];
        }
    }
    __syncthreads();
    bool direct = rs.active == 1;
    for (int idx = threadIdx.x; idx < group * headDim; idx += ATTN_THREADS) {
        int i = idx / headDim;
        int d = idx - i * headDim;
        float mMax = -INFINITY;
#pragma unroll
        for (int w = 0; w < ATTN_WARPS; w++) {
            mMax = fmaxf(mMax, sM[w * 16 + i]);
        }
        float sum = 0.0f;
        float acc = 0.0f;
#pragma unroll
        for (int w = 0; w < ATTN_WARPS; w++) {
            float mw = sM[w * 16 + i];
            if (mw != -INFINITY) {
                float wt = exp2f(mw - mMax);
                sum += sL[w * 16 + i] * wt;
                acc += sO[(w * 16 + i) * D + d] * wt;
            }
        }
        long long rh = (long long) r * numHeads + kvh * group + i;
        if (direct) {
            out[rh * headDim + d] = float_to_bf16(sum > 0.0f ? acc / sum : 0.0f);
        } else {
            float* p = partial + (rh * splits + z) * (headDim + 2);
            p[d] = acc;
            if (d == 0) {
                p[headDim] = mMax;
                p[headDim + 1] = sum;
            }
        }
    }
}

}  // namespace attn

#define ATTN_PREFILL_KERNEL(D, BC)                                                                                  \
    extern "C" __global__ void __launch_bounds__(ATTN_THREADS) attention_prefill_d##D(                             \
        const bf16* __restrict__ q, bf16* __restrict__ out, const bf16* __restrict__ kCache,                       \
        const bf16* __restrict__ vCache, const int* __restrict__ positions, const int* __restrict__ seqStarts,     \
        int numSeqs, const int* __restrict__ blockTables, int tableStride, int blockSize, int numHeads,             \
        int kvHeads, int headDim, int window, float scale, float softCap, const float* __restrict__ alibi,         \
        int skipSingle) {                                                                                           \
        attn::prefill<D, BC>(q, out, kCache, vCache, positions, seqStarts, numSeqs, blockTables, tableStride,      \
                             blockSize, numHeads, kvHeads, headDim, attn::scoring(scale, softCap, alibi, window),  \
                             skipSingle);                                                                           \
    }

#define ATTN_DECODE_KERNEL(D)                                                                                       \
    extern "C" __global__ void __launch_bounds__(ATTN_THREADS, 2) attention_decode_d##D(                           \
        const bf16* __restrict__ q, bf16* __restrict__ out, float* __restrict__ partial,                           \
        const bf16* __restrict__ kCache, const bf16* __restrict__ vCache, const int* __restrict__ positions,       \
        const int* __restrict__ rowSeq, const int* __restrict__ seqStarts, const int* __restrict__ blockTables,    \
        int tableStride, int blockSize, int numHeads, int kvHeads, int headDim, int window, float scale,           \
        float softCap, const float* __restrict__ alibi, int splits, int stages, int onlySingle) {                   \
        attn::decode<D>(q, out, partial, kCache, vCache, positions, rowSeq, seqStarts, blockTables, tableStride,   \
                        blockSize, numHeads, kvHeads, headDim, attn::scoring(scale, softCap, alibi, window), splits,\
                        stages, onlySingle);                                                                        \
    }

ATTN_PREFILL_KERNEL(64, 64)
ATTN_PREFILL_KERNEL(80, 64)
ATTN_PREFILL_KERNEL(96, 64)
ATTN_PREFILL_KERNEL(128, 64)
ATTN_PREFILL_KERNEL(256, 32)
ATTN_DECODE_KERNEL(64)
ATTN_DECODE_KERNEL(80)
ATTN_DECODE_KERNEL(96)
ATTN_DECODE_KERNEL(128)
ATTN_DECODE_KERNEL(256)

// Grid: (rows, numHeads); block: at least 32 threads. Combines the splits of the rows the decode
// kernel split (the others it wrote directly).
extern "C" __global__ void attention_decode_merge(const float* __restrict__ partial, bf16* __restrict__ out,
                                                  const int* __restrict__ positions, const int* __restrict__ rowSeq,
                                                  const int* __restrict__ seqStarts, int numHeads, int headDim,
                                                  int window, int splits, int onlySingle) {
    int r = blockIdx.x;
    int h = blockIdx.y;
    if (attn::not_a_decode_row(onlySingle, rowSeq, seqStarts, r)) {
        return;
    }
    int active = attn::row_split(positions[r], window, splits).active;
    if (active <= 1) {
        return;
    }
    long long rh = (long long) r * numHeads + h;
    const float* part = partial + rh * splits * (headDim + 2);
    float mMax = -INFINITY;
    for (int z = 0; z < active; z++) {
        mMax = fmaxf(mMax, part[z * (headDim + 2) + headDim]);
    }
    for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
        float sum = 0.0f;
        float acc = 0.0f;
        for (int z = 0; z < active; z++) {
            const float* p = part + z * (headDim + 2);
            float w = exp2f(p[headDim] - mMax);
            sum += p[headDim + 1] * w;
            acc += p[d] * w;
        }
        out[rh * headDim + d] = float_to_bf16(sum > 0.0f ? acc / sum : 0.0f);
    }
}
