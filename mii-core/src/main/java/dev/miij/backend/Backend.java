package dev.miij.backend;

import dev.miij.MiiException;
import dev.miij.arch.Rope;
import dev.miij.arch.TransformerSpec.Activation;
import dev.miij.model.TensorData;

/**
 * What a device must provide to run the decoder forward pass: memory for weights, activations and
 * the paged KV cache, and a dozen operations over them. The forward pass itself
 * ({@link dev.miij.arch.DecoderModel}) is written once against this interface.
 *
 * <p>Operations may run asynchronously (a GPU backend enqueues them on a stream); only
 * {@link #toHost} waits for results. All activations are FP32 row-major {@link Tensor}s.
 */
public interface Backend extends AutoCloseable {

    String name();

    /** A weight matrix {@code [out, in]} from checkpoint bytes (F32, F16 or BF16). */
    Weight weight(TensorData matrix);

    /** A small parameter (norm weight, bias) as a 1 x n FP32 tensor. */
    Tensor parameter(TensorData vector);

    /**
     * Marks the start of a forward step. Activations from {@link #allocate} during the previous step
     * are dead from here on, so a backend may hand their memory out again (a GPU backend keeps one
     * workspace instead of allocating device memory every step). Parameters and weights are unaffected.
     */
    default void beginStep() {
    }

    /**
     * {@link #beginStep()} for a step over {@code batch} that ends in {@link #sample} with
     * {@code sampling} (one entry per logit row), or in {@link #toHost} of the logits when
     * {@code sampling} is null. Knowing the whole step up front lets a GPU backend upload its metadata
     * in one copy and replay a captured graph for it.
     */
    default void beginStep(RaggedBatch batch, SamplingParams[] sampling) {
        beginStep();
    }

    /**
     * Whether the engine should run the forward pass at start-up until the step time settles
     * ({@link dev.miij.engine.EngineConfig#warmup}): true where the kernels are Java code that runs
     * far slower until the JIT has compiled it (the CPU backend's Vector API kernels). False by default.
     */
    default boolean needsWarmup() {
        return false;
    }

    /** An uninitialised FP32 activation. */
    Tensor allocate(int rows, int cols);

    /** A tensor holding a copy of {@code data} (rows * cols floats). */
    Tensor upload(float[] data, int rows, int cols);

    /** A paged KV cache for {@code layers} layers of {@code kvHeads x headDim} keys and values. */
    KvCache allocateKvCache(int layers, int kvHeads, int headDim, int numBlocks, int blockSize);

    /** Bytes one KV block takes, for sizing the cache from a memory budget. */
    long kvBlockBytes(int layers, int kvHeads, int headDim, int blockSize);

    /**
     * Bytes the KV cache may take on this backend's device: {@code memoryUtilization} of the device's
     * memory less what this backend already holds (weights, and the activations of the largest step
     * run so far, so the engine runs a warm-up step first). -1 where the cache lives on the Java
     * heap and the engine sizes it itself (the CPU backend).
     */
    default long kvCacheBudget(double memoryUtilization) {
        return -1;
    }

    /** {@code out[r] = table[tokens[r]]}, converted to FP32. */
    void embed(Weight table, int[] tokens, Tensor out);

    /**
     * Lookup in a vocabulary slice (tensor parallelism): {@code table} holds the rows of tokens
     * {@code firstToken} to {@code firstToken + table.outDim() - 1}; the rows of other tokens are
     * zero. The default looks up the tokens in the slice and zeroes the rest with {@code x - x}.
     */
    default void embed(Weight table, int firstToken, int[] tokens, Tensor out) {
        int[] local = new int[tokens.length];
        int outside = 0;
        for (int r = 0; r < tokens.length; r++) {
            local[r] = tokens[r] - firstToken;
            if (local[r] < 0 || local[r] >= table.outDim()) {
                local[r] = 0;
                outside++;
            }
        }
        embed(table, local, out);
        if (outside == 0) {
            return;
        }
        int[] rows = new int[outside];
        for (int r = 0, i = 0; r < tokens.length; r++) {
            int t = tokens[r] - firstToken;
            if (t < 0 || t >= table.outDim()) {
                rows[i++] = r;
            }
        }
        Tensor copy = allocate(outside, out.cols());
        gatherRows(out, rows, copy);
        float[] minusOne = new float[outside];
        java.util.Arrays.fill(minusOne, -1f);
        scatterAddRows(copy, rows, minusOne, out);
    }

    /**
     * Learned absolute positions: {@code out[r] = table[batch.positions()[r] + offset]}, converted to
     * FP32 ({@code offset} is the row of position 0, 2 for OPT). A device backend reads the
     * positions it already holds for the step; the default looks them up through {@link #embed}.
     */
    default void embedPositions(Weight table, RaggedBatch batch, int offset, Tensor out) {
        int[] p = batch.positions().clone();
        for (int i = 0; i < p.length; i++) {
            p[i] += offset;
        }
        embed(table, p, out);
    }

