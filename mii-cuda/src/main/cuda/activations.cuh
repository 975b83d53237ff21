// The MLP activations, in FP32, shared by the element-wise kernels and the expert kernels. `kind`
// numbers them as CudaBackend does: 0 SiLU, 1 GELU (tanh approximation), 2 GELU (erf), 3 ReLU.
#pragma once

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

__device__ __forceinline__ float relu(float x) {
    return x > 0.0f ? x : 0.0f;
}

__device__ __forceinline__ float activate(int kind, float x) {
    switch (kind) {
        case 0: return silu(x);
        case 1: return gelu_tanh(x);
        case 2: return gelu_erf(x);
        default: return relu(x);
    }
}
