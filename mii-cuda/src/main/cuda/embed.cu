// Embedding gather: out[r] = table[tokens[r]]. One block per row.
#include "common.cuh"

extern "C" __global__ void embed_rows(const bf16* __restrict__ table, const int* __restrict__ tokens,
                                      bf16* __restrict__ out, int dim) {
    int r = blockIdx.x;
    long long src = (long long) tokens[r] * dim;
    long long dst = (long long) r * dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        out[dst + i] = table[src + i];
    }
}