    /** {@code out = x W^T (+ bias)}; bias may be null. */
    void matmul(Tensor x, Weight w, Tensor bias, Tensor out);

    /**
     * Several projections of one input: {@code outs[i] = x ws[i]^T (+ biases[i])}, as for q/k/v or
     * gate/up. One call lets a backend run them as one parallel job or one grouped GEMM, which saves
     * a synchronization and the tail of each small projection; the default runs them in turn.
     * {@code biases} may be null, or hold nulls.
     */
    default void matmul(Tensor x, Weight[] ws, Tensor[] biases, Tensor[] outs) {
        for (int i = 0; i < ws.length; i++) {
            matmul(x, ws[i], biases == null ? null : biases[i], outs[i]);
        }
    }

    /** Row-wise RMSNorm: {@code out = x / sqrt(mean(x^2) + eps) * weight}; out may be x. */
    void rmsNorm(Tensor x, Tensor weight, float eps, Tensor out);

    /**
     * The step's rotary tables: {cos, sin}, each {@code batch.numRows() x rope.rotaryDim() / 2}, for
     * the rows' positions ({@link Rope#tables}). A GPU backend computes them on the device from the
     * positions it already holds.
     */
    default Tensor[] ropeTables(Rope rope, RaggedBatch batch) {
        int rows = batch.numRows();
        int half = rope.rotaryDim() / 2;
        float[] cos = new float[rows * half];
        float[] sin = new float[rows * half];
        rope.tables(batch.positions(), cos, sin);
        return new Tensor[] {upload(cos, rows, half), upload(sin, rows, half)};
    }

    /**
     * Row-wise LayerNorm: {@code out = (x - mean) / sqrt(var + eps) * weight + bias} (biased
     * variance, as PyTorch); bias may be null; out may be x.
     */
    default void layerNorm(Tensor x, Tensor weight, Tensor bias, float eps, Tensor out) {
        throw MiiException.unsupported("the " + name() + " backend has no LayerNorm yet; it runs RMSNorm models only");
    }

    /**
     * Final-logit soft-capping in place: {@code x = cap * tanh(x / cap)} (Gemma 2). Before sampling,
     * so that temperature and top-p see the capped logits as transformers computes them.
     */
    default void softCap(Tensor x, float cap) {
        throw MiiException.unsupported("the " + name() + " backend has no logit soft-capping yet");
    }

    /** Rotates the first {@code 2 * cos.cols()} channels of each head of each row (rotate-half pairs). */
    void rope(Tensor x, int headDim, Tensor cos, Tensor sin);

    /** Writes each row's keys and values into its KV-cache slot of layer {@code layer}. */
    void storeKv(KvCache cache, int layer, Tensor k, Tensor v, RaggedBatch batch);

    /**
     * Causal attention of each row's query heads over its sequence's cached keys and values (those
     * at positions up to its own, and within {@code slidingWindow} of it when that is positive).
     */
    void attention(KvCache cache, int layer, Tensor q, RaggedBatch batch, int numHeads, int numKvHeads, int headDim,
                   int slidingWindow, float scale, Tensor out);

    /**
     * Attention as {@link #attention(KvCache, int, Tensor, RaggedBatch, int, int, int, int, float, Tensor)}
     * with, before the softmax, each score {@code s = scale * q.k} soft-capped to
     * {@code softCap * tanh(s / softCap)} when {@code softCap > 0} (Gemma 2), then raised by
     * {@code alibiSlopes[h] * keyPosition} when {@code alibiSlopes} (one per query head) is not null
     * (ALiBi: BLOOM, Falcon-RW).
     */
    default void attention(KvCache cache, int layer, Tensor q, RaggedBatch batch, int numHeads, int numKvHeads,
                           int headDim, int slidingWindow, float scale, float[] alibiSlopes, float softCap, Tensor out) {
        if (alibiSlopes == null && softCap <= 0) {
            attention(cache, layer, q, batch, numHeads, numKvHeads, headDim, slidingWindow, scale, out);
            return;
        }
        throw MiiException.unsupported("the " + name() + " backend has no attention with ALiBi or soft-capping yet");
    }

    /** {@code out = act(gate) * up}, element-wise. */
    void activationMul(Activation act, Tensor gate, Tensor up, Tensor out);

    /** {@code out = act(x)}, element-wise (the MLPs without a gate: OPT, GPT-2, Falcon, ...); out may be x. */
    default void activation(Activation act, Tensor x, Tensor out) {
        float[] ones = new float[x.rows() * x.cols()];
        java.util.Arrays.fill(ones, 1f);
        activationMul(act, x, upload(ones, x.rows(), x.cols()), out);
    }

    /** {@code x *= s}, element-wise. */
    default void scale(Tensor x, float s) {
        throw MiiException.unsupported("the " + name() + " backend cannot scale activations yet (Gemma's embeddings)");
    }

    /** {@code x += y}, element-wise. */
    void add(Tensor x, Tensor y);

