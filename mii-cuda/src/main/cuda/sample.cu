// Sampling on the device: one CTA per logit row chooses the row's next token, exactly as the CPU
// reference (dev.miij.backend.Sampler) defines it: end-of-sequence masked while min_new_tokens is not
// reached, greedy argmax (first index on ties), or temperature, top-k, top-p over the tokens within
// e^-40 of the best, then a draw with the counter-based uniform number of (seed, step).
//
// Nothing is sorted. BF16 logits map to 16-bit keys that order like the values, so the top-k cut and
// the top-p cut are each found by a two-level radix select (a histogram of the key's high byte, then
// of the low byte inside the chosen bin). Ties at a cut keep the lowest token ids, as the CPU's
// stable order does. Probabilities are fixed point (2^-40 units, summed in 64-bit integers), so every
// sum is exact and a seeded draw is reproducible bit for bit. The draw walks the kept tokens in id
// order: a different order than the CPU's, the same distribution.
#include "common.cuh"

#define SAMPLE_THREADS 1024
#define SUB_HISTS 8
#define MAX_EOS 16

typedef unsigned long long u64;

// Per row, 8 words: flags (1 greedy, 2 mask end of sequence), temperature (float bits), topK,
// topP (float bits), seed low, seed high, step, unused. After the rows: the end-of-sequence count
// and ids.
#define PARAM_WORDS 8

__device__ __forceinline__ unsigned int bf16_key(unsigned int u) {
    return (u & 0x8000u) ? (~u & 0xFFFFu) : (u | 0x8000u);
}

__device__ __forceinline__ float key_value(unsigned int key) {
    unsigned int u = (key & 0x8000u) ? (key & 0x7FFFu) : (~key & 0xFFFFu);
    return bf16_to_float((bf16) u);
}

