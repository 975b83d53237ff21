// Logit soft-capping in place (Gemma 2's final logits): x = cap * tanh(x / cap), in FP32.
#include "common.cuh"

extern "C" __global__ void soft_cap(bf16* x, float cap, long long n) {
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long long) gridDim.x * blockDim.x) {
        x[i] = float_to_bf16(cap * tanhf(bf16_to_float(x[i]) / cap));
    }
}
