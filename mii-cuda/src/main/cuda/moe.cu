// Mixture of experts with the routing on the device. A row's slot j (slot s = row * topK + j) is its
// j-th most probable expert. Steps, all reading their sizes from device memory so that a decode step
// can be captured in a graph:
//   moe_route    router logits -> each slot's expert id and weight (softmax, top-k, renormalised or not);
//   moe_sort     slots grouped by expert, stably: each expert's rows start at an `align`-row boundary of
//                a padded layout (so a per-expert GEMM gets 256-byte aligned operands); meta holds each
//                expert's first row (offsets[experts + 1], the last the padded total) then its count;
//   moe_gate_up  h[p] = act(gate_e . x) * (up_e . x) for the slot at padded row p (decode: a GEMV per
//                expert over its rows, weights streamed once per group of MOE_GROUP rows);
//   moe_down     y[p] = down_e . h[p];
//   moe_combine  residual[r] += sum_j weight[s] * y[position[s]], in FP32, rounded once.
// Large steps replace moe_gate_up and moe_down with moe_scatter_rows and per-expert GEMMs (CudaMoe).
#include "common.cuh"
#include "activations.cuh"

#define MOE_MAX_TOPK 16
#define MOE_MAX_EXPERTS 1024
#define MOE_ROUTE_WARPS 4
#define MOE_SORT_THREADS 1024
#define MOE_WARPS 8
#define MOE_GROUP 8

__device__ __forceinline__ float moe_logit(const bf16* l, int e) {
    float v = bf16_to_float(l[e]);
    return v != v ? -INFINITY : v; // NaN never wins
}

__device__ __forceinline__ float moe_warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) {
        v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    }
    return v;
}

// Grid: ceil(rows / MOE_ROUTE_WARPS) blocks of MOE_ROUTE_WARPS warps, a warp per row. logits is
// [rows, experts]; ids and weights are [rows * topK], each row's experts by decreasing probability,
// ties to the lower expert id (the host's MoeRouting order).
extern "C" __global__ void __launch_bounds__(MOE_ROUTE_WARPS * 32)
moe_route(const bf16* __restrict__ logits, int rows, int experts, int topK, int normalize, int* __restrict__ ids,
          float* __restrict__ weights) {
    int lane = threadIdx.x & 31;
    int r = blockIdx.x * MOE_ROUTE_WARPS + (threadIdx.x >> 5);
    if (r >= rows) {
        return;
    }
    const bf16* l = logits + (long long) r * experts;
    float m = -INFINITY;
    for (int e = lane; e < experts; e += 32) {
        m = fmaxf(m, moe_logit(l, e));
    }
    m = moe_warp_max(m);
    float sum = 0.0f;
    for (int e = lane; e < experts; e += 32) {
        sum += expf(moe_logit(l, e) - m);
    }
    sum = warp_sum(sum);
    const int none = 0x7fffffff;
    int chosen[MOE_MAX_TOPK];
    float prob[MOE_MAX_TOPK];
    float topSum = 0.0f;
    for (int t = 0; t < topK; t++) {
        float bv = -INFINITY;
        int bi = none;
        for (int e = lane; e < experts; e += 32) {
            bool taken = false;
            for (int u = 0; u < t; u++) {
                taken |= chosen[u] == e;
            }
            float v = moe_logit(l, e);
            if (!taken && (bi == none || v > bv)) {
                bv = v; // lanes walk their experts upwards: the first of equal values is the lowest id
                bi = e;
            }
        }
        for (int o = 16; o > 0; o >>= 1) {
            float ov = __shfl_xor_sync(0xffffffffu, bv, o);
            int oi = __shfl_xor_sync(0xffffffffu, bi, o);
            if (oi != none && (bi == none || ov > bv || (ov == bv && oi < bi))) {
                bv = ov;
                bi = oi;
            }
        }
        chosen[t] = bi;
        prob[t] = expf(bv - m) / sum;
        topSum += prob[t];
    }
    if (lane == 0) {
        for (int t = 0; t < topK; t++) {
            ids[r * topK + t] = chosen[t];
            weights[r * topK + t] = normalize ? prob[t] / topSum : prob[t];
        }
    }
}

