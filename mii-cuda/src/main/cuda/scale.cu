// Scaling in place (Gemma's embeddings times sqrt(hidden)): x *= s, in FP32.
#include "common.cuh"

extern "C" __global__ void scale_inplace(bf16* x, float s, long long n) {
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long long) gridDim.x * blockDim.x) {
        x[i] = float_to_bf16(bf16_to_float(x[i]) * s);
    }
}
