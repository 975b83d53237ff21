// RMSNorm with FP32 statistics, optionally fused with the residual add that precedes it in a
// pre-norm block: residual += delta; out = residual / rms(residual) * weight. One block per row.
#include "common.cuh"

extern "C" __global__ void rms_norm(const bf16* __restrict__ x, const bf16* __restrict__ weight,
                                    bf16* out, int cols, float eps) {
    __shared__ float scratch[32];
    long long base = (long long) blockIdx.x * cols;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        float v = bf16_to_float(x[base + i]);
        ss += v * v;
    }
    float inv = rsqrtf(block_sum(ss, scratch) / cols + eps);
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        out[base + i] = float_to_bf16(bf16_to_float(x[base + i]) * inv * bf16_to_float(weight[i]));
    }
}

// `out` may not alias `residual`; the sum is rounded to BF16 before its statistics are taken, as
// an unfused BF16 add followed by the norm would do.
extern "C" __global__ void add_rms_norm(bf16* __restrict__ residual, const bf16* __restrict__ delta,
                                        const bf16* __restrict__ weight, bf16* __restrict__ out, int cols,
                                        float eps) {
    __shared__ float scratch[32];
    long long base = (long long) blockIdx.x * cols;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        bf16 s = float_to_bf16(bf16_to_float(residual[base + i]) + bf16_to_float(delta[base + i]));
        residual[base + i] = s;
        float v = bf16_to_float(s);
        ss += v * v;
    }
    float inv = rsqrtf(block_sum(ss, scratch) / cols + eps);
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        out[base + i] = float_to_bf16(bf16_to_float(residual[base + i]) * inv * bf16_to_float(weight[i]));
    }
}
