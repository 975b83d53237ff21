// Decode GEMV at batch 1-8: candidates against the kernel in gemv.cu, one decode step's projections
// (every layer's q/k/v, o, gate/up, down and the LM head, each layer its own weights so nothing
// stays in L2) replayed as a CUDA graph. Prints the time per step and the weight bytes read per
// second, next to a plain read of the same bytes.
//   nvcc -O3 -std=c++17 -arch=sm_90a -o gemv_bench mii-cuda/src/test/cuda/gemv_bench.cu && ./gemv_bench
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <cuda_runtime.h>
#include "../../main/cuda/common.cuh"
#include "../../main/cuda/gemv.cu"

#define CK(x) do { cudaError_t e = (x); if (e != cudaSuccess) { printf("%s:%d %s\n", __FILE__, __LINE__, cudaGetErrorString(e)); exit(1); } } while (0)

// MODE 0: __ldg; 1: no L1 allocation; 2: no L1 allocation and 256-byte L2 prefetch.
template <int MODE>
__device__ __forceinline__ uint4 ld_w(const uint4* p) {
    uint4 v;
    if (MODE == 0) {
        v = __ldg(p);
    } else if (MODE == 1) {
        asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
                     : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    } else {
        asm volatile("ld.global.nc.L1::no_allocate.L2::256B.v4.u32 {%0,%1,%2,%3}, [%4];"
                     : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w) : "l"(p));
    }
    return v;
}
__device__ __forceinline__ uint4 ld_stream(const uint4* p) { return ld_w<1>(p); }

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void pdl_launch() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;");
#endif
}

// Warp per output feature; each lane keeps U 16-byte weight loads in flight; R rows known at compile time.
// STREAM: weights bypass L1 and leave L2 first. PDL: the first weight loads are issued before waiting
// for the previous kernel (only x depends on it).
template <int R, int U, int STREAM, bool PDL>
__global__ void __launch_bounds__(256) gemv_u(const bf16* __restrict__ x, int k, const bf16* __restrict__ w,
                                              bf16* __restrict__ out, int n) {
    if (PDL) pdl_launch();
    int row = blockIdx.x * 8 + (threadIdx.x >> 5);
    int lane = threadIdx.x & 31;
    if (row >= n) { if (PDL) pdl_wait(); return; }
    const uint4* wr = (const uint4*) (w + (long long) row * k);
    const uint4* xr = (const uint4*) x;
    int chunks = k >> 3;
    float acc[R];
#pragma unroll
    for (int r = 0; r < R; r++) acc[r] = 0.0f;
    uint4 wv[U];
#pragma unroll
    for (int u = 0; u < U; u++) {
        int c = u * 32 + lane;
        wv[u] = c < chunks ? ld_w<STREAM>(wr + c) : make_uint4(0, 0, 0, 0);
    }
    if (PDL) pdl_wait();
    for (int base = 0; base < chunks; base += 32 * U) {
        uint4 nv[U];
#pragma unroll
        for (int u = 0; u < U; u++) {
            int c = base + 32 * U + u * 32 + lane;
            nv[u] = c < chunks ? ld_w<STREAM>(wr + c) : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
        for (int u = 0; u < U; u++) {
            int c = base + u * 32 + lane;
            if (c < chunks) {
#pragma unroll
                for (int r = 0; r < R; r++) fma_bf16x8(acc[r], wv[u], __ldg(xr + (long long) r * chunks + c));
            }
        }
#pragma unroll
        for (int u = 0; u < U; u++) wv[u] = nv[u];
    }
#pragma unroll
    for (int r = 0; r < R; r++) {
        float v = warp_sum(acc[r]);
        if (lane == 0) out[(long long) r * n + row] = float_to_bf16(v);
    }
}

__global__ void read_all(const uint4* __restrict__ p, long long n, float* sink) {
    float s = 0;
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
        uint4 v = ld_w<1>(p + i);
        s += __uint_as_float(v.x) + __uint_as_float(v.y) + __uint_as_float(v.z) + __uint_as_float(v.w);
    }
    if (s == 12345.678f) *sink = s;
}

