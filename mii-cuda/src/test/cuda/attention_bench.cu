// Checks and times mii-cuda's attention kernels (src/main/cuda/attention.cu, included as is) on one
// GPU, without Java: tools/gpu/attention-bench.sh builds and runs it.
//
// (a) Checks: every kernel against a plain FP32 reference kernel on random BF16 data over a matrix of
//     cases (head sizes 32..256, GQA 1..32, sliding windows, ALiBi, soft-capping, block sizes 16 and
//     64, ragged prefill with earlier keys already cached, mixed prefill/decode batches, decode
//     batches of 1..256 rows over contexts of 1..4096 keys with several split counts). Each line
//     prints the largest absolute error and PASS or FAIL; outputs start as NaN, so a row a kernel
//     forgets fails too. The previous kernel (attention_baseline.cu) is checked on a few plain cases
//     as a check of the reference itself.
// (b) Times at Llama-3-8B's shape (32 query heads, 8 KV heads, head size 128, 64-token blocks): the
//     previous kernel and the current ones on prefill (256 sequences x 256 tokens in 768-token
//     steps), decode of 1 row over 256 and 4096 keys and of 256 rows over 384 keys.
//
// Exits 1 when a check fails. Options: --check-only, --bench-only.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "../../main/cuda/attention.cu"
#include "attention_baseline.cu"

#define CUDA_OK(call)                                                                              \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) {                                                                   \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call, cudaGetErrorString(e_)); \
            exit(2);                                                                               \
        }                                                                                          \
    } while (0)

// ---------------------------------------------------------------------------------------------
// Device helpers: random fill and the FP32 reference.

__global__ void fill_random(bf16* p, long long n, unsigned seed, float scale) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
        // Two hashed uniforms, Box-Muller: roughly N(0, scale^2).
        unsigned x = (unsigned) i * 2654435761u ^ seed * 0x9e3779b9u;
        x ^= x >> 16; x *= 0x7feb352du; x ^= x >> 15; x *= 0x846ca68bu; x ^= x >> 16;
        unsigned y = x * 0x2c1b3c6du + 0x297a2d39u;
        y ^= y >> 16; y *= 0x7feb352du; y ^= y >> 15; y *= 0x846ca68bu; y ^= y >> 16;
        float u1 = ((x >> 8) + 1) * (1.0f / 16777217.0f);
        float u2 = (y >> 8) * (1.0f / 16777216.0f);
        float g = sqrtf(-2.0f * logf(u1)) * cosf(6.2831853f * u2);
        p[i] = float_to_bf16(g * scale);
    }
}

__global__ void fill_bf16(bf16* p, long long n, bf16 v) {
    for (long long i = blockIdx.x * (long long) blockDim.x + threadIdx.x; i < n; i += (long long) gridDim.x * blockDim.x) {
        p[i] = v;
    }
}

// Grid (rows, heads), 256 threads. Plain two-pass softmax over the row's visible keys, FP32 throughout.
__global__ void reference_attention(const bf16* q, float* out, const bf16* kCache, const bf16* vCache,
                                    const int* positions, const int* rowSeq, const int* tables, int stride,
                                    int blockSize, int numHeads, int kvHeads, int headDim, int window, float scale,
                                    float softCap, const float* alibi, float* scratch, int maxKeys) {
    __shared__ float red[32];
    int r = blockIdx.x;
    int h = blockIdx.y;
    int kvh = h / (numHeads / kvHeads);
    int pos = positions[r];
    int first = window > 0 ? max(0, pos - window + 1) : 0;
    int n = pos - first + 1;
    const int* table = tables + (long long) rowSeq[r] * stride;
    const bf16* qr = q + ((long long) r * numHeads + h) * headDim;
    float* s = scratch + ((long long) r * numHeads + h) * maxKeys;
    float mx = -INFINITY;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        int key = first + i;
        long long slot = (long long) table[key / blockSize] * blockSize + key % blockSize;
        const bf16* k = kCache + (slot * kvHeads + kvh) * headDim;
        float dot = 0.0f;
        for (int d = 0; d < headDim; d++) {
            dot += bf16_to_float(qr[d]) * bf16_to_float(k[d]);
        }
        float v = dot * scale;
        if (softCap > 0.0f) {
            v = softCap * tanhf(v / softCap);
        }
        if (alibi != nullptr) {
            v += alibi[h] * (float) key;
        }
        s[i] = v;
        mx = fmaxf(mx, v);
    }
    for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = mx;
    __syncthreads();
    mx = -INFINITY;
    for (int w = 0; w < (int) (blockDim.x >> 5); w++) mx = fmaxf(mx, red[w]);
    __syncthreads();
    float sum = 0.0f;
    for (int i = threadIdx.x; i < n; i += blockDim.x) {
        float e = expf(s[i] - mx);
        s[i] = e;
        sum += e;
    }
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = sum;
    __syncthreads();
    sum = 0.0f;
    for (int w = 0; w < (int) (blockDim.x >> 5); w++) sum += red[w];
    for (int d = threadIdx.x; d < headDim; d += blockDim.x) {
        float acc = 0.0f;
        for (int i = 0; i < n; i++) {
            int key = first + i;
            long long slot = (long long) table[key / blockSize] * blockSize + key % blockSize;
            acc += s[i] * bf16_to_float(vCache[(slot * kvHeads + kvh) * headDim + d]);
        }
        out[((long long) r * numHeads + h) * headDim + d] = acc / sum;
    }
}

