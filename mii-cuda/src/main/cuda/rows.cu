// Row movements: gather (e.g. each sequence's last token before the LM head, or the rows routed to
// one expert) and the weighted scatter-add of an expert's output back into the residual stream.
// One block per listed row; the listed destination rows of one scatter are distinct.
#include "common.cuh"

extern "C" __global__ void gather_rows(const bf16* __restrict__ src, const int* __restrict__ rows,
                                       bf16* __restrict__ out, int cols) {
    long long from = (long long) rows[blockIdx.x] * cols;
    long long to = (long long) blockIdx.x * cols;
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        out[to + i] = src[from + i];
    }
}

extern "C" __global__ void scatter_add_rows(const bf16* __restrict__ src, const int* __restrict__ rows,
                                            const float* __restrict__ scales, bf16* __restrict__ dst,
                                            int cols) {
    long long from = (long long) blockIdx.x * cols;
    long long to = (long long) rows[blockIdx.x] * cols;
    float s = scales[blockIdx.x];
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        dst[to + i] = float_to_bf16(bf16_to_float(dst[to + i]) + s * bf16_to_float(src[from + i]));
    }
}
