// Causal attention over the paged KV cache for a ragged batch: prefill chunks and decode rows alike.
// Row r of the batch (sequence rowSeq[r], position positions[r]) attends to its sequence's keys at
// positions [first, positions[r]], first = positions[r] - window + 1 with a sliding window, else 0.
// Grid: (rows, query heads); WARPS warps split the keys, each keeps an online softmax (running max,
// sum and weighted values in FP32), and the warps' partial results are merged at the end. Lane l
// holds dimensions l, l + 32, ... of the head, so head sizes up to 32 * MAX_DIMS_PER_LANE work.
#include "common.cuh"

#define WARPS 4
#define MAX_DIMS_PER_LANE 8

extern "C" __global__ void __launch_bounds__(WARPS * 32)
paged_attention(const bf16* __restrict__ q, bf16* __restrict__ out, const bf16* __restrict__ kCache,
                const bf16* __restrict__ vCache, const int* __restrict__ positions,
                const int* __restrict__ rowSeq, const int* __restrict__ blockTables, int maxBlocks,
                int blockSize, int numHeads, int kvHeads, int headDim, int window, float scale) {
    __shared__ float partMax[WARPS];
    __shared__ float partSum[WARPS];
    __shared__ float partAcc[WARPS][32 * MAX_DIMS_PER_LANE];

    int r = blockIdx.x;
    int h = blockIdx.y;
    int kvh = h / (numHeads / kvHeads);
    int warp = threadIdx.x >> 5;
    int lane = threadIdx.x & 31;
    int pos = positions[r];
    int first = window > 0 ? max(0, pos - window + 1) : 0;
    const int* table = blockTables + (long long) rowSeq[r] * maxBlocks;

    const bf16* qRow = q + ((long long) r * numHeads + h) * headDim;
    float qv[MAX_DIMS_PER_LANE];
    float acc[MAX_DIMS_PER_LANE];
#pragma unroll
    for (int i = 0; i < MAX_DIMS_PER_LANE; i++) {
        int d = lane + 32 * i;
        qv[i] = d < headDim ? bf16_to_float(qRow[d]) * scale : 0.0f;
        acc[i] = 0.0f;
    }
    float runMax = -INFINITY;
    float runSum = 0.0f;
    for (int j = first + warp; j <= pos; j += WARPS) {
        long long slot = (long long) table[j / blockSize] * blockSize + j % blockSize;
        long long at = (slot * kvHeads + kvh) * headDim;
        float s = 0.0f;
#pragma unroll
        for (int i = 0; i < MAX_DIMS_PER_LANE; i++) {
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
        for (int i = 0; i < MAX_DIMS_PER_LANE; i++) {
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
    for (int i = 0; i < MAX_DIMS_PER_LANE; i++) {
        int d = lane + 32 * i;
        if (d < headDim) {
            partAcc[warp][d] = acc[i];
        }
    }
    __syncthreads();
    float m = partMax[0];
    for (int w = 1; w < WARPS; w++) {
        m = fmaxf(m, partMax[w]);
    }
    float total = 0.0f;
    float weights[WARPS];
    for (int w = 0; w < WARPS; w++) {
        // A warp that saw no key has max -inf: its weight is exactly 0.
        weights[w] = partMax[w] == -INFINITY ? 0.0f : __expf(partMax[w] - m);
        total += partSum[w] * weights[w];
    }
    bf16* outRow = out + ((long long) r * numHeads + h) * headDim;
    for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
        float o = 0.0f;
        for (int w = 0; w < WARPS; w++) {
            o += partAcc[w][d] * weights[w];
        }
        outRow[d] = float_to_bf16(o / total);
    }
}