// ---------------------------------------------------------------------------------------------
// The launch choices CudaBackend makes (kept in step with CudaBackend.attention).

static int g_sms = 0;
static int g_smemOptin = 0;
static int g_smemPerSm = 0;

static int kernel_dim(int headDim) {
    return headDim <= 64 ? 64 : headDim <= 80 ? 80 : headDim <= 96 ? 96 : headDim <= 128 ? 128 : 256;
}

static int prefill_keys(int d) { return d > 128 ? 32 : 64; }

static size_t prefill_smem(int d) { return (size_t) (ATTN_PREFILL_ITEMS + 2 * prefill_keys(d)) * (d + 8) * 2; }

static size_t decode_smem(int d, int stages) { return (size_t) (16 + stages * 2 * ATTN_DECODE_TILE) * (d + 8) * 2; }

// Pipeline stages of the decode kernel: as many as let two CTAs share an SM (at most 4), else one
// CTA per SM; 0 when not even two stages fit (the prefill kernel then takes decode rows).
static int decode_stages(int d, int* ctasPerSm) {
    long q = 16L * (d + 8) * 2;
    long stage = 2L * ATTN_DECODE_TILE * (d + 8) * 2;
    long two = std::min<long>(g_smemOptin, g_smemPerSm / 2 - 1024) - q;
    if (two / stage >= 2) {
        *ctasPerSm = 2;
        return (int) std::min<long>(4, two / stage);
    }
    long one = g_smemOptin - q;
    *ctasPerSm = 1;
    return one / stage >= 2 ? (int) std::min<long>(4, one / stage) : 0;
}

// Splits per (row, KV head): enough CTAs to fill the SMs, never more than the longest row's
// 64-key tiles, at most 64.
static int decode_splits(int rows, int kvHeads, int maxSpan, int ctasPerSm) {
    int s = std::max(1, ctasPerSm * g_sms / std::max(1, rows * kvHeads));
    s = std::min(s, (maxSpan + ATTN_DECODE_TILE - 1) / ATTN_DECODE_TILE);
    return std::max(1, std::min(s, 64));
}

typedef void (*PrefillFn)(const bf16*, bf16*, const bf16*, const bf16*, const int*, const int*, int, const int*, int, int,
                          int, int, int, int, float, float, const float*, int);
typedef void (*DecodeFn)(const bf16*, bf16*, float*, const bf16*, const bf16*, const int*, const int*, const int*,
                         const int*, int, int, int, int, int, int, float, float, const float*, int, int, int);

static PrefillFn prefill_fn(int d) {
    switch (d) {
        case 64: return attention_prefill_d64;
        case 80: return attention_prefill_d80;
        case 96: return attention_prefill_d96;
        case 128: return attention_prefill_d128;
        default: return attention_prefill_d256;
    }
}

static DecodeFn decode_fn(int d) {
    switch (d) {
        case 64: return attention_decode_d64;
        case 80: return attention_decode_d80;
        case 96: return attention_decode_d96;
        case 128: return attention_decode_d128;
        default: return attention_decode_d256;
    }
}