__device__ __forceinline__ u64 splitmix_finalise(u64 z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// The same number as SamplingParams.uniform(seed, step).
__device__ __forceinline__ double counter_uniform(u64 seed, u64 step) {
    u64 z = splitmix_finalise(splitmix_finalise(seed) + step * 0x9E3779B97F4A7C15ull);
    return (double) (z >> 11) * 1.1102230246251565e-16;
}

struct SampleShared {
    unsigned int count[SUB_HISTS][256];
    u64 mass[SUB_HISTS][256];
    u64 scan[32];
    unsigned int keys[32];
    int ids[32];
    int eos[MAX_EOS];
    int numEos;
    unsigned int found;
    u64 above;
};

// Block-wide sum of a 64-bit value; every thread gets it.
__device__ u64 block_sum_u64(u64 v, SampleShared& sh) {
    for (int o = 16; o > 0; o >>= 1) {
        v += __shfl_xor_sync(0xffffffffu, v, o);
    }
    __syncthreads();
    if ((threadIdx.x & 31) == 0) {
        sh.scan[threadIdx.x >> 5] = v;
    }
    __syncthreads();
    u64 t = 0;
    for (int w = 0; w < (int) (blockDim.x >> 5); w++) {
        t += sh.scan[w];
    }
    __syncthreads();
    return t;
}

// Exclusive prefix over threads in index order of a 64-bit value.
__device__ u64 block_exclusive_u64(u64 v, SampleShared& sh) {
    int lane = threadIdx.x & 31;
    u64 inc = v;
    for (int o = 1; o < 32; o <<= 1) {
        u64 n = __shfl_up_sync(0xffffffffu, inc, o);
        if (lane >= o) {
            inc += n;
        }
    }
    __syncthreads();
    if (lane == 31) {
        sh.scan[threadIdx.x >> 5] = inc;
    }
    __syncthreads();
    u64 base = 0;
    for (int w = 0; w < (int) (threadIdx.x >> 5); w++) {
        base += sh.scan[w];
    }
    __syncthreads();
    return base + inc - v;
}

__device__ __forceinline__ void clear_hists(SampleShared& sh) {
    for (int i = threadIdx.x; i < SUB_HISTS * 256; i += blockDim.x) {
        (&sh.count[0][0])[i] = 0;
        (&sh.mass[0][0])[i] = 0;
    }
    __syncthreads();
}

// Folds the sub-histograms into the first one.
__device__ __forceinline__ void merge_hists(SampleShared& sh) {
    __syncthreads();
    for (int b = threadIdx.x; b < 256; b += blockDim.x) {
        unsigned int c = 0;
        u64 m = 0;
        for (int s = 0; s < SUB_HISTS; s++) {
            c += sh.count[s][b];
            m += sh.mass[s][b];
        }
        sh.count[0][b] = c;
        sh.mass[0][b] = m;
    }
    __syncthreads();
}

// Scanning bins from 255 down with weight w(b), finds the bin where the running total first reaches
// `target` (>= 1): sh.found = that bin, sh.above = the total of the bins above it. Warp 0 does it;
// w(b) must be readable by it. Bin 0 when the target is never reached.
template <typename W>
__device__ void find_bin_from_top(u64 target, W w, SampleShared& sh) {
    if (threadIdx.x < 32) {
        int lane = threadIdx.x;
        u64 own = 0;
        for (int i = 0; i < 8; i++) {
            own += w(255 - 8 * lane - i);
        }
        u64 inc = own;
        for (int o = 1; o < 32; o <<= 1) {
            u64 n = __shfl_up_sync(0xffffffffu, inc, o);
            if (lane >= o) {
                inc += n;
            }
        }
        unsigned int reached = __ballot_sync(0xffffffffu, inc >= target);
        int first = reached ? __ffs(reached) - 1 : 31;
        if (lane == first) {
            u64 acc = inc - own;
            int bin = 255 - 8 * lane - 7;
            for (int i = 0; i < 8; i++) {
                u64 x = w(255 - 8 * lane - i);
                if (acc + x >= target) {
                    bin = 255 - 8 * lane - i;
                    break;
                }
                acc += x;
            }
            if (!reached) {
                bin = 0;
            }
            sh.found = bin;
            sh.above = acc;
        }
    }
    __syncthreads();
}

// Grid: rows; block: SAMPLE_THREADS. logits [rows, vocab] BF16; tokens [rows].
extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS)
sample_tokens(const bf16* __restrict__ logits, int vocab, const int* __restrict__ params, int rows,
              int* __restrict__ tokens) {
    __shared__ SampleShared sh;
    int r = blockIdx.x;
    const int* p = params + r * PARAM_WORDS;
    int flags = p[0];
    const unsigned short* row = (const unsigned short*) logits + (long long) r * vocab;
    if (threadIdx.x == 0) {
        int n = (flags & 2) ? min(params[rows * PARAM_WORDS], MAX_EOS) : 0;
        sh.numEos = n;
        for (int i = 0; i < n; i++) {
            sh.eos[i] = params[rows * PARAM_WORDS + 1 + i];
        }
    }
    __syncthreads();
    int numEos = sh.numEos;
    // A masked token gets key 0, below every candidate.
    auto keyAt = [&](int i) -> unsigned int {
        for (int e = 0; e < numEos; e++) {
            if (sh.eos[e] == i) {
                return 0u;
            }
        }
        return bf16_key(row[i]);
    };

    // Pass 1: the best key, lowest id first.
    unsigned int bestKey = 0;
    int bestId = 0x7fffffff;
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        unsigned int k = keyAt(i);
        if (k > bestKey || (k == bestKey && i < bestId)) {
            bestKey = k;
            bestId = i;
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        unsigned int k = __shfl_xor_sync(0xffffffffu, bestKey, o);
        int id = __shfl_xor_sync(0xffffffffu, bestId, o);
        if (k > bestKey || (k == bestKey && id < bestId)) {
            bestKey = k;
            bestId = id;
        }
    }
    if ((threadIdx.x & 31) == 0) {
        sh.keys[threadIdx.x >> 5] = bestKey;
        sh.ids[threadIdx.x >> 5] = bestId;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        for (int w = 1; w < (int) (blockDim.x >> 5); w++) {
            if (sh.keys[w] > sh.keys[0] || (sh.keys[w] == sh.keys[0] && sh.ids[w] < sh.ids[0])) {
                sh.keys[0] = sh.keys[w];
                sh.ids[0] = sh.ids[w];
            }
        }
    }
    __syncthreads();
    bestKey = sh.keys[0];
    bestId = sh.ids[0];
    if (flags & 1) {
        if (threadIdx.x == 0) {
            tokens[r] = bestId;
        }
        return;
    }

    float temperature = __int_as_float(p[1]);
    int topK = p[2];
    float topP = __int_as_float(p[3]);
    u64 seed = ((u64) (unsigned int) p[5] << 32) | (unsigned int) p[4];
    float maxLogit = key_value(bestKey);
    float floorLogit = maxLogit - 40.0f * temperature;
    // Fixed-point probability relative to the best token; a function of the key alone.
    auto weight = [&](unsigned int key) -> u64 {
        return (u64) __double2ull_rn((double) expf((key_value(key) - maxLogit) / temperature) * 1099511627776.0);
    };
    auto candidate = [&](unsigned int key) -> bool {
        return key != 0u && key_value(key) >= floorLogit;
    };
    unsigned int* subCount = sh.count[(threadIdx.x >> 5) % SUB_HISTS];
    u64* subMass = sh.mass[(threadIdx.x >> 5) % SUB_HISTS];

    // Pass 2: count and mass of the candidates by high byte.
    clear_hists(sh);
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        unsigned int k = keyAt(i);
        if (candidate(k)) {
            atomicAdd(&subCount[k >> 8], 1u);
            atomicAdd(&subMass[k >> 8], weight(k));
        }
    }
    merge_hists(sh);
    __shared__ unsigned int hiCount[256];
    __shared__ u64 hiMass[256];
    for (int b = threadIdx.x; b < 256; b += blockDim.x) {
        hiCount[b] = sh.count[0][b];
        hiMass[b] = sh.mass[0][b];
    }
    __syncthreads();
    u64 n = 0;
    for (int b = 0; b < 256; b++) {
        n += hiCount[b];
    }
    u64 keepK = topK > 0 && (u64) topK < n ? (u64) topK : n;

    // Top-k cut: the key kKey of the keepK-th token and how many tokens of that key are kept.
    find_bin_from_top(keepK, [&](int b) { return (u64) hiCount[b]; }, sh);
    unsigned int kHi = sh.found;
    u64 countAboveHi = sh.above;
    u64 massAboveHi = 0;
    for (int b = kHi + 1; b < 256; b++) {
        massAboveHi += hiMass[b];
    }
    __syncthreads();
    // Pass 3: counts by low byte inside the cut's high bin.
    clear_hists(sh);
    for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
        unsigned int k = keyAt(i);
        if ((k >> 8) == kHi && candidate(k)) {
            atomicAdd(&subCount[k & 255u], 1u);
        }
    }
    merge_hists(sh);
    __shared__ unsigned int loCount[256];
    for (int b = threadIdx.x; b < 256; b += blockDim.x) {
        loCount[b] = sh.count[0][b];
    }
    __syncthreads();
    find_bin_from_top(keepK - countAboveHi, [&](int b) { return (u64) loCount[b]; }, sh);
    unsigned int kKey = (kHi << 8) | sh.found;
    u64 kNeed = keepK - countAboveHi - sh.above;
    u64 massAboveK = massAboveHi;
    for (int b = (int) (kKey & 255u) + 1; b < 256; b++) {
        massAboveK += (u64) loCount[b] * weight((kHi << 8) | b);
    }
    u64 kept = massAboveK + kNeed * weight(kKey);
    __syncthreads();

    // Top-p cut inside the top-k set: the smallest most-likely prefix whose mass reaches topP.
    unsigned int cutKey = kKey;
    u64 cutNeed = kNeed;
    u64 cutAbove = massAboveK;
    if (topP < 1.0f) {
        u64 target = (u64) ceil((double) topP * (double) kept);
        target = target < 1 ? 1 : target;
        if (target > massAboveK) {
            // Inside the top-k cut's own key.
            u64 w = weight(kKey);
            u64 j = (target - massAboveK + w - 1) / w;
            cutNeed = j < kNeed ? (j < 1 ? 1 : j) : kNeed;
        } else {
            // Mass of a high bin counting only keys above kKey.
            auto hiAbove = [&](int b) -> u64 {
                if (b < (int) kHi) {
                    return 0;
                }
                if (b > (int) kHi) {
                    return hiMass[b];
                }
                return massAboveK - massAboveHi;
            };
            find_bin_from_top(target, hiAbove, sh);
            unsigned int pHi = sh.found;
            u64 pAboveHi = sh.above;
            __syncthreads();
            if (pHi != kHi) {
                clear_hists(sh);
                for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
                    unsigned int k = keyAt(i);
                    if ((k >> 8) == pHi && candidate(k)) {
                        atomicAdd(&subCount[k & 255u], 1u);
                    }
                }
                merge_hists(sh);
                for (int b = threadIdx.x; b < 256; b += blockDim.x) {
                    loCount[b] = sh.count[0][b];
                }
                __syncthreads();
            }
            auto loMass = [&](int b) -> u64 {
                unsigned int key = (pHi << 8) | b;
                return key > kKey ? (u64) loCount[b] * weight(key) : 0;
            };
            find_bin_from_top(target - pAboveHi, loMass, sh);
            cutKey = (pHi << 8) | sh.found;
            cutAbove = pAboveHi + sh.above;
            u64 w = weight(cutKey);
            u64 j = (target - cutAbove + w - 1) / w;
            u64 group = loCount[cutKey & 255u];
            cutNeed = j < group ? (j < 1 ? 1 : j) : group;
        }
    }
    u64 total = cutAbove + cutNeed * weight(cutKey);
    u64 draw = (u64) (counter_uniform(seed, (u64) (unsigned int) p[6]) * (double) total);
    draw = draw < total ? draw : total - 1;

    // Passes 4 and 5: each thread owns a contiguous range of ids; ties at the cut are kept in id order.
    int chunk = (vocab + blockDim.x - 1) / blockDim.x;
    int from = min(vocab, (int) threadIdx.x * chunk);
    int to = min(vocab, from + chunk);
    u64 eqOwn = 0;
    for (int i = from; i < to; i++) {
        eqOwn += keyAt(i) == cutKey;
    }
    u64 eqBefore = block_exclusive_u64(eqOwn, sh);
    u64 massOwn = 0;
    u64 eqSeen = eqBefore;
    for (int i = from; i < to; i++) {
        unsigned int k = keyAt(i);
        if (k > cutKey && candidate(k)) {
            massOwn += weight(k);
        } else if (k == cutKey && eqSeen++ < cutNeed) {
            massOwn += weight(k);
        }
    }
    u64 massBefore = block_exclusive_u64(massOwn, sh);
    if (draw >= massBefore && draw < massBefore + massOwn) {
        u64 acc = massBefore;
        eqSeen = eqBefore;
        int chosen = to - 1;
        for (int i = from; i < to; i++) {
            unsigned int k = keyAt(i);
            u64 w = 0;
            if (k > cutKey && candidate(k)) {
                w = weight(k);
            } else if (k == cutKey && eqSeen++ < cutNeed) {
                w = weight(k);
            }
            acc += w;
            if (draw < acc) {
                chosen = i;
                break;
            }
        }
        tokens[r] = chosen;
    }
}
