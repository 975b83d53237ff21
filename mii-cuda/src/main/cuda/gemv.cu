// GEMV for decode: y = x W^T for at most 8 rows of x, the weights streamed once. At one to eight rows
// a GEMM is a matrix-vector product bound by reading W. One warp per output feature reads its weight
// row with 16-byte loads that bypass L1 (each weight byte is read once; L1 keeps x), the next loads
// issued before the current ones are used, and reduces with shuffles. The row count is a template
// parameter (gemv_r1 ... gemv_r8, and gemv_act_r* with the activation fusion below) so the accumulators stay in registers. Measured on an H200 with
// mii-cuda/src/test/cuda/gemv_bench.cu (a Llama-3-8B decode step's 129 projections in a CUDA graph):
// 3.79 ms at one row, where one 16-byte load in flight per lane took 4.93 ms, and four 4.04 ms.
//
// Up to three weights with the same input width run as one launch (q/k/v, gate/up): output feature
// n belongs to the first segment whose cumulative width exceeds it. Fusions remove the small kernels
// around a decode step's projections:
//  - residual (residual != 0, one segment): residual[r][n] = bf16(residual[r][n] + bf16(y[r][n])),
//    the add that follows the output and down projections (o0 still receives y when not null).
//  - act (gemv_act_r*, segments 0 and 1 of equal width: gate and up): the warp of feature n computes
//    gate row n and up row n and writes act(gate) * up to actOut (and the raw values to o0 / o1 when
//    they are not null), as the activation kernel would.
// Two ways of fusing the RMSNorm between them measured slower than the separate rms_norm kernel on
// an H200 (8B decode step +0.3 ms each): every block normalising x before its dot products (each
// redoes the row's reduction before its weight stream gets going), and the residual GEMV's last
// block normalising the updated residual (a fence and an atomic per block, and a serial tail).
#include "common.cuh"

#define GEMV_MAX_ROWS 8
#ifndef GEMV_MIN_BLOCKS
#define GEMV_MIN_BLOCKS 1
#endif
#define GEMV_WARPS 8
#define GEMV_LOADS 2

#define GEMV_ACT_NONE 0
#define GEMV_ACT_SILU 1
#define GEMV_ACT_GELU_TANH 2
#define GEMV_ACT_GELU 3

__device__ __forceinline__ void fma_bf16x8(float& acc, uint4 w, uint4 x) {
    const unsigned int wv[4] = {w.x, w.y, w.z, w.w};
    const unsigned int xv[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        acc += __uint_as_float(wv[i] << 16) * __uint_as_float(xv[i] << 16);
        acc += __uint_as_float(wv[i] & 0xffff0000u) * __uint_as_float(xv[i] & 0xffff0000u);
    }
}

// A weight load that does not allocate in L1: each weight byte is read once per step.
__device__ __forceinline__ uint4 load_weight(const uint4* p) {
    uint4 v;
    asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
                 : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
                 : "l"(p));
    return v;
}

__device__ __forceinline__ float gemv_act(int act, float g) {
    switch (act) {
        case GEMV_ACT_SILU:
            return g / (1.0f + __expf(-g));
        case GEMV_ACT_GELU_TANH:
            return 0.5f * g * (1.0f + tanhf(0.7978845608028654f * (g + 0.044715f * g * g * g)));
        default:
            return 0.5f * g * (1.0f + erff(g * 0.7071067811865476f));
    }
}

// The first GEMV_LOADS weight loads of a lane.
__device__ __forceinline__ void gemv_prefetch(const uint4* __restrict__ wRow, int chunks, int lane, uint4* cur) {
#pragma unroll
    for (int u = 0; u < GEMV_LOADS; u++) {
        int c = u * 32 + lane;
        cur[u] = c < chunks ? load_weight(wRow + c) : make_uint4(0, 0, 0, 0);
    }
}

// acc[r] += W[row] . x[r] over k for the R rows of x; cur holds the prefetched first loads.
template <int R>
__device__ __forceinline__ void gemv_dot(const uint4* __restrict__ wRow, const uint4* xRows, int chunks, int lane,
                                         uint4* cur, float* acc) {
    for (int base = 0; base < chunks; base += 32 * GEMV_LOADS) {
        uint4 next[GEMV_LOADS];
#pragma unroll
        for (int u = 0; u < GEMV_LOADS; u++) {
            int c = base + 32 * GEMV_LOADS + u * 32 + lane;
            next[u] = c < chunks ? load_weight(wRow + c) : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int u = 0; u < GEMV_LOADS; u++) {
            int c = base + u * 32 + lane;
            if (c < chunks) {
#pragma unroll
                for (int r = 0; r < R; r++) {
                    fma_bf16x8(acc[r], cur[u], __ldg(xRows + (long long) r * chunks + c));
                }
            }
        }
#pragma unroll
        for (int u = 0; u < GEMV_LOADS; u++) {
            cur[u] = next[u];
        }
    }
}

// Sums each accumulator over the warp; lane r ends up holding row r's sum in acc[0].
template <int R>
__device__ __forceinline__ float gemv_reduce(float* acc, int lane) {
    float mine = 0.0f;
#pragma unroll
    for (int r = 0; r < R; r++) {
        float v = warp_sum(acc[r]);
        if (lane == r) {
            mine = v;
        }
    }
    return mine;
}

