// Element-wise additions: x += y over whole tensors, and a bias row added to every row.
#include "common.cuh"

extern "C" __global__ void add_inplace(bf16* x, const bf16* __restrict__ y, long long n) {
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long long) gridDim.x * blockDim.x) {
        x[i] = float_to_bf16(bf16_to_float(x[i]) + bf16_to_float(y[i]));
    }
}

extern "C" __global__ void add_bias(bf16* x, const bf16* __restrict__ bias, int cols, long long n) {
    for (long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += (long long) gridDim.x * blockDim.x) {
        x[i] = float_to_bf16(bf16_to_float(x[i]) + bf16_to_float(bias[i % cols]));
    }
}
