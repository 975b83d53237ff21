// MLP activations, element-wise and computed in FP32: out = act(gate) * up for gated MLPs, and
// out = act(x) for the MLPs without a gate (OPT, GPT-2, Falcon, ...). out may alias gate (or x).
#include "common.cuh"
#include "activations.cuh"

// Eight elements per thread and iteration through 16-byte accesses where n % 8 == 0 and the
// pointers are 16-byte aligned (every activation the engine allocates), one at a time otherwise.
#define GATED(name, act)                                                                               \
    extern "C" __global__ void name(const bf16* gate, const bf16* __restrict__ up, bf16* out,          \
                                    long long n) {                                                     \
        long long stride = (long long) gridDim.x * blockDim.x;                                         \
        long long first = (long long) blockIdx.x * blockDim.x + threadIdx.x;                           \
        if ((n & 7) == 0 && ((((unsigned long long) gate) | ((unsigned long long) up)                  \
                              | ((unsigned long long) out)) & 15) == 0) {                              \
            for (long long i = first; i < (n >> 3); i += stride) {                                     \
                uint4 g = ((const uint4*) gate)[i];                                                    \
                uint4 u = ((const uint4*) up)[i];                                                      \
                unsigned int gv[4] = {g.x, g.y, g.z, g.w};                                             \
                unsigned int uv[4] = {u.x, u.y, u.z, u.w};                                             \
                unsigned int ov[4];                                                                    \
                for (int j = 0; j < 4; j++) {                                                          \
                    float lo = act(__uint_as_float(gv[j] << 16)) * __uint_as_float(uv[j] << 16);       \
                    float hi = act(__uint_as_float(gv[j] & 0xffff0000u))                               \
                               * __uint_as_float(uv[j] & 0xffff0000u);                                 \
                    ov[j] = (unsigned int) float_to_bf16(lo) | ((unsigned int) float_to_bf16(hi) << 16); \
                }                                                                                      \
                ((uint4*) out)[i] = make_uint4(ov[0], ov[1], ov[2], ov[3]);                            \
            }                                                                                          \
            return;                                                                                    \
        }                                                                                              \
        for (long long i = first; i < n; i += stride) {                                                \
            out[i] = float_to_bf16(act(bf16_to_float(gate[i])) * bf16_to_float(up[i]));                \
        }                                                                                              \
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
