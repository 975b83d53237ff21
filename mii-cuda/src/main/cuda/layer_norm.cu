// LayerNorm with FP32 statistics: out = (x - mean) / sqrt(var + eps) * weight (+ bias), the biased
// variance as PyTorch computes it, two passes over the row (mean, then the squared deviations) so an
// offset row loses no digits. Optionally fused with the residual add before it, as in pre-LN
// blocks: residual += delta (rounded to BF16, as an unfused add would), then out = norm(residual).
// One block per row. out may alias x (or residual): every thread reads an element before it writes
// it, and no other thread touches it.
#include "common.cuh"

__device__ __forceinline__ void layer_norm_row(const bf16* x, const bf16* __restrict__ weight,
                                               const bf16* __restrict__ bias, bf16* out, int cols, float eps,
                                               float* scratch) {
    float sum = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        sum += bf16_to_float(x[i]);
    }
    float mean = block_sum(sum, scratch) / cols;
    float ss = 0.0f;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        float d = bf16_to_float(x[i]) - mean;
        ss += d * d;
    }
    float inv = rsqrtf(block_sum(ss, scratch) / cols + eps);
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        float v = (bf16_to_float(x[i]) - mean) * inv * bf16_to_float(weight[i]);
        if (bias != 0) {
            v += bf16_to_float(bias[i]);
        }
        out[i] = float_to_bf16(v);
    }
}

// Grid: rows. bias may be null.
extern "C" __global__ void layer_norm(const bf16* x, const bf16* __restrict__ weight, const bf16* __restrict__ bias,
                                      bf16* out, int cols, float eps) {
    __shared__ float scratch[32];
    long long base = (long long) blockIdx.x * cols;
    layer_norm_row(x + base, weight, bias, out + base, cols, eps, scratch);
}

// Grid: rows. residual += delta, then out = norm(residual); bias may be null.
extern "C" __global__ void add_layer_norm(bf16* residual, const bf16* delta, const bf16* __restrict__ weight,
                                          const bf16* __restrict__ bias, bf16* out, int cols, float eps) {
    __shared__ float scratch[32];
    long long base = (long long) blockIdx.x * cols;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        residual[base + i] = float_to_bf16(bf16_to_float(residual[base + i]) + bf16_to_float(delta[base + i]));
    }
    layer_norm_row(residual + base, weight, bias, out + base, cols, eps, scratch);
}
