// MLP activations, element-wise and computed in FP32: out = act(gate) * up for gated MLPs, and
// out = act(x) for the MLPs without a gate (OPT, GPT-2, Falcon, ...). out may alias gate (or x).
#include "common.cuh"
#include "activations.cuh"

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
GATED(relu_mul, relu)

// out = act(x) with act chosen by `kind` (activations.cuh).
extern "C" __global__ void activation_rows(const bf16* x, bf16* out, int kind, long long n) {
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long long) gridDim.x * blockDim.x) {
        out[i] = float_to_bf16(activate(kind, bf16_to_float(x[i])));
    }
}
