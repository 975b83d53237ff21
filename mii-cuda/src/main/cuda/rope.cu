// Rotary position embedding (rotate-half pairs i, i + half over the first 2*half channels of each
// head; half < headDim/2 is partial rotary), and the same rotation fused with writing the rotated
// keys and the values into the paged KV cache. Rows whose slot is -1 are padding: not stored.
#include "common.cuh"

__device__ __forceinline__ void rotate_pair(bf16* x, long long at, int half, float c, float s) {
    float a = bf16_to_float(x[at]);
    float b = bf16_to_float(x[at + half]);
    x[at] = float_to_bf16(a * c - b * s);
    x[at + half] = float_to_bf16(b * c + a * s);
}

// Grid: rows. The step's rotary tables from the rows' positions: angle = position * invFreq[i] in
// FP32 (as transformers multiplies FP32 frequencies by FP32 positions), cos and sin in full precision,
// times the rope's attention factor. cos and sin are [rows, half].
extern "C" __global__ void rope_tables(const int* __restrict__ positions, const float* __restrict__ invFreq,
                                       float attentionFactor, int half, bf16* __restrict__ cos_t,
                                       bf16* __restrict__ sin_t) {
    int r = blockIdx.x;
    float pos = (float) positions[r];
    for (int i = threadIdx.x; i < half; i += blockDim.x) {
        float angle = __fmul_rn(pos, invFreq[i]);
        float s;
        float c;
        sincosf(angle, &s, &c);
        cos_t[(long long) r * half + i] = float_to_bf16(c * attentionFactor);
        sin_t[(long long) r * half + i] = float_to_bf16(s * attentionFactor);
    }
}

// Grid: rows. x is [rows, heads * headDim]; cos and sin are [rows, half].
extern "C" __global__ void rope_rows(bf16* __restrict__ x, const bf16* __restrict__ cos_t,
                                     const bf16* __restrict__ sin_t, int heads, int headDim, int half) {
    int r = blockIdx.x;
    for (int t = threadIdx.x; t < heads * half; t += blockDim.x) {
        int h = t / half;
        int i = t - h * half;
        float c = bf16_to_float(cos_t[(long long) r * half + i]);
        float s = bf16_to_float(sin_t[(long long) r * half + i]);
        rotate_pair(x, (long long) r * heads * headDim + h * headDim + i, half, c, s);
    }
}

// Grid: rows. Rotates k in place (half = 0: no rotation) and copies k and v ([rows, kvHeads *
// headDim]) into slot slots[r] of the layer's caches, laid out [slot, kvHeads, headDim]. When q is
// not null its qHeads heads ([rows, qHeads * headDim]) are rotated too, saving the queries' launch.
extern "C" __global__ void rope_store_kv(bf16* __restrict__ k, const bf16* __restrict__ v,
                                         const bf16* __restrict__ cos_t, const bf16* __restrict__ sin_t,
                                         const int* __restrict__ slots, bf16* __restrict__ kCache,
                                         bf16* __restrict__ vCache, int kvHeads, int headDim, int half,
                                         bf16* __restrict__ q, int qHeads) {
    int r = blockIdx.x;
    int width = kvHeads * headDim;
    long long row = (long long) r * width;
    if (half > 0) {
        for (int t = threadIdx.x; t < kvHeads * half; t += blockDim.x) {
            int h = t / half;
            int i = t - h * half;
            float c = bf16_to_float(cos_t[(long long) r * half + i]);
            float s = bf16_to_float(sin_t[(long long) r * half + i]);
            rotate_pair(k, row + h * headDim + i, half, c, s);
        }
        if (q != 0) {
            long long qRow = (long long) r * qHeads * headDim;
            for (int t = threadIdx.x; t < qHeads * half; t += blockDim.x) {
                int h = t / half;
                int i = t - h * half;
                float c = bf16_to_float(cos_t[(long long) r * half + i]);
                float s = bf16_to_float(sin_t[(long long) r * half + i]);
                rotate_pair(q, qRow + h * headDim + i, half, c, s);
            }
        }
        __syncthreads();
    }
    int slot = slots[r];
    if (slot < 0) {
        return;
    }
    long long dst = (long long) slot * width;
    for (int i = threadIdx.x; i < width; i += blockDim.x) {
        kCache[dst + i] = k[row + i];
        vCache[dst + i] = v[row + i];
    }
}
