// Learned absolute position embeddings (OPT, GPT-2): out[r] = table[positions[r] + offset], from the
// step's positions already on the device, so a captured decode graph reads each step's own. One
// block per row.
#include "common.cuh"

extern "C" __global__ void embed_positions(const bf16* __restrict__ table, const int* __restrict__ positions,
                                           int offset, bf16* __restrict__ out, int dim) {
    int r = blockIdx.x;
    long long src = (long long) (positions[r] + offset) * dim;
    long long dst = (long long) r * dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) {
        out[dst + i] = table[src + i];
    }
}
