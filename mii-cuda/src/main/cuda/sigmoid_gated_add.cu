// A shared expert behind a sigmoid gate (Qwen1.5-MoE): x[r] += sigmoid(gate[r]) * y[r], in FP32 and
// rounded once. gate is [rows, 1]. One block per row.
#include "common.cuh"

extern "C" __global__ void sigmoid_gated_add(bf16* __restrict__ x, const bf16* __restrict__ y,
                                             const bf16* __restrict__ gate, int cols) {
    long long base = (long long) blockIdx.x * cols;
    float s = 1.0f / (1.0f + expf(-bf16_to_float(gate[blockIdx.x])));
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        x[base + i] = float_to_bf16(bf16_to_float(x[base + i]) + s * bf16_to_float(y[base + i]));
    }
}