    /**
     * {@code x[r] += sigmoid(gate[r]) * y[r]} for each row, {@code gate} being {@code rows x 1} (the
     * shared expert of Qwen1.5-MoE behind its gate). The default reads the gate back to the host
     * and adds with {@link #scatterAddRows}.
     */
    default void sigmoidGatedAdd(Tensor x, Tensor y, Tensor gate) {
        int rows = x.rows();
        float[] z = toHost(gate);
        float[] scales = new float[rows];
        int[] all = new int[rows];
        for (int r = 0; r < rows; r++) {
            scales[r] = (float) (1.0 / (1.0 + Math.exp(-z[r])));
            all[r] = r;
        }
        scatterAddRows(y, all, scales, x);
    }

    /**
     * A mixture-of-experts layer over {@code x} ({@code rows x hidden}), added into {@code residual}:
     * each row goes to its top-k experts by router softmax ({@link MoeRouting}), and their outputs,
     * weighted by the routing probabilities, are added to the row of {@code residual}.
     *
     * <p>The default routes on the host: it reads the router's logits back, then runs each expert
     * once over the rows routed to it ({@link #gatherRows}, the gated MLP, {@link #scatterAddRows}).
     * A device backend keeps the routing on the device instead.
     */
    default void moe(Tensor x, Experts experts, Tensor residual) {
        int rows = x.rows();
        int n = experts.count();
        int topK = experts.topK();
        Tensor routerLogits = allocate(rows, n);
        matmul(x, experts.router(), null, routerLogits);
        MoeRouting.Routes routes = MoeRouting.route(toHost(routerLogits), rows, n, topK, experts.normalizeTopK());
        int[][] chosen = new int[n][rows];
        float[][] weights = new float[n][rows];
        int[] counts = new int[n];
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < topK; j++) {
                int e = routes.experts()[r * topK + j];
                chosen[e][counts[e]] = r;
                weights[e][counts[e]++] = routes.weights()[r * topK + j];
            }
        }
        int width = experts.width();
        int hidden = x.cols();
        for (int e = 0; e < n; e++) {
            int count = counts[e];
            if (count == 0) {
                continue;
            }
            int[] idx = java.util.Arrays.copyOf(chosen[e], count);
            Tensor in = allocate(count, hidden);
            Tensor g = allocate(count, width);
            Tensor u = allocate(count, width);
            Tensor out = allocate(count, hidden);
            gatherRows(x, idx, in);
            matmul(in, new Weight[] {experts.gates()[e], experts.ups()[e]}, null, new Tensor[] {g, u});
            activationMul(experts.activation(), g, u, g);
            matmul(g, experts.downs()[e], null, out);
            scatterAddRows(out, idx, java.util.Arrays.copyOf(weights[e], count), residual);
        }
    }

    /** {@code out[i] = src[rows[i]]}. */
    void gatherRows(Tensor src, int[] rows, Tensor out);

    /** {@code dst[rows[i]] += scales[i] * src[i]}. */
    void scatterAddRows(Tensor src, int[] rows, float[] scales, Tensor dst);

    /**
     * Chooses each row's next token from {@code logits} ({@code rows x vocab}), row {@code i} as
     * {@code sampling[i]} says ({@link Sampler} defines the result; {@code eosIds} are masked where a
     * row suppresses end of sequence), and waits for the result. Only the token ids reach the host;
     * the default copies the logits and runs {@link Sampler}.
     */
    default int[] sample(Tensor logits, SamplingParams[] sampling, int[] eosIds) {
        float[] host = toHost(logits);
        int vocab = logits.cols();
        int[] tokens = new int[sampling.length];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = Sampler.sample(host, i * vocab, vocab, sampling[i], eosIds);
        }
        return tokens;
    }

    /**
     * {@link #sample} that also returns {@link Logprobs} for the rows whose
     * {@link SamplingParams#logprobs()} asks. When no row asks it is {@link #sample} and nothing more;
     * otherwise the default copies the logits to the host and computes both there, from the same row.
     * A device backend that samples on the device should do the same for such steps (or compute the
     * log-softmax and top-n on the device) and keep its fast path for the others.
     */
    default Sampled sampleWithLogprobs(Tensor logits, SamplingParams[] sampling, int[] eosIds) {
        if (!SamplingParams.anyWantsLogprobs(sampling)) {
            return new Sampled(sample(logits, sampling, eosIds), null);
        }
        float[] host = toHost(logits);
        int vocab = logits.cols();
        int[] tokens = new int[sampling.length];
        Logprobs[] logprobs = new Logprobs[sampling.length];
        for (int i = 0; i < tokens.length; i++) {
            tokens[i] = Sampler.sample(host, i * vocab, vocab, sampling[i], eosIds);
            if (sampling[i].wantsLogprobs()) {
                logprobs[i] = Logprobs.of(host, i * vocab, vocab, tokens[i], sampling[i].logprobs());
            }
        }
        return new Sampled(tokens, logprobs);
    }

    /** Waits for pending work and copies the tensor to the heap. */
    float[] toHost(Tensor t);

    @Override
    void close();
}