// Grid: one block of MOE_SORT_THREADS. Groups the slots' ids by expert (experts <= MOE_MAX_EXPERTS):
// meta = offsets[experts + 1] (padded), counts[experts]; sorted[p] is the slot at padded row p (rows
// between an expert's last slot and the next expert's offset are left alone); position[s] is slot s's
// padded row. Slots keep their order within an expert.
extern "C" __global__ void __launch_bounds__(MOE_SORT_THREADS)
moe_sort(const int* __restrict__ ids, int slots, int experts, int align, int* __restrict__ meta,
         int* __restrict__ sorted, int* __restrict__ position) {
    __shared__ int count[MOE_MAX_EXPERTS];
    __shared__ int cursor[MOE_MAX_EXPERTS + 1];
    __shared__ int tile[MOE_SORT_THREADS];
    int tid = threadIdx.x;
    for (int e = tid; e < experts; e += blockDim.x) {
        count[e] = 0;
    }
    __syncthreads();
    for (int s = tid; s < slots; s += blockDim.x) {
        atomicAdd(&count[ids[s]], 1);
    }
    __syncthreads();
    if (tid == 0) {
        int at = 0;
        for (int e = 0; e < experts; e++) {
            cursor[e] = at;
            at += (count[e] + align - 1) / align * align;
        }
        cursor[experts] = at;
    }
    __syncthreads();
    for (int e = tid; e <= experts; e += blockDim.x) {
        meta[e] = cursor[e];
    }
    for (int e = tid; e < experts; e += blockDim.x) {
        meta[experts + 1 + e] = count[e];
    }
    // Each expert's owner thread walks the slots in order, a tile at a time.
    for (int base = 0; base < slots; base += blockDim.x) {
        int n = min((int) blockDim.x, slots - base);
        __syncthreads();
        if (tid < n) {
            tile[tid] = ids[base + tid];
        }
        __syncthreads();
        for (int e = tid; e < experts; e += blockDim.x) {
            int at = cursor[e];
            for (int i = 0; i < n; i++) {
                if (tile[i] == e) {
                    sorted[at] = base + i;
                    position[base + i] = at;
                    at++;
                }
            }
            cursor[e] = at;
        }
    }
}

__device__ __forceinline__ float moe_dot8(uint4 w, uint4 x) {
    const unsigned int wv[4] = {w.x, w.y, w.z, w.w};
    const unsigned int xv[4] = {x.x, x.y, x.z, x.w};
    float acc = 0.0f;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        acc += __uint_as_float(wv[i] << 16) * __uint_as_float(xv[i] << 16);
        acc += __uint_as_float(wv[i] & 0xffff0000u) * __uint_as_float(xv[i] & 0xffff0000u);
    }
    return acc;
}

__device__ __forceinline__ float round_bf16(float v) {
    return bf16_to_float(float_to_bf16(v));
}

// Grid: (ceil(width / MOE_WARPS), experts) blocks of MOE_WARPS warps: warp w of block (b, e) computes
// feature n = b * MOE_WARPS + w of expert e for each of the expert's slots. x is [rows, hidden] (slot
// s reads row s / topK); gates[e] and ups[e] are [width, hidden]; h is [padded rows, width]. hidden is
// a multiple of 8 and every row 16-byte aligned. Gate and up are rounded to BF16 before the
// activation, as the dense path's separate kernels do.
extern "C" __global__ void __launch_bounds__(MOE_WARPS * 32)
moe_gate_up(const bf16* __restrict__ x, int hidden, const bf16* const* __restrict__ gates,
            const bf16* const* __restrict__ ups, int width, const int* __restrict__ meta, int experts,
            const int* __restrict__ sorted, int topK, int act, bf16* __restrict__ h) {
    int e = blockIdx.y;
    int n = blockIdx.x * MOE_WARPS + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    int begin = meta[e];
    int count = meta[experts + 1 + e];
    if (count == 0 || n >= width) {
        return;
    }
    const uint4* g = (const uint4*) (gates[e] + (long long) n * hidden);
    const uint4* u = (const uint4*) (ups[e] + (long long) n * hidden);
    int chunks = hidden >> 3;
    for (int base = 0; base < count; base += MOE_GROUP) {
        int group = min(MOE_GROUP, count - base);
        const uint4* xr[MOE_GROUP];
        float ag[MOE_GROUP];
        float au[MOE_GROUP];
#pragma unroll
        for (int i = 0; i < MOE_GROUP; i++) {
            int s = sorted[begin + base + (i < group ? i : 0)];
            xr[i] = (const uint4*) (x + (long long) (s / topK) * hidden);
            ag[i] = 0.0f;
            au[i] = 0.0f;
        }
        for (int c = lane; c < chunks; c += 32) {
            uint4 wg = __ldg(g + c);
            uint4 wu = __ldg(u + c);
#pragma unroll
            for (int i = 0; i < MOE_GROUP; i++) {
                if (i < group) {
                    uint4 xv = __ldg(xr[i] + c);
                    ag[i] += moe_dot8(wg, xv);
                    au[i] += moe_dot8(wu, xv);
                }
            }
        }
#pragma unroll
        for (int i = 0; i < MOE_GROUP; i++) {
            if (i < group) {
                float gs = warp_sum(ag[i]);
                float us = warp_sum(au[i]);
                if (lane == 0) {
                    h[(long long) (begin + base + i) * width + n] =
                            float_to_bf16(activate(act, round_bf16(gs)) * round_bf16(us));
                }
            }
        }
    }
}