__global__ void fill(bf16* p, long long n, unsigned seed) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
        unsigned h = (unsigned) i * 2654435761u ^ seed;
        h ^= h >> 13; h *= 0x5bd1e995u; h ^= h >> 15;
        p[i] = float_to_bf16(((h & 0xffff) / 65536.0f - 0.5f) * 0.08f);
    }
}

static float host_float(bf16 v) {
    unsigned u = (unsigned) v << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

struct Mat { bf16* w; int n, k, kind; };
struct Shape { const char* name; int hidden, qkv, inter, layers, vocab; };

typedef void (*Launch)(const Mat&, const bf16* x, bf16* out, int rows, cudaStream_t s);

template <int R, int U, int STREAM, bool PDL>
void launch_u(const Mat& m, const bf16* x, bf16* out, int rows, cudaStream_t s) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3((m.n + 7) / 8);
    cfg.blockDim = dim3(256);
    cfg.stream = s;
    cudaLaunchAttribute attr[1];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = 1;
    cfg.attrs = attr;
    cfg.numAttrs = PDL ? 1 : 0;
    CK(cudaLaunchKernelEx(&cfg, gemv_u<R, U, STREAM, PDL>, x, m.k, (const bf16*) m.w, out, m.n));
}

// The kernels of gemv.cu, plain (kind ignored) or with the decode step's fusions (kind: 0 q/k/v, 1
// output projection adding into the residual, 2 gate/up with SiLU x up, 3 down adding into the
// residual, 4 LM head).
static bf16* scratch = nullptr;

template <bool FUSED>
void launch_real(const Mat& m, const bf16* x, bf16* out, int rows, cudaStream_t s) {
    int kind = m.kind;
    decltype(&gemv_r1) plain[] = {gemv_r1, gemv_r2, gemv_r3, gemv_r4, gemv_r5, gemv_r6, gemv_r7, gemv_r8};
    decltype(&gemv_r1) gated[] = {gemv_act_r1, gemv_act_r2, gemv_act_r3, gemv_act_r4, gemv_act_r5, gemv_act_r6,
                                  gemv_act_r7, gemv_act_r8};
    auto k = FUSED && kind == 2 ? gated[rows - 1] : plain[rows - 1];
    bool act = FUSED && kind == 2;
    bf16* residual = FUSED && (kind == 1 || kind == 3) ? scratch : nullptr;
    int n0 = act ? m.n / 2 : m.n;
    const bf16* w1 = act ? m.w + (size_t) n0 * m.k : nullptr;
    int blocks = (n0 + GEMV_WARPS - 1) / GEMV_WARPS;
    k<<<blocks, GEMV_WARPS * 32, 0, s>>>(x, m.k, m.w, nullptr, act ? nullptr : out, n0, w1, nullptr, nullptr, act ? n0 : 0, nullptr, nullptr,
            nullptr, 0, residual, act ? GEMV_ACT_SILU : 0, act ? out : nullptr);
}

