// GEMV for decode: y = x W^T for at most GEMV_MAX_ROWS rows of x, the weights streamed once. At one
// to eight rows a GEMM is a matrix-vector product bound by reading W; one warp per output feature
// reads its weight row with 16-byte loads, reuses each load for every row of x (x stays in L1), and
// reduces with shuffles. Up to three weights with the same input width run as one launch (q/k/v,
// gate/up): output feature n belongs to the first segment whose cumulative width exceeds it.
#include "common.cuh"

#define GEMV_MAX_ROWS 8
#define GEMV_WARPS 8

struct GemvSegment {
    const bf16* w;
    const bf16* bias;
    bf16* out;
    int n;
};

__device__ __forceinline__ void fma_bf16x8(float& acc, uint4 w, uint4 x) {
    const unsigned int wv[4] = {w.x, w.y, w.z, w.w};
    const unsigned int xv[4] = {x.x, x.y, x.z, x.w};
#pragma unroll
    for (int i = 0; i < 4; i++) {
        acc += __uint_as_float(wv[i] << 16) * __uint_as_float(xv[i] << 16);
        acc += __uint_as_float(wv[i] & 0xffff0000u) * __uint_as_float(xv[i] & 0xffff0000u);
    }
}

// Grid: ceil((n0 + n1 + n2) / GEMV_WARPS) blocks of GEMV_WARPS warps. x is [rows, k], k % 8 == 0;
// each W is [n_s, k]; each out is [rows, n_s]. Unused segments have n = 0.
extern "C" __global__ void __launch_bounds__(GEMV_WARPS * 32)
gemv_rows(const bf16* __restrict__ x, int rows, int k,
          const bf16* w0, const bf16* b0, bf16* o0, int n0, const bf16* w1, const bf16* b1, bf16* o1, int n1,
          const bf16* w2, const bf16* b2, bf16* o2, int n2) {
    GemvSegment s0 = {w0, b0, o0, n0};
    GemvSegment s1 = {w1, b1, o1, n1};
    GemvSegment s2 = {w2, b2, o2, n2};
    int n = blockIdx.x * GEMV_WARPS + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    GemvSegment s = s0;
    if (n >= s0.n) {
        n -= s0.n;
        s = s1;
        if (n >= s1.n) {
            n -= s1.n;
            s = s2;
            if (n >= s2.n) {
                return;
            }
        }
    }
    const uint4* wRow = (const uint4*) (s.w + (long long) n * k);
    const uint4* xRows = (const uint4*) x;
    int chunks = k >> 3;
    float acc[GEMV_MAX_ROWS];
#pragma unroll
    for (int r = 0; r < GEMV_MAX_ROWS; r++) {
        acc[r] = 0.0f;
    }
#pragma unroll 4
    for (int c = lane; c < chunks; c += 32) {
        uint4 w = __ldg(wRow + c);
#pragma unroll
        for (int r = 0; r < GEMV_MAX_ROWS; r++) {
            if (r < rows) {
                fma_bf16x8(acc[r], w, __ldg(xRows + (long long) r * chunks + c));
            }
        }
    }
#pragma unroll
    for (int r = 0; r < GEMV_MAX_ROWS; r++) {
        if (r < rows) {
            float v = warp_sum(acc[r]);
            if (lane == r) {
                acc[0] = v;
            }
        }
    }
    if (lane < rows) {
        float v = acc[0];
        if (s.bias != 0) {
            v += bf16_to_float(s.bias[n]);
        }
        s.out[(long long) lane * s.n + n] = float_to_bf16(v);
    }
}
