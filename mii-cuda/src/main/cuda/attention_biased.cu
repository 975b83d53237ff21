// Causal attention over the paged KV cache with a bias on the scores, for prefill chunks and decode
// rows alike: soft-capping (Gemma 2: s = cap * tanh(s / cap)) and ALiBi (BLOOM, Falcon-RW:
// s += slope[h] * key position; softmax is shift-invariant, so the key's absolute position serves
// for its distance to the query). Scores are s = scale * q.k, capped, then biased, as transformers
// orders them.
//
// The same flash-decoding split as attention.cu: one CTA per (row, query head, chunk of
// BIASED_SPLIT_KEYS keys), each warp an online softmax in FP32 over every BIASED_WARPS-th key of the
// chunk, the CTA's partial (values, max, sum) written for attention_biased_merge. The number of
// chunks is a launch dimension (frozen in a captured graph): chunks past a row's last key write an
// empty partial. Lane l holds dimensions l, l + 32, ... so head sizes up to 32 * BIASED_DIMS_PER_LANE.
#include "common.cuh"

#define BIASED_WARPS 4
#define BIASED_DIMS_PER_LANE 8
#define BIASED_SPLIT_KEYS 32

// Grid: (rows, query heads, chunks). partial is [rows, heads, chunks, headDim + 2]: values, max, sum.
// slopes (one per query head) may be null; softCap <= 0 means no capping.
extern "C" __global__ void __launch_bounds__(BIASED_WARPS * 32)
paged_attention_biased(const bf16* __restrict__ q, float* __restrict__ partial, const bf16* __restrict__ kCache,
                       const bf16* __restrict__ vCache, const int* __restrict__ positions,
                       const int* __restrict__ rowSeq, const int* __restrict__ blockTables, int maxBlocks,
                       int blockSize, int numHeads, int kvHeads, int headDim, int window, float scale,
                       const float* __restrict__ slopes, float softCap) {
    __shared__ float partMax[BIASED_WARPS];
    __shared__ float partSum[BIASED_WARPS];
    __shared__ float partAcc[BIASED_WARPS][32 * BIASED_DIMS_PER_LANE];
    int r = blockIdx.x;
    int h = blockIdx.y;
    int chunk = blockIdx.z;
    int chunks = gridDim.z;
    int kvh = h / (numHeads / kvHeads);
    int warp = threadIdx.x >> 5;
    int lane = threadIdx.x & 31;
    int pos = positions[r];
    int first = window > 0 ? max(0, pos - window + 1) : 0;
    float* part = partial + (((long long) r * numHeads + h) * chunks + chunk) * (headDim + 2);
    int from = first + chunk * BIASED_SPLIT_KEYS;
    int to = min(pos, from + BIASED_SPLIT_KEYS - 1);
    if (from > pos) {
        if (threadIdx.x == 0) {
            part[headDim] = -INFINITY;
            part[headDim + 1] = 0.0f;
        }
        return;
    }
    const int* table = blockTables + (long long) rowSeq[r] * maxBlocks;
    const bf16* qRow = q + ((long long) r * numHeads + h) * headDim;
    float slope = slopes != 0 ? slopes[h] : 0.0f;
    float qv[BIASED_DIMS_PER_LANE];
    float acc[BIASED_DIMS_PER_LANE];
#pragma unroll
    for (int i = 0; i < BIASED_DIMS_PER_LANE; i++) {
        int d = lane + 32 * i;
        qv[i] = d < headDim ? bf16_to_float(qRow[d]) : 0.0f;
        acc[i] = 0.0f;
    }
    float runMax = -INFINITY;
    float runSum = 0.0f;
    for (int j = from + warp; j <= to; j += BIASED_WARPS) {
        long long slot = (long long) table[j / blockSize] * blockSize + j % blockSize;
        long long at = (slot * kvHeads + kvh) * headDim;
        float dot = 0.0f;
#pragma unroll
        for (int i = 0; i < BIASED_DIMS_PER_LANE; i++) {
            int d = lane + 32 * i;
            if (d < headDim) {
                dot += qv[i] * bf16_to_float(kCache[at + d]);
            }
        }
        float s = warp_sum(dot) * scale;
        if (softCap > 0.0f) {
            s = softCap * tanhf(s / softCap);
        }
        s += slope * (float) j;
        float newMax = fmaxf(runMax, s);
        float correction = __expf(runMax - newMax);
        float p = __expf(s - newMax);
        runSum = runSum * correction + p;
#pragma unroll
        for (int i = 0; i < BIASED_DIMS_PER_LANE; i++) {
            int d = lane + 32 * i;
            if (d < headDim) {
                acc[i] = acc[i] * correction + p * bf16_to_float(vCache[at + d]);
            }
        }
        runMax = newMax;
    }
    if (lane == 0) {
        partMax[warp] = runMax;
        partSum[warp] = runSum;
    }
#pragma unroll
    for (int i = 0; i < BIASED_DIMS_PER_LANE; i++) {
        int d = lane + 32 * i;
        if (d < headDim) {
            partAcc[warp][d] = acc[i];
        }
    }
    __syncthreads();
    float m = partMax[0];
    for (int w = 1; w < BIASED_WARPS; w++) {
        m = fmaxf(m, partMax[w]);
    }
    float weights[BIASED_WARPS];
    float total = 0.0f;
    for (int w = 0; w < BIASED_WARPS; w++) {
        // A warp that saw no key has max -inf: its weight is exactly 0.
        weights[w] = partMax[w] == -INFINITY ? 0.0f : __expf(partMax[w] - m);
        total += partSum[w] * weights[w];
    }
    for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
        float o = 0.0f;
        for (int w = 0; w < BIASED_WARPS; w++) {
            o += partAcc[w][d] * weights[w];
        }
        part[d] = o;
    }
    if (threadIdx.x == 0) {
        part[headDim] = m;
        part[headDim + 1] = total;
    }
}

// Grid: (rows, query heads); block: at least headDim threads (at most 1024). Combines the chunks'
// partials of each (row, head) into its output.
extern "C" __global__ void attention_biased_merge(const float* __restrict__ partial, bf16* __restrict__ out,
                                                  int numHeads, int headDim, int chunks) {
    int r = blockIdx.x;
    int h = blockIdx.y;
    const float* part = partial + ((long long) r * numHeads + h) * chunks * (headDim + 2);
    float m = -INFINITY;
    for (int c = 0; c < chunks; c++) {
        m = fmaxf(m, part[(long long) c * (headDim + 2) + headDim]);
    }
    float total = 0.0f;
    float o = 0.0f;
    int d = threadIdx.x;
    for (int c = 0; c < chunks; c++) {
        const float* p = part + (long long) c * (headDim + 2);
        float cm = p[headDim];
        if (cm == -INFINITY) {
            continue;
        }
        float w = __expf(cm - m);
        total += p[headDim + 1] * w;
        if (d < headDim) {
            o += p[d] * w;
        }
    }
    if (d < headDim) {
        out[((long long) r * numHeads + h) * headDim + d] = float_to_bf16(o / total);
    }
}