template <int R, bool ACT>
__device__ __forceinline__ void gemv_body(const bf16* __restrict__ x, int k, const bf16* w0, const bf16* b0,
                                          bf16* o0, int n0, const bf16* w1, const bf16* b1, bf16* o1, int n1,
                                          const bf16* w2, const bf16* b2, bf16* o2, int n2, bf16* residual, int act,
                                          bf16* actOut) {
    int chunks = k >> 3;
    int n = blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;

    // This warp's weight row(s), output and bias; valid = false past the last feature.
    const bf16* w = w0;
    const bf16* bias = b0;
    bf16* out = o0;
    int width = n0;
    bool valid = true;
    if (ACT) {
        valid = n < n0;
    } else if (n >= n0) {
        n -= n0;
        w = w1;
        bias = b1;
        out = o1;
        width = n1;
        if (n >= n1) {
            n -= n1;
            w = w2;
            bias = b2;
            out = o2;
            width = n2;
            valid = n < n2;
        }
    }
    uint4 cur[GEMV_LOADS];
    uint4 curUp[ACT ? GEMV_LOADS : 1];
    if (valid) {
        gemv_prefetch((const uint4*) (w + (long long) n * k), chunks, lane, cur);
        if (ACT) {
            gemv_prefetch((const uint4*) (w1 + (long long) n * k), chunks, lane, curUp);
        }
    }

    const uint4* xRows = (const uint4*) x;
    if (ACT && !valid) {
        return;
    }

    float acc[R];
#pragma unroll
    for (int r = 0; r < R; r++) {
        acc[r] = 0.0f;
    }
    if (valid) {
        gemv_dot<R>((const uint4*) (w + (long long) n * k), xRows, chunks, lane, cur, acc);
    }
    if (ACT) {
        float up[R];
#pragma unroll
        for (int r = 0; r < R; r++) {
            up[r] = 0.0f;
        }
        gemv_dot<R>((const uint4*) (w1 + (long long) n * k), xRows, chunks, lane, curUp, up);
        float g = gemv_reduce<R>(acc, lane);
        float u = gemv_reduce<R>(up, lane);
        if (lane < R) {
            if (b0 != 0) {
                g += bf16_to_float(b0[n]);
            }
            if (b1 != 0) {
                u += bf16_to_float(b1[n]);
            }
            bf16 gb = float_to_bf16(g);
            bf16 ub = float_to_bf16(u);
            long long at = (long long) lane * n0 + n;
            if (o0 != 0) {
                o0[at] = gb;
            }
            if (o1 != 0) {
                o1[at] = ub;
            }
            // As the separate kernel: the activation of the rounded gate times the rounded up.
            actOut[at] = float_to_bf16(gemv_act(act, bf16_to_float(gb)) * bf16_to_float(ub));
        }
        return;
    }
    float v = gemv_reduce<R>(acc, lane);
    if (valid && lane < R) {
        if (bias != 0) {
            v += bf16_to_float(bias[n]);
        }
        bf16 y = float_to_bf16(v);
        long long at = (long long) lane * width + n;
        if (out != 0) {
            out[at] = y;
        }
        if (residual != 0) {
            residual[at] = float_to_bf16(bf16_to_float(residual[at]) + bf16_to_float(y));
        }
    }
}

// Grid: ceil(features / GEMV_WARPS) blocks of GEMV_WARPS warps, where features = n0 + n1 + n2, or n0
// with act. x is [R, k], k % 8 == 0, 16-byte aligned; each W is [n_s, k]; each out is [R, n_s].
// Unused segments have n = 0.
#define GEMV_KERNEL(name, R, ACT)                                                                            \
    extern "C" __global__ void __launch_bounds__(GEMV_WARPS * 32, GEMV_MIN_BLOCKS)                           \
    name(const bf16* __restrict__ x, int k, const bf16* w0, const bf16* b0, bf16* o0, int n0,                \
         const bf16* w1, const bf16* b1, bf16* o1, int n1, const bf16* w2, const bf16* b2, bf16* o2, int n2, \
         bf16* residual, int act, bf16* actOut) {                                                            \
        gemv_body<R, ACT>(x, k, w0, b0, o0, n0, w1, b1, o1, n1, w2, b2, o2, n2, residual, act, actOut);     \
    }

// Plain (and residual) projections; the gate/up kernels (act != 0) hold two weight rows' loads. One
// kernel per row count: a run-time count left a guard on every x load, 1.5x slower at eight rows.
GEMV_KERNEL(gemv_r1, 1, false)
GEMV_KERNEL(gemv_r2, 2, false)
GEMV_KERNEL(gemv_r3, 3, false)
GEMV_KERNEL(gemv_r4, 4, false)
GEMV_KERNEL(gemv_r5, 5, false)
GEMV_KERNEL(gemv_r6, 6, false)
GEMV_KERNEL(gemv_r7, 7, false)
GEMV_KERNEL(gemv_r8, 8, false)
GEMV_KERNEL(gemv_act_r1, 1, true)
GEMV_KERNEL(gemv_act_r2, 2, true)
GEMV_KERNEL(gemv_act_r3, 3, true)
GEMV_KERNEL(gemv_act_r4, 4, true)
GEMV_KERNEL(gemv_act_r5, 5, true)
GEMV_KERNEL(gemv_act_r6, 6, true)
GEMV_KERNEL(gemv_act_r7, 7, true)
GEMV_KERNEL(gemv_act_r8, 8, true)
