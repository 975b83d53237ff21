// RMSNorm with FP32 statistics, optionally fused with the residual add that precedes it in a
// pre-norm block: residual += delta; out = residual / rms(residual) * weight. One block per row.
// Rows whose width is a multiple of 8 on 16-byte aligned storage (every activation the engine
// allocates) move through 16-byte accesses; each thread re-reads in the second pass only what it
// wrote in the first, so no barrier is needed between them.
#include "common.cuh"

__device__ __forceinline__ bool aligned16(const void* a, const void* b, const void* c, const void* d) {
    return ((((unsigned long long) a) | ((unsigned long long) b) | ((unsigned long long) c)
             | ((unsigned long long) d)) & 15) == 0;
}

__device__ __forceinline__ float lo_of(unsigned int v) {
    return __uint_as_float(v << 16);
}

__device__ __forceinline__ float hi_of(unsigned int v) {
    return __uint_as_float(v & 0xffff0000u);
}

__device__ __forceinline__ unsigned int pack2(float lo, float hi) {
    return (unsigned int) float_to_bf16(lo) | ((unsigned int) float_to_bf16(hi) << 16);
}

// x * inv * w for the eight values of one 16-byte chunk.
__device__ __forceinline__ uint4 scale8(uint4 x, uint4 w, float inv) {
    return make_uint4(pack2(lo_of(x.x) * inv * lo_of(w.x), hi_of(x.x) * inv * hi_of(w.x)),
                      pack2(lo_of(x.y) * inv * lo_of(w.y), hi_of(x.y) * inv * hi_of(w.y)),
                      pack2(lo_of(x.z) * inv * lo_of(w.z), hi_of(x.z) * inv * hi_of(w.z)),
                      pack2(lo_of(x.w) * inv * lo_of(w.w), hi_of(x.w) * inv * hi_of(w.w)));
}

__device__ __forceinline__ float squares8(uint4 v) {
    float a = lo_of(v.x), b = hi_of(v.x), c = lo_of(v.y), d = hi_of(v.y);
    float e = lo_of(v.z), f = hi_of(v.z), g = lo_of(v.w), h = hi_of(v.w);
    return a * a + b * b + c * c + d * d + e * e + f * f + g * g + h * h;
}

extern "C" __global__ void rms_norm(const bf16* __restrict__ x, const bf16* __restrict__ weight,
                                    bf16* out, int cols, float eps) {
    __shared__ float scratch[32];
    long long base = (long long) blockIdx.x * cols;
    float ss = 0.0f;
    if ((cols & 7) == 0 && aligned16(x + base, weight, out + base, out + base)) {
        const uint4* x8 = (const uint4*) (x + base);
        const uint4* w8 = (const uint4*) weight;
        uint4* o8 = (uint4*) (out + base);
        int chunks = cols >> 3;
        for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
            ss += squares8(x8[c]);
        }
        float inv = rsqrtf(block_sum(ss, scratch) / cols + eps);
        for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
            o8[c] = scale8(x8[c], w8[c], inv);
        }
        return;
    }
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        float v = bf16_to_float(x[base + i]);
        ss += v * v;
    }
    float inv = rsqrtf(block_sum(ss, scratch) / cols + eps);
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        out[base + i] = float_to_bf16(bf16_to_float(x[base + i]) * inv * bf16_to_float(weight[i]));
    }
}

// `out` may not alias `residual`; the sum is rounded to BF16 before its statistics are taken, as
// an unfused BF16 add followed by the norm would do.
extern "C" __global__ void add_rms_norm(bf16* __restrict__ residual, const bf16* __restrict__ delta,
                                        const bf16* __restrict__ weight, bf16* __restrict__ out, int cols,
                                        float eps) {
    __shared__ float scratch[32];
    long long base = (long long) blockIdx.x * cols;
    float ss = 0.0f;
    if ((cols & 7) == 0 && aligned16(residual + base, delta + base, weight, out + base)) {
        uint4* r8 = (uint4*) (residual + base);
        const uint4* d8 = (const uint4*) (delta + base);
        const uint4* w8 = (const uint4*) weight;
        uint4* o8 = (uint4*) (out + base);
        int chunks = cols >> 3;
        for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
            uint4 r = r8[c];
            uint4 d = d8[c];
            uint4 s = make_uint4(pack2(lo_of(r.x) + lo_of(d.x), hi_of(r.x) + hi_of(d.x)),
                                 pack2(lo_of(r.y) + lo_of(d.y), hi_of(r.y) + hi_of(d.y)),
                                 pack2(lo_of(r.z) + lo_of(d.z), hi_of(r.z) + hi_of(d.z)),
                                 pack2(lo_of(r.w) + lo_of(d.w), hi_of(r.w) + hi_of(d.w)));
            r8[c] = s;
            ss += squares8(s);
        }
        float inv = rsqrtf(block_sum(ss, scratch) / cols + eps);
        for (int c = threadIdx.x; c < chunks; c += blockDim.x) {
            o8[c] = scale8(r8[c], w8[c], inv);
        }
        return;
    }
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        bf16 s = float_to_bf16(bf16_to_float(residual[base + i]) + bf16_to_float(delta[base + i]));
        residual[base + i] = s;
        float v = bf16_to_float(s);
        ss += v * v;
    }
    float inv = rsqrtf(block_sum(ss, scratch) / cols + eps);
    for (int i = threadIdx.x; i < cols; i += blockDim.x) {
        out[base + i] = float_to_bf16(bf16_to_float(residual[base + i]) * inv * bf16_to_float(weight[i]));
    }
}