int main(int argc, char** argv) {
    Shape shapes[] = {{"llama-3-8b", 4096, 6144, 14336, 32, 128256}, {"llama-3.2-1b", 2048, 3072, 8192, 16, 128256}};
    cudaStream_t s;
    CK(cudaStreamCreate(&s));
    bf16 *x, *out;
    CK(cudaMalloc(&x, 8 * 16384 * 2));
    CK(cudaMalloc(&out, 8 * 200000 * 2));
    fill<<<1024, 256>>>(x, 8 * 16384, 7);
    float* sink;
    CK(cudaMalloc(&sink, 4));
    CK(cudaMalloc(&scratch, 8 * 200000 * 2));
    for (Shape sh : shapes) {
        std::vector<Mat> mats;
        size_t bytes = 0;
        auto add = [&](int n, int k, int kind) {
            Mat m{nullptr, n, k, kind};
            CK(cudaMalloc(&m.w, (size_t) n * k * 2));
            fill<<<2048, 256>>>(m.w, (long long) n * k, (unsigned) mats.size());
            bytes += (size_t) n * k * 2;
            mats.push_back(m);
        };
        for (int l = 0; l < sh.layers; l++) {
            add(sh.qkv, sh.hidden, 0);
            add(sh.hidden, sh.hidden, 1);
            add(2 * sh.inter, sh.hidden, 2);
            add(sh.hidden, sh.inter, 3);
        }
        add(sh.vocab, sh.hidden, 4);
        CK(cudaDeviceSynchronize());
        // The ceiling: one kernel reading every weight byte.
        cudaEvent_t a, b;
        CK(cudaEventCreate(&a));
        CK(cudaEventCreate(&b));
        float best = 1e9;
        for (int it = 0; it < 5; it++) {
            CK(cudaEventRecord(a, s));
            for (auto& m : mats) read_all<<<132 * 16, 256, 0, s>>>((const uint4*) m.w, (long long) m.n * m.k / 8, sink);
            CK(cudaEventRecord(b, s));
            CK(cudaEventSynchronize(b));
            float ms;
            CK(cudaEventElapsedTime(&ms, a, b));
            best = ms < best ? ms : best;
        }
        printf("%s: %.2f GB of weights; read kernel per matrix (no graph): %.3f ms = %.0f GB/s\n", sh.name, bytes / 1e9,
               best, bytes / 1e6 / best);
        struct Cand { const char* name; Launch f[9]; };
#define CAND(NAME, U, M, P) {NAME, {0, launch_u<1, U, M, P>, launch_u<2, U, M, P>, 0, launch_u<4, U, M, P>, 0, 0, 0, launch_u<8, U, M, P>}}
#define ALL(F) {0, F, F, F, F, F, F, F, F}
        Cand cands[] = {
            {"gemv.cu", ALL(launch_real<false>)},
            {"gemv.cu fused", ALL(launch_real<true>)},
            CAND("u4 noL1", 4, 1, false),
            CAND("u4 noL1 pdl", 4, 1, true),
            CAND("u2 noL1", 2, 1, false),
        };
        // Correctness of each candidate against the current kernel, on the first layer's q/k/v.
        bf16* ref;
        CK(cudaMalloc(&ref, 8 * 200000 * 2));
        for (int rows : {1, 2, 4, 8}) {
            launch_u<8, 4, 0, false>(mats[0], x, ref, rows, s);
            std::vector<bf16> hr(rows * mats[0].n), ho(rows * mats[0].n);
            CK(cudaMemcpy(hr.data(), ref, hr.size() * 2, cudaMemcpyDeviceToHost));
            for (auto& c : cands) {
                if (!c.f[rows] || c.f[rows] == launch_real<true>) continue;
                c.f[rows](mats[0], x, out, rows, s);
                CK(cudaMemcpy(ho.data(), out, ho.size() * 2, cudaMemcpyDeviceToHost));
                float maxd = 0;
                for (size_t i = 0; i < hr.size(); i++) {
                    float d = fabsf(host_float(hr[i]) - host_float(ho[i]));
                    maxd = d > maxd ? d : maxd;
                }
                if (maxd > 0.02f) printf("  MISMATCH %s rows %d: %g\n", c.name, rows, maxd);
            }
        }
        for (int rows : {1, 8}) {
            for (auto& c : cands) {
                if (!c.f[rows]) continue;
                cudaGraph_t g;
                cudaGraphExec_t ge;
                CK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
                for (auto& m : mats) c.f[rows](m, x, out, rows, s);
                CK(cudaStreamEndCapture(s, &g));
                CK(cudaGraphInstantiate(&ge, g, 0));
                CK(cudaGraphLaunch(ge, s));
                CK(cudaStreamSynchronize(s));
                float bestg = 1e9;
                for (int it = 0; it < 10; it++) {
                    CK(cudaEventRecord(a, s));
                    CK(cudaGraphLaunch(ge, s));
                    CK(cudaEventRecord(b, s));
                    CK(cudaEventSynchronize(b));
                    float ms;
                    CK(cudaEventElapsedTime(&ms, a, b));
                    bestg = ms < bestg ? ms : bestg;
                }
                printf("  rows %d %-16s %7.3f ms per step of %zu GEMVs = %5.0f GB/s\n", rows, c.name, bestg, mats.size(),
                       bytes / 1e6 / bestg);
                CK(cudaGraphExecDestroy(ge));
                CK(cudaGraphDestroy(g));
            }
        }
        for (auto& m : mats) CK(cudaFree(m.w));
        CK(cudaFree(ref));
    }
    return 0;
}