static void allow_smem() {
    int ds[] = {64, 80, 96, 128, 256};
    for (int d : ds) {
        CUDA_OK(cudaFuncSetAttribute(prefill_fn(d), cudaFuncAttributeMaxDynamicSharedMemorySize, (int) prefill_smem(d)));
        int c;
        int st = decode_stages(d, &c);
        if (st > 0) {
            CUDA_OK(cudaFuncSetAttribute(decode_fn(d), cudaFuncAttributeMaxDynamicSharedMemorySize,
                                         (int) decode_smem(d, st)));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A ragged batch over a paged cache, on the device.

struct Seq {
    int rows;    // new rows this step
    int cached;  // keys already in the cache before them
};

struct Shape {
    int headDim;
    int heads;
    int kvHeads;
    int blockSize;
    int window;
    bool alibi;
    float softCap;
};

struct Batch {
    Shape sh;
    std::vector<Seq> seqs;
    int rows = 0;
    int stride = 0;
    int numBlocks = 0;
    int maxSpan = 0;       // keys the longest row sees
    int decodeSpan = 1;    // keys the longest single-row sequence's row sees
    int tiles = 0;         // prefill tiles of every sequence (skipSingle = 0), for the group
    int multiTiles = 0;    // prefill tiles of multi-row sequences
    int decodeExtent = 0;  // rows up to the last row of a single-row sequence
    int decodeRows = 0;    // rows of single-row sequences
    bool hasMulti = false;
    std::vector<int> hPositions, hRowSeq, hSeqStarts, hTables;
    int *positions = nullptr, *rowSeq = nullptr, *seqStarts = nullptr, *tables = nullptr;
    float* alibi = nullptr;
    bf16 *q = nullptr, *k = nullptr, *v = nullptr, *out = nullptr;
    float* ref = nullptr;
    float* partial = nullptr;
    size_t partialFloats = 0;
    float scale() const { return 1.0f / sqrtf((float) sh.headDim); }
};

template <typename T>
static T* upload(const std::vector<T>& v) {
    T* d = nullptr;
    CUDA_OK(cudaMalloc(&d, std::max<size_t>(1, v.size()) * sizeof(T)));
    if (!v.empty()) CUDA_OK(cudaMemcpy(d, v.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
    return d;
}

static void random_fill(bf16* p, long long n, unsigned seed, float scale) {
    fill_random<<<1024, 256>>>(p, n, seed, scale);
    CUDA_OK(cudaGetLastError());
}

// Metadata for `seqs`; blocks are handed out in a shuffled order (interleaved between sequences).
// With `cache`, also allocates and fills q, k, v (k and v: `layers` copies, back to back).
static void build(Batch& b, const Shape& sh, const std::vector<Seq>& seqs, unsigned seed, bool data = true) {
    b.sh = sh;
    b.seqs = seqs;
    std::mt19937 rng(seed);
    int blocks = 0;
    b.stride = 1;
    b.hSeqStarts.assign(1, 0);
    for (const Seq& s : seqs) {
        int ctx = s.cached + s.rows;
        int nb = (ctx + sh.blockSize - 1) / sh.blockSize;
        blocks += nb;
        b.stride = std::max(b.stride, nb);
        b.hSeqStarts.push_back(b.hSeqStarts.back() + s.rows);
    }
    b.rows = b.hSeqStarts.back();
    b.numBlocks = blocks + 3;
    std::vector<int> ids(b.numBlocks);
    for (int i = 0; i < b.numBlocks; i++) ids[i] = i;
    std::shuffle(ids.begin(), ids.end(), rng);
    b.hTables.assign((size_t) seqs.size() * b.stride, 0);
    int next = 0;
    int group = sh.heads / sh.kvHeads;
    b.tiles = b.multiTiles = b.decodeExtent = b.decodeRows = 0;
    b.hasMulti = false;
    b.maxSpan = 1;
    for (size_t s = 0; s < seqs.size(); s++) {
        int ctx = seqs[s].cached + seqs[s].rows;
        int nb = (ctx + sh.blockSize - 1) / sh.blockSize;
        for (int i = 0; i < nb; i++) b.hTables[s * b.stride + i] = ids[next++];
        for (int i = 0; i < seqs[s].rows; i++) {
            b.hPositions.push_back(seqs[s].cached + i);
            b.hRowSeq.push_back((int) s);
        }
        int t = (seqs[s].rows * group + ATTN_PREFILL_ITEMS - 1) / ATTN_PREFILL_ITEMS;
        b.tiles += t;
        if (seqs[s].rows == 1) {
            b.decodeExtent = b.hSeqStarts[s] + 1;
            b.decodeRows++;
            b.decodeSpan = std::max(b.decodeSpan, sh.window > 0 ? std::min(ctx, sh.window) : ctx);
        } else {
            b.multiTiles += t;
            b.hasMulti = true;
        }
        b.maxSpan = std::max(b.maxSpan, sh.window > 0 ? std::min(ctx, sh.window) : ctx);
    }
    b.positions = upload(b.hPositions);
    b.rowSeq = upload(b.hRowSeq);
    b.seqStarts = upload(b.hSeqStarts);
    b.tables = upload(b.hTables);
    if (sh.alibi) {
        std::vector<float> slopes(sh.heads);
        for (int h = 0; h < sh.heads; h++) slopes[h] = powf(2.0f, -8.0f * (h + 1) / sh.heads);
        b.alibi = upload(slopes);
    }
    if (!data) return;
    long long qn = (long long) b.rows * sh.heads * sh.headDim;
    long long kn = (long long) b.numBlocks * sh.blockSize * sh.kvHeads * sh.headDim;
    CUDA_OK(cudaMalloc(&b.q, qn * 2));
    CUDA_OK(cudaMalloc(&b.out, qn * 2));
    CUDA_OK(cudaMalloc(&b.ref, qn * 4));
    CUDA_OK(cudaMalloc(&b.k, kn * 2));
    CUDA_OK(cudaMalloc(&b.v, kn * 2));
    random_fill(b.q, qn, seed * 3 + 1, 1.0f);
    random_fill(b.k, kn, seed * 3 + 2, 1.0f);
    random_fill(b.v, kn, seed * 3 + 3, 1.0f);
    b.partialFloats = (size_t) b.rows * sh.heads * 64 * (sh.headDim + 2);
    CUDA_OK(cudaMalloc(&b.partial, b.partialFloats * 4));
}

static void release(Batch& b) {
    void* ps[] = {b.positions, b.rowSeq, b.seqStarts, b.tables, b.alibi, b.q, b.k, b.v, b.out, b.ref, b.partial};
    for (void* p : ps) {
        if (p) cudaFree(p);
    }
    b = Batch();
}

static void run_reference(const Batch& b) {
    int maxKeys = b.maxSpan;
    float* scratch;
    CUDA_OK(cudaMalloc(&scratch, (size_t) b.rows * b.sh.heads * maxKeys * 4));
    reference_attention<<<dim3(b.rows, b.sh.heads), 256>>>(b.q, b.ref, b.k, b.v, b.positions, b.rowSeq, b.tables,
                                                          b.stride, b.sh.blockSize, b.sh.heads, b.sh.kvHeads,
                                                          b.sh.headDim, b.sh.window, b.scale(), b.sh.softCap, b.alibi,
                                                          scratch, maxKeys);
    CUDA_OK(cudaGetLastError());
    CUDA_OK(cudaDeviceSynchronize());
    cudaFree(scratch);
}

// ---- Launchers, with the backend's arguments ----

static void launch_prefill(const Batch& b, const bf16* k, const bf16* v, int skipSingle, cudaStream_t st = 0) {
    int d = kernel_dim(b.sh.headDim);
    int tiles = skipSingle ? b.multiTiles : b.tiles;
    if (tiles == 0) return;
    prefill_fn(d)<<<dim3(tiles, b.sh.kvHeads), ATTN_THREADS, prefill_smem(d), st>>>(
        b.q, b.out, k, v, b.positions, b.seqStarts, (int) b.seqs.size(), b.tables, b.stride, b.sh.blockSize,
        b.sh.heads, b.sh.kvHeads, b.sh.headDim, b.sh.window, b.scale(), b.sh.softCap, b.alibi, skipSingle);
}

static void launch_decode(const Batch& b, const bf16* k, const bf16* v, int rows, int splits, int onlySingle,
                          cudaStream_t st = 0) {
    int d = kernel_dim(b.sh.headDim);
    int c;
    int stages = decode_stages(d, &c);
    decode_fn(d)<<<dim3(rows, b.sh.kvHeads, splits), ATTN_THREADS, decode_smem(d, stages), st>>>(
        b.q, b.out, b.partial, k, v, b.positions, b.rowSeq, b.seqStarts, b.tables, b.stride, b.sh.blockSize,
        b.sh.heads, b.sh.kvHeads, b.sh.headDim, b.sh.window, b.scale(), b.sh.softCap, b.alibi, splits, stages,
        onlySingle);
    if (splits > 1) {
        attention_decode_merge<<<dim3(rows, b.sh.heads), std::min(1024, (b.sh.headDim + 31) / 32 * 32), 0, st>>>(
            b.partial, b.out, b.positions, b.rowSeq, b.seqStarts, b.sh.heads, b.sh.headDim, b.sh.window, splits,
            onlySingle);
    }
}

static bool decode_possible(const Batch& b) {
    int c;
    return b.sh.heads / b.sh.kvHeads <= 16 && decode_stages(kernel_dim(b.sh.headDim), &c) >= 2;
}

// What CudaBackend.attention launches for this batch; splits < 0: its own choice.
static int launch_auto(const Batch& b, const bf16* k, const bf16* v, int splits = -1, cudaStream_t st = 0) {
    if (!decode_possible(b)) {
        launch_prefill(b, k, v, 0, st);
        return 0;
    }
    int c;
    decode_stages(kernel_dim(b.sh.headDim), &c);
    if (splits < 0) splits = decode_splits(b.decodeRows, b.sh.kvHeads, b.decodeSpan, c);
    if (b.decodeExtent > 0) launch_decode(b, k, v, b.decodeExtent, splits, b.hasMulti ? 1 : 0, st);
    if (b.hasMulti) launch_prefill(b, k, v, 1, st);
    return splits;
}

static void launch_baseline(const Batch& b, const bf16* k, const bf16* v, float* partial, int chunks, cudaStream_t st = 0) {
    baseline_paged_attention_split<<<dim3(b.rows, b.sh.heads, chunks), 128, 0, st>>>(
        b.q, partial, k, v, b.positions, b.rowSeq, b.tables, b.stride, b.sh.blockSize, b.sh.heads, b.sh.kvHeads,
        b.sh.headDim, b.sh.window, b.scale());
    baseline_attention_merge<<<dim3(b.rows, b.sh.heads), std::min(1024, (b.sh.headDim + 31) / 32 * 32), 0, st>>>(
        partial, b.out, b.sh.heads, b.sh.headDim, chunks);
}

// ---------------------------------------------------------------------------------------------
// Checks

static int g_failures = 0;
static int g_checks = 0;

static std::string describe(const Batch& b) {
    char buf[160];
    snprintf(buf, sizeof buf, "d%-3d h%d/%d bs%-2d w%-3d%s%s rows %d seqs %zu", b.sh.headDim, b.sh.heads, b.sh.kvHeads,
             b.sh.blockSize, b.sh.window, b.sh.alibi ? " alibi" : "", b.sh.softCap > 0 ? " cap" : "", b.rows,
             b.seqs.size());
    return buf;
}

static void clear_out(const Batch& b) {
    fill_bf16<<<256, 256>>>(b.out, (long long) b.rows * b.sh.heads * b.sh.headDim, (bf16) 0x7fc0);  // NaN
    CUDA_OK(cudaGetLastError());
}

static const double TOLERANCE = 2e-2;

static void compare(const Batch& b, const char* what) {
    CUDA_OK(cudaGetLastError());
    CUDA_OK(cudaDeviceSynchronize());
    size_t n = (size_t) b.rows * b.sh.heads * b.sh.headDim;
    std::vector<unsigned short> out(n);
    std::vector<float> ref(n);
    CUDA_OK(cudaMemcpy(out.data(), b.out, n * 2, cudaMemcpyDeviceToHost));
    CUDA_OK(cudaMemcpy(ref.data(), b.ref, n * 4, cudaMemcpyDeviceToHost));
    double err = 0;
    double refMax = 0;
    size_t worst = 0;
    bool nan = false;
    for (size_t i = 0; i < n; i++) {
        unsigned bits = (unsigned) out[i] << 16;
        float o;
        memcpy(&o, &bits, 4);
        if (!std::isfinite(o)) {
            nan = true;
            worst = i;
            break;
        }
        double e = fabs((double) o - ref[i]);
        if (e > err) {
            err = e;
            worst = i;
        }
        refMax = std::max(refMax, (double) fabs(ref[i]));
    }
    bool ok = !nan && err <= TOLERANCE;
    g_checks++;
    if (!ok) g_failures++;
    size_t perRow = (size_t) b.sh.heads * b.sh.headDim;
    printf("%s %-22s %-52s max|err| %s%.2e (max|ref| %.2f)%s\n", ok ? "PASS" : "FAIL", what, describe(b).c_str(),
           nan ? "NaN at " : "", nan ? 0.0 : err, refMax,
           ok ? "" : (" at row " + std::to_string(worst / perRow) + " head " +
                      std::to_string(worst % perRow / b.sh.headDim) + " dim " + std::to_string(worst % b.sh.headDim))
                         .c_str());
    fflush(stdout);
}

// Every kernel path on one batch: the prefill kernel over all rows; the backend's choice; and, for a
// pure decode batch, the decode kernel with one split, the heuristic's, and 64.
static void check_batch(const Shape& sh, const std::vector<Seq>& seqs, unsigned seed, bool baseline = false) {
    Batch b;
    build(b, sh, seqs, seed);
    run_reference(b);
    clear_out(b);
    launch_prefill(b, b.k, b.v, 0);
    compare(b, "prefill kernel");
    clear_out(b);
    int splits = launch_auto(b, b.k, b.v);
    char what[64];
    snprintf(what, sizeof what, "%s%s", b.hasMulti && b.decodeRows ? "mixed" : b.hasMulti ? "prefill" : "decode",
             decode_possible(b) ? "" : " (fallback)");
    compare(b, what);
    if (!b.hasMulti && decode_possible(b)) {
        int tries[] = {1, 3, 64};
        for (int s : tries) {
            if (s == splits) continue;
            clear_out(b);
            launch_decode(b, b.k, b.v, b.rows, s, 0);
            snprintf(what, sizeof what, "decode splits=%d", s);
            compare(b, what);
        }
        if (b.rows > 1) {
            // Only the single-row rows, as in a mixed batch (here: all of them).
            clear_out(b);
            launch_decode(b, b.k, b.v, b.rows, splits, 1);
            compare(b, "decode onlySingle");
        }
    }
    if (baseline && b.sh.headDim <= 256 && !b.sh.alibi && b.sh.softCap <= 0) {
        float* partial;
        int chunks = (b.maxSpan + 31) / 32;
        CUDA_OK(cudaMalloc(&partial, (size_t) b.rows * b.sh.heads * chunks * (b.sh.headDim + 2) * 4));
        clear_out(b);
        launch_baseline(b, b.k, b.v, partial, chunks);
        compare(b, "previous kernel");
        cudaFree(partial);
    }
    release(b);
}

static void checks() {
    printf("== checks against the FP32 reference (tolerance %.0e) ==\n", TOLERANCE);
    std::mt19937 rng(7);
    auto rnd = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
    int dims[] = {64, 80, 96, 128, 256};
    int gqa[][2] = {{8, 8}, {16, 4}, {32, 4}};
    int blockSizes[] = {16, 64};
    struct Feature {
        int window;
        bool alibi;
        float cap;
    } features[] = {{0, false, 0}, {37, false, 0}, {0, true, 0}, {0, false, 30}, {100, true, 20}};
    unsigned seed = 1;
    // Mixed steps: decode rows first (as the scheduler orders them), then a fresh prompt chunk, a
    // chunk after cached keys, a two-row chunk and a one-row chunk after a long cache.
    for (int d : dims) {
        for (auto& g : gqa) {
            for (int bs : blockSizes) {
                for (auto& f : features) {
                    Shape sh{d, g[0], g[1], bs, f.window, f.alibi, f.cap};
                    std::vector<Seq> seqs = {{1, rnd(0, 300)}, {1, 0}, {1, rnd(100, 700)}, {rnd(60, 130), 0},
                                             {rnd(20, 90), rnd(50, 400)}, {2, 13}, {1, rnd(200, 500)}};
                    check_batch(sh, seqs, seed++, f.window == 0 && !f.alibi && f.cap == 0 && bs == 16);
                }
            }
        }
    }
    // A long prompt chunk after a long cache, windows that cut inside and outside tiles.
    for (int w : {0, 1, 64, 200}) {
        check_batch(Shape{128, 32, 8, 64, w, false, 0}, {{768, 0}}, seed++);
        check_batch(Shape{128, 32, 8, 16, w, false, 0}, {{300, 1000}, {200, 33}}, seed++);
    }
    // Decode batches of 1..256 rows over contexts of 1..4096 keys.
    for (int rows : {1, 2, 7, 64, 256}) {
        for (int maxCtx : {1, 64, 700, 4096}) {
            if (rows * maxCtx > 256 * 1024) continue;
            std::vector<Seq> seqs;
            for (int i = 0; i < rows; i++) seqs.push_back({1, rnd(0, maxCtx - 1)});
            if (rows == 1) seqs[0].cached = maxCtx - 1;
            check_batch(Shape{128, 32, 8, 64, 0, false, 0}, seqs, seed++, rows <= 7);
            check_batch(Shape{64, 8, 8, 16, 0, false, 0}, seqs, seed++);
            check_batch(Shape{80, 32, 4, 16, maxCtx > 64 ? 500 : 0, true, 0}, seqs, seed++);
            check_batch(Shape{256, 8, 4, 64, 0, false, 50}, seqs, seed++);
        }
    }
    // Shapes the decode kernel leaves to the prefill kernel (groups above 16), odd groups, head
    // sizes below 64 and between the kernels' sizes, a block size that is not a power of two.
    check_batch(Shape{128, 32, 1, 64, 0, false, 0}, {{1, 900}, {1, 5}, {40, 100}}, seed++);
    check_batch(Shape{64, 71, 1, 16, 0, true, 0}, {{1, 300}, {17, 20}}, seed++);
    check_batch(Shape{128, 28, 4, 64, 0, false, 0}, {{1, 2000}, {1, 0}, {99, 1}}, seed++);
    check_batch(Shape{128, 28, 4, 64, 0, false, 0}, {{1, 2000}, {1, 3}}, seed++);
    check_batch(Shape{32, 4, 1, 4, 5, false, 0}, {{1, 37}, {21, 11}}, seed++);
    check_batch(Shape{112, 16, 2, 16, 0, false, 0}, {{1, 333}, {50, 60}}, seed++);
    check_batch(Shape{160, 8, 8, 24, 0, false, 0}, {{1, 100}, {30, 70}}, seed++);
    printf("%d of %d checks passed\n", g_checks - g_failures, g_checks);
}

// ---------------------------------------------------------------------------------------------
// Timing

struct Timer {
    cudaEvent_t a, b;
    Timer() {
        cudaEventCreate(&a);
        cudaEventCreate(&b);
    }
    template <typename F>
    double us(F f, int iters) {
        for (int i = 0; i < 3; i++) f(i);
        CUDA_OK(cudaDeviceSynchronize());
        cudaEventRecord(a);
        for (int i = 0; i < iters; i++) f(i);
        cudaEventRecord(b);
        CUDA_OK(cudaEventSynchronize(b));
        float ms;
        cudaEventElapsedTime(&ms, a, b);
        CUDA_OK(cudaGetLastError());
        return 1e3 * ms / iters;
    }
};

static void bench_prefill() {
    // 256 sequences of 256 prompt tokens, three per 768-token step (86 steps), as the engine
    // schedules them; one layer's cache.
    Shape sh{128, 32, 8, 64, 0, false, 0};
    const int seqsTotal = 256, len = 256, perStep = 768 / len;
    std::vector<Batch> steps;
    Batch all;
    std::vector<Seq> every(seqsTotal, Seq{len, 0});
    build(all, sh, every, 11, false);
    long long kn = (long long) all.numBlocks * sh.blockSize * sh.kvHeads * sh.headDim;
    bf16 *k, *v, *q, *out;
    CUDA_OK(cudaMalloc(&k, kn * 2));
    CUDA_OK(cudaMalloc(&v, kn * 2));
    CUDA_OK(cudaMalloc(&q, 768LL * sh.heads * sh.headDim * 2));
    CUDA_OK(cudaMalloc(&out, 768LL * sh.heads * sh.headDim * 2));
    random_fill(k, kn, 1, 1.0f);
    random_fill(v, kn, 2, 1.0f);
    random_fill(q, 768LL * sh.heads * sh.headDim, 3, 1.0f);
    double flops = 0;
    for (int s0 = 0; s0 < seqsTotal; s0 += perStep) {
        Batch b;
        int n = std::min(perStep, seqsTotal - s0);
        build(b, sh, std::vector<Seq>(n, Seq{len, 0}), 100 + s0, false);
        // Point the step's tables at the sequences' blocks in the shared cache.
        for (int s = 0; s < n; s++) {
            for (int i = 0; i < b.stride; i++) b.hTables[s * b.stride + i] = all.hTables[(s0 + s) * all.stride + i];
        }
        CUDA_OK(cudaMemcpy(b.tables, b.hTables.data(), b.hTables.size() * 4, cudaMemcpyHostToDevice));
        b.q = q;
        b.out = out;
        for (int p : b.hPositions) flops += 4.0 * sh.headDim * sh.heads * (p + 1);
        steps.push_back(b);
    }
    float* partial;
    int chunks = (len + 31) / 32;
    CUDA_OK(cudaMalloc(&partial, 768LL * sh.heads * chunks * (sh.headDim + 2) * 4));
    Timer t;
    double oldUs = t.us([&](int) { for (Batch& b : steps) launch_baseline(b, k, v, partial, chunks); }, 3);
    double newUs = t.us([&](int) { for (Batch& b : steps) launch_auto(b, k, v); }, 10);
    printf("prefill 256 x 256 tokens in %zu steps of 768 rows, one layer: previous %9.1f us (%6.1f TFLOP/s), "
           "current %8.1f us (%6.1f TFLOP/s): %.1fx; x32 layers: %.1f ms -> %.1f ms\n",
           steps.size(), oldUs, flops / oldUs * 1e-6, newUs, flops / newUs * 1e-6, oldUs / newUs, oldUs * 32e-3,
           newUs * 32e-3);
    for (Batch& b : steps) {
        b.q = nullptr;
        b.out = nullptr;
        release(b);
    }
    release(all);
    cudaFree(k);
    cudaFree(v);
    cudaFree(q);
    cudaFree(out);
    cudaFree(partial);
}

// Decode of `rows` rows over `ctx` keys each (the row's own key included). Several layers' caches
// are cycled so that the cache is read from memory, not L2.
static void bench_decode(int rows, int ctx) {
    Shape sh{128, 32, 8, 64, 0, false, 0};
    Batch b;
    build(b, sh, std::vector<Seq>(rows, Seq{1, ctx - 1}), 21 + rows, false);
    long long kn = (long long) b.numBlocks * sh.blockSize * sh.kvHeads * sh.headDim;
    double bytes = 4.0 * rows * ctx * sh.kvHeads * sh.headDim;  // K and V, BF16
    int layers = (int) std::min<double>(32, std::max<double>(2, std::ceil(256e6 / bytes)));
    std::vector<bf16*> ks(layers), vs(layers);
    for (int l = 0; l < layers; l++) {
        CUDA_OK(cudaMalloc(&ks[l], kn * 2));
        CUDA_OK(cudaMalloc(&vs[l], kn * 2));
        random_fill(ks[l], kn, 5 + l, 1.0f);
        random_fill(vs[l], kn, 50 + l, 1.0f);
    }
    CUDA_OK(cudaMalloc(&b.q, (size_t) rows * sh.heads * sh.headDim * 2));
    CUDA_OK(cudaMalloc(&b.out, (size_t) rows * sh.heads * sh.headDim * 2));
    random_fill(b.q, (long long) rows * sh.heads * sh.headDim, 9, 1.0f);
    int chunks = (ctx + 31) / 32;
    // A graph of the previous kernel covered its block tables' capacity (a power of two of blocks).
    int capBlocks = 1;
    while (capBlocks < b.stride) capBlocks <<= 1;
    int graphChunks = (capBlocks * sh.blockSize + 31) / 32;
    b.partialFloats = (size_t) rows * sh.heads * std::max(64, graphChunks) * (sh.headDim + 2);
    CUDA_OK(cudaMalloc(&b.partial, b.partialFloats * 4));
    Timer t;
    int iters = rows * ctx > 100000 ? 50 : 200;
    double oldUs = t.us([&](int i) { launch_baseline(b, ks[i % layers], vs[i % layers], b.partial, chunks); }, iters);
    double oldGraphUs =
        t.us([&](int i) { launch_baseline(b, ks[i % layers], vs[i % layers], b.partial, graphChunks); }, iters);
    int c;
    decode_stages(128, &c);
    int splits = decode_splits(rows, sh.kvHeads, ctx, c);
    double newUs = t.us([&](int i) { launch_auto(b, ks[i % layers], vs[i % layers]); }, iters);
    printf("decode %3d row%s x %4d keys: previous %8.1f us (%6.0f GB/s; %8.1f us with its graph's %d chunks), "
           "current %7.1f us (%6.0f GB/s, %d split%s): %.1fx\n",
           rows, rows == 1 ? " " : "s", ctx, oldUs, bytes / oldUs * 1e-3, oldGraphUs, graphChunks, newUs,
           bytes / newUs * 1e-3, splits, splits == 1 ? "" : "s", oldUs / newUs);
    int tries[] = {1, 2, 4, 8, 16, 32, 64};
    printf("    current kernel by splits:");
    for (int s : tries) {
        if (s > (ctx + 63) / 64) break;
        double us = t.us([&](int i) { launch_auto(b, ks[i % layers], vs[i % layers], s); }, iters);
        printf("  %d: %.1f us", s, us);
    }
    printf("\n");
    for (int l = 0; l < layers; l++) {
        cudaFree(ks[l]);
        cudaFree(vs[l]);
    }
    release(b);
}

int main(int argc, char** argv) {
    bool check = true, bench = true;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--check-only")) bench = false;
        else if (!strcmp(argv[i], "--bench-only")) check = false;
    }
    int dev = 0;
    cudaDeviceProp prop;
    CUDA_OK(cudaGetDeviceProperties(&prop, dev));
    CUDA_OK(cudaDeviceGetAttribute(&g_sms, cudaDevAttrMultiProcessorCount, dev));
    CUDA_OK(cudaDeviceGetAttribute(&g_smemOptin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    CUDA_OK(cudaDeviceGetAttribute(&g_smemPerSm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, dev));
    printf("%s (sm_%d%d, %d SMs, %d KB shared memory per block)\n", prop.name, prop.major, prop.minor, g_sms,
           g_smemOptin / 1024);
    allow_smem();
    if (check) checks();
    if (bench) {
        printf("== timings at Llama-3-8B's shape (32/8 heads, head size 128, 64-token blocks) ==\n");
        bench_prefill();
        bench_decode(1, 256);
        bench_decode(1, 4096);
        bench_decode(256, 384);
    }
    if (g_failures > 0) {
        printf("FAILED: %d of %d checks\n", g_failures, g_checks);
        return 1;
    }
    return 0;
}
