// Gated MLP activations: out = act(gate) * up, element-wise, computed in FP32. out may alias gate.
#include "common.cuh"

__device__ __forceinline__ float silu(float x) {
    return x / (1.0f + __expf(-x));
}

__device__ __forceinline__ float gelu_tanh(float x) {
    const float k = 0.7978845608028654f; // sqrt(2 / pi)
    return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

__device__ __forceinline__ float gelu_erf(float x) {
    return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f));
}

#define GATED(name, act)                                                                          \
    extern "C" __global__ void name(const bf16* gate, const bf16* __restrict__ up, bf16* out,     \
                                    long long n) {                                                \
        for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n;              \
             i += (long long) gridDim.x * blockDim.x) {                                           \
            out[i] = float_to_bf16(act(bf16_to_float(gate[i])) * bf16_to_float(up[i]));            \
        }                                                                                         \
    }

GATED(silu_mul, silu)
GATED(gelu_tanh_mul, gelu_tanh)
GATED(gelu_mul, gelu_erf)
