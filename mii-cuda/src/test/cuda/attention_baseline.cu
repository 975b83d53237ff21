// The attention kernels mii-cuda ran before the tiled prefill and GQA decode kernels (one query head
// per CTA, one key per warp per step, 2-byte loads), kept only as the baseline that
// attention_bench.cu times the current kernels against. Nothing in the backend uses them.
//
// Original description:
// Causal attention over the paged KV cache for a ragged batch: prefill chunks and decode rows alike.
// Row r of the batch (sequence rowSeq[r], position positions[r]) attends to its sequence's keys at
// positions [first, positions[r]], first = positions[r] - window + 1 with a sliding window, else 0.
//
// Flash-decoding: a row's keys are split into chunks of BASELINE_SPLIT_KEYS, one CTA per (row, query head,
// chunk), so that even one decode row with few KV heads fills the GPU. BASELINE_WARPS warps share a chunk,
// each keeping an online softmax (running max, sum and weighted values in FP32); the CTA writes its
// chunk's partial (max, sum, values) and baseline_attention_merge combines the chunks of each (row, head).
// The number of chunks is a launch dimension, fixed for a captured graph: chunks past a row's last
// key write an empty partial. Lane l holds dimensions l, l + 32, ... of the head, so head sizes up to
// 32 * BASELINE_MAX_DIMS_PER_LANE work.
#include "../../main/cuda/common.cuh"

#define BASELINE_WARPS 4
#define BASELINE_MAX_DIMS_PER_LANE 8
#define BASELINE_SPLIT_KEYS 32

// Grid: (rows, query heads, chunks). partial is [rows, heads, chunks, headDim + 2]: values, max, sum.
extern "C" __global__ void __launch_bounds__(BASELINE_WARPS * 32)
baseline_paged_attention_split(const bf16* __restrict__ q, float* __restrict__ partial, const bf16* __restrict__ kCache,
                      const bf16* __restrict__ vCache, const int* __restrict__ positions,
                      const int* __restrict__ rowSeq, const int* __restrict__ blockTables, int maxBlocks,
                      int blockSize, int numHeads, int kvHeads, int headDim, int window, float scale) {
    __shared__ float partMax[BASELINE_WARPS];
    __shared__ float partSum[BASELINE_WARPS];
    __shared__ float partAcc[BASELINE_WARPS][32 * BASELINE_MAX_DIMS_PER_LANE];

    int r = blockIdx.x;
    int h = blockIdx.y;
    int kvh = h / (numHeads / kvHeads);
    int warp = threadIdx.x >> 5;
    int lane = threadIdx.x & 31;
    int pos = positions[r];
    int first = window > 0 ? max(0, pos - window + 1) : 0;
    int chunk = blockIdx.z;
    int chunks = gridDim.z;
    float* part = partial + (((long long) r * numHeads + h) * chunks + chunk) * (headDim + 2);
    int from = first + chunk * BASELINE_SPLIT_KEYS;
    int to = min(pos, from + BASELINE_SPLIT_KEYS - 1);
    if (from > pos) {
        if (threadIdx.x == 0) {
            part[headDim] = -INFINITY;
            part[headDim + 1] = 0.0f;
        }
        return;
    }
    const int* table = blockTables + (long long) rowSeq[r] * maxBlocks;

    const bf16* qRow = q + ((long long) r * numHeads + h) * headDim;
    float qv[BASELINE_MAX_DIMS_PER_LANE];
    float acc[BASELINE_MAX_DIMS_PER_LANE];
#pragma unroll
    for (int i = 0; i < BASELINE_MAX_DIMS_PER_LANE; i++) {
        int d = lane + 32 * i;
        qv[i] = d < headDim ? bf16_to_float(qRow[d]) * scale : 0.0f;
        acc[i] = 0.0f;
    }
    float runMax = -INFINITY;
    float runSum = 0.0f;
    for (int j = from + warp; j <= to; j += BASELINE_WARPS) {
        long long slot = (long long) table[j / blockSize] * blockSize + j % blockSize;
        long long at = (slot * kvHeads + kvh) * headDim;
        float s = 0.0f;
#pragma unroll
        for (int i = 0; i < BASELINE_MAX_DIMS_PER_LANE; i++) {
            int d = lane + 32 * i;
            if (d < headDim) {
                s += qv[i] * bf16_to_float(kCache[at + d]);
            }
        }
        s = warp_sum(s);
        float newMax = fmaxf(runMax, s);
        float correction = __expf(runMax - newMax);
        float p = __expf(s - newMax);
        runSum = runSum * correction + p;
#pragma unroll
        for (int i = 0; i < BASELINE_MAX_DIMS_PER_LANE; i++) {
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
    for (int i = 0; i < BASELINE_MAX_DIMS_PER_LANE; i++) {
        int d = lane + 32 * i;
        if (d < headDim) {
            partAcc[warp][d] = acc[i];
        }
    }
    __syncthreads();
    float m = partMax[0];
    for (int w = 1; w < BASELINE_WARPS; w++) {
        m = fmaxf(m, partMax[w]);
    }
    float total = 0.0f;
    float weights[BASELINE_WARPS];
    for (int w = 0; w < BASELINE_WARPS; w++) {
        // A warp that saw no key has max -inf: its weight is exactly 0.
        weights[w] = partMax[w] == -INFINITY ? 0.0f : __expf(partMax[w] - m);
        total += partSum[w] * weights[w];
    }
    for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
        float o = 0.0f;
        for (int w = 0; w < BASELINE_WARPS; w++) {
            o += partAcc[w][d] * weights[w];
        }
        part[d] = o;
    }
    if (threadIdx.x == 0) {
        part[headDim] = m;
        part[headDim + 1] = total;
    }
}

// Grid: (rows, query heads); block: headDim threads (at most 1024). Combines the chunks' partials.
extern "C" __global__ void baseline_attention_merge(const float* __restrict__ partial, bf16* __restrict__ out, int numHeads,
                                           int headDim, int chunks) {
    int r = blockIdx.x;
    int h = blockIdx.y;
    const float* part = partial + ((long long) r * numHeads + h) * chunks * (headDim + 2);
    float m = -INFINITY;
    for (int c = 0; c < chunks; c++) {
        m = fmaxf(m, part[c * (headDim + 2) + headDim]);
    }
    float total = 0.0f;
    float o = 0.0f;
    int d = threadIdx.x;
    for (int c = 0; c < chunks; c++) {
        const float* p = part + c * (headDim + 2);
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