// Grid: (ceil(hidden / MOE_WARPS), experts) blocks of MOE_WARPS warps. y[p] = downs[e] . h[p] for the
// expert's padded rows p; downs[e] is [hidden, width], width a multiple of 8.
extern "C" __global__ void __launch_bounds__(MOE_WARPS * 32)
moe_down(const bf16* __restrict__ h, int width, const bf16* const* __restrict__ downs, int hidden,
         const int* __restrict__ meta, int experts, bf16* __restrict__ y) {
    int e = blockIdx.y;
    int n = blockIdx.x * MOE_WARPS + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    int begin = meta[e];
    int count = meta[experts + 1 + e];
    if (count == 0 || n >= hidden) {
        return;
    }
    const uint4* w = (const uint4*) (downs[e] + (long long) n * width);
    int chunks = width >> 3;
    for (int base = 0; base < count; base += MOE_GROUP) {
        int group = min(MOE_GROUP, count - base);
        float acc[MOE_GROUP];
#pragma unroll
        for (int i = 0; i < MOE_GROUP; i++) {
            acc[i] = 0.0f;
        }
        const uint4* hr = (const uint4*) (h + (long long) (begin + base) * width);
        for (int c = lane; c < chunks; c += 32) {
            uint4 wv = __ldg(w + c);
#pragma unroll
            for (int i = 0; i < MOE_GROUP; i++) {
                if (i < group) {
                    acc[i] += moe_dot8(wv, hr[(long long) i * chunks + c]);
                }
            }
        }
#pragma unroll
        for (int i = 0; i < MOE_GROUP; i++) {
            if (i < group) {
                float v = warp_sum(acc[i]);
                if (lane == 0) {
                    y[(long long) (begin + base + i) * hidden + n] = float_to_bf16(v);
                }
            }
        }
    }
}

// Grid: slots. xs[position[s]] = x[s / topK]: each slot's input row at its padded row, for the
// per-expert GEMMs of large steps.
extern "C" __global__ void moe_scatter_rows(const bf16* __restrict__ x, const int* __restrict__ position, int topK,
                                            int hidden, bf16* __restrict__ xs) {
    int s = blockIdx.x;
    const bf16* from = x + (long long) (s / topK) * hidden;
    bf16* to = xs + (long long) position[s] * hidden;
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
        to[i] = from[i];
    }
}

// Grid: rows. residual[r] += sum over the row's slots of weights[s] * y[position[s]].
extern "C" __global__ void moe_combine(const bf16* __restrict__ y, const int* __restrict__ position,
                                       const float* __restrict__ weights, int topK, int hidden,
                                       bf16* __restrict__ residual) {
    int r = blockIdx.x;
    long long base = (long long) r * hidden;
    for (int i = threadIdx.x; i < hidden; i += blockDim.x) {
        float acc = 0.0f;
        for (int j = 0; j < topK; j++) {
            int s = r * topK + j;
            acc += weights[s] * bf16_to_float(y[(long long) position[s] * hidden + i]);
        }
        residual[base + i] = float_to_bf16(bf16_to_float(residual[base + i]) + acc);
    }
}
