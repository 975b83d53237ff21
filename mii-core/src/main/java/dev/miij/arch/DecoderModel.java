package dev.miij.arch;

import dev.miij.MiiException;
import dev.miij.backend.Backend;
import dev.miij.backend.KvCache;
import dev.miij.backend.RaggedBatch;
import dev.miij.backend.SamplingParams;
import dev.miij.backend.Tensor;
import dev.miij.backend.Weight;
import dev.miij.model.TensorData;
import dev.miij.model.WeightSource;

/**
 * The decoder-only transformer forward pass, once for every family: the {@link TransformerSpec}
 * says which optional pieces (biases, q/k norms, sliding window, experts) are present, the
 * {@link Backend} does the arithmetic.
 */
public final class DecoderModel implements AutoCloseable {

    private final TransformerSpec spec;
    private final Backend backend;
    private final Weight embed;
    private final Weight lmHead;
    private final Tensor finalNorm;
    private final Layer[] layers;

    /** One decoder block's weights; absent optional pieces are null. */
    private record Layer(Tensor attnNorm, Tensor mlpNorm, Weight q, Weight k, Weight v, Tensor qBias, Tensor kBias,
                         Tensor vBias, Tensor qNorm, Tensor kNorm, Weight o, Weight gate, Weight up, Weight down,
                         Weight router, Expert[] experts) {

        Weight[] qkv() {
            return new Weight[] {q, k, v};
        }

        Tensor[] qkvBias() {
            return qBias == null && kBias == null && vBias == null ? null : new Tensor[] {qBias, kBias, vBias};
        }

        Weight[] gateUp() {
            return new Weight[] {gate, up};
        }
    }

    private record Expert(Weight gate, Weight up, Weight down) {
    }

    public DecoderModel(TransformerSpec spec, WeightSource source, Backend backend) {
        this.spec = spec;
        this.backend = backend;
        WeightNames n = spec.weights();
        this.embed = backend.weight(tensor(source, n.embed(), spec.vocabSize(), spec.hiddenSize()));
        boolean tied = spec.tiedEmbeddings() || !source.contains(n.lmHead());
        this.lmHead = tied ? embed : backend.weight(tensor(source, n.lmHead(), spec.vocabSize(), spec.hiddenSize()));
        this.finalNorm = backend.parameter(source.get(n.finalNorm()));
        this.layers = new Layer[spec.numLayers()];
        for (int l = 0; l < layers.length; l++) {
            layers[l] = loadLayer(source, l);
        }
    }

    private Layer loadLayer(WeightSource src, int l) {
        WeightNames n = spec.weights();
        int h = spec.hiddenSize();
        TensorData q;
        TensorData k;
        TensorData v;
        if (n.qkv() != null) {
            TensorData qkv = tensor(src, WeightNames.at(n.qkv(), l, ".weight"), spec.qDim() + 2 * spec.kvDim(), h);
            q = qkv.sliceRows(0, spec.qDim());
            k = qkv.sliceRows(spec.qDim(), spec.qDim() + spec.kvDim());
            v = qkv.sliceRows(spec.qDim() + spec.kvDim(), spec.qDim() + 2 * spec.kvDim());
        } else {
            q = tensor(src, WeightNames.at(n.q(), l, ".weight"), spec.qDim(), h);
            k = tensor(src, WeightNames.at(n.k(), l, ".weight"), spec.kvDim(), h);
            v = tensor(src, WeightNames.at(n.v(), l, ".weight"), spec.kvDim(), h);
        }
        Tensor qb = null;
        Tensor kb = null;
        Tensor vb = null;
        if (spec.attentionBias()) {
            qb = backend.parameter(src.get(WeightNames.at(n.q(), l, ".bias")));
            kb = backend.parameter(src.get(WeightNames.at(n.k(), l, ".bias")));
            vb = backend.parameter(src.get(WeightNames.at(n.v(), l, ".bias")));
        }
        Tensor qNorm = spec.qkNorm() ? backend.parameter(src.get(WeightNames.at(n.qNorm(), l, ""))) : null;
        Tensor kNorm = spec.qkNorm() ? backend.parameter(src.get(WeightNames.at(n.kNorm(), l, ""))) : null;
        Weight o = backend.weight(tensor(src, WeightNames.at(n.o(), l, ".weight"), h, spec.qDim()));
        int inter = spec.intermediateSize();
        Weight gate = null;
        Weight up = null;
        Weight down = null;
        Weight router = null;
        Expert[] experts = null;
        if (spec.isMoe()) {
            router = backend.weight(tensor(src, WeightNames.at(n.router(), l, ".weight"), spec.numExperts(), h));
            experts = new Expert[spec.numExperts()];
            for (int e = 0; e < experts.length; e++) {
                experts[e] = new Expert(
                        backend.weight(tensor(src, WeightNames.at(n.expertGate(), l, e, ".weight"), inter, h)),
                        backend.weight(tensor(src, WeightNames.at(n.expertUp(), l, e, ".weight"), inter, h)),
                        backend.weight(tensor(src, WeightNames.at(n.expertDown(), l, e, ".weight"), h, inter)));
            }
        } else {
            if (n.gateUp() != null) {
                TensorData gu = tensor(src, WeightNames.at(n.gateUp(), l, ".weight"), 2 * inter, h);
                gate = backend.weight(gu.sliceRows(0, inter));
                up = backend.weight(gu.sliceRows(inter, 2 * inter));
            } else {
                gate = backend.weight(tensor(src, WeightNames.at(n.gate(), l, ".weight"), inter, h));
                up = backend.weight(tensor(src, WeightNames.at(n.up(), l, ".weight"), inter, h));
            }
            down = backend.weight(tensor(src, WeightNames.at(n.down(), l, ".weight"), h, inter));
        }
        return new Layer(backend.parameter(src.get(WeightNames.at(n.attnNorm(), l, ""))),
                backend.parameter(src.get(WeightNames.at(n.mlpNorm(), l, ""))),
                backend.weight(q), backend.weight(k), backend.weight(v), qb, kb, vb, qNorm, kNorm, o, gate, up, down,
                router, experts);
    }

    /** Fetches a 2-D tensor and checks its shape against the config, naming both on mismatch. */
    private static TensorData tensor(WeightSource src, String name, int rows, int cols) {
        TensorData t = src.get(name);
        if (t.rank() != 2 || t.rows() != rows || t.cols() != cols) {
            throw MiiException.corrupt("tensor " + name + " has shape " + java.util.Arrays.toString(t.shape())
                    + " but config.json implies [" + rows + ", " + cols + "]");
        }
        if (!t.dtype().isSupportedWeightType()) {
            throw MiiException.unsupported("tensor " + name + " is " + t.dtype() + "; MII-J runs F32, F16 and BF16 weights");
        }
        return t;
    }

    public TransformerSpec spec() {
        return spec;
    }

    public Backend backend() {
        return backend;
    }

    /** Allocates a KV cache for this model. */
    public KvCache newKvCache(int numBlocks, int blockSize) {
        return backend.allocateKvCache(spec.numLayers(), spec.numKvHeads(), spec.headDim(), numBlocks, blockSize);
    }

    /** Bytes of one KV block of {@code blockSize} tokens. */
    public long kvBlockBytes(int blockSize) {
        return backend.kvBlockBytes(spec.numLayers(), spec.numKvHeads(), spec.headDim(), blockSize);
    }

    /** Bytes of weights read for one token (every matrix once; the embedding row is negligible). */
    public long weightBytesPerToken() {
        long total = lmHead.byteSize();
        for (Layer l : layers) {
            total += l.q.byteSize() + l.k.byteSize() + l.v.byteSize() + l.o.byteSize();
            if (l.experts != null) {
                total += l.router.byteSize() + (long) spec.expertsPerToken()
                        * (l.experts[0].gate.byteSize() + l.experts[0].up.byteSize() + l.experts[0].down.byteSize());
            } else {
                total += l.gate.byteSize() + l.up.byteSize() + l.down.byteSize();
            }
        }
        return total;
    }

    /**
     * Runs one step: writes the batch's keys and values into {@code cache} and returns the logits of
     * {@code batch.logitRows()}, {@code vocabSize} floats per row, in that order. For perplexity and
     * tests; serving uses {@link #forward(RaggedBatch, KvCache, SamplingParams[], int[])}.
     */
    public float[] forward(RaggedBatch batch, KvCache cache) {
        backend.beginStep(batch, null);
        Tensor logits = logits(batch, cache);
        return logits == null ? new float[0] : backend.toHost(logits);
    }

    /**
     * Runs one step and chooses the next token of each of {@code batch.logitRows()}, row {@code i}
     * as {@code sampling[i]} says ({@code eosIds} masked where it suppresses end of sequence). Only
     * the token ids leave the backend.
     */
    public int[] forward(RaggedBatch batch, KvCache cache, SamplingParams[] sampling, int[] eosIds) {
        if (sampling.length != batch.logitRows().length) {
            throw new IllegalArgumentException(sampling.length + " sampling rows for " + batch.logitRows().length + " logit rows");
        }
        backend.beginStep(batch, sampling);
        Tensor logits = logits(batch, cache);
        return logits == null ? new int[0] : backend.sample(logits, sampling, eosIds);
    }

    /** The forward pass proper, once the backend's step has begun; null when no logits are wanted. */
    private Tensor logits(RaggedBatch batch, KvCache cache) {
        int rows = batch.numRows();
        int hidden = spec.hiddenSize();
        int headDim = spec.headDim();
        Backend b = backend;

        Tensor x = b.allocate(rows, hidden);
        Tensor h = b.allocate(rows, hidden);
        Tensor q = b.allocate(rows, spec.qDim());
        Tensor k = b.allocate(rows, spec.kvDim());
        Tensor v = b.allocate(rows, spec.kvDim());
        Tensor attn = b.allocate(rows, spec.qDim());
        Tensor gate = b.allocate(rows, spec.intermediateSize());
        Tensor up = b.allocate(rows, spec.intermediateSize());
        int half = spec.rope().rotaryDim() / 2;
        Tensor[] rope = half > 0 ? b.ropeTables(spec.rope(), batch) : null;
        float scale = (float) (1.0 / Math.sqrt(headDim));

        b.embed(embed, batch.tokens(), x);
        for (int l = 0; l < layers.length; l++) {
            Layer layer = layers[l];
            // Attention block: pre-norm, project, (q/k norm), rotate, cache, attend, project back.
            b.rmsNorm(x, layer.attnNorm, spec.normEps(), h);
            b.matmul(h, layer.qkv(), layer.qkvBias(), new Tensor[] {q, k, v});
            if (spec.qkNorm()) {
                b.rmsNorm(q.view(rows * spec.numHeads(), headDim), layer.qNorm, spec.normEps(), q.view(rows * spec.numHeads(), headDim));
                b.rmsNorm(k.view(rows * spec.numKvHeads(), headDim), layer.kNorm, spec.normEps(), k.view(rows * spec.numKvHeads(), headDim));
            }
            if (half > 0) {
                b.rope(q, headDim, rope[0], rope[1]);
                b.rope(k, headDim, rope[0], rope[1]);
            }
            b.storeKv(cache, l, k, v, batch);
            b.attention(cache, l, q, batch, spec.numHeads(), spec.numKvHeads(), headDim, spec.slidingWindow(), scale, attn);
            b.matmul(attn, layer.o, null, h);
            b.add(x, h);

            // MLP block: pre-norm, gated activation (dense or routed to experts), residual.
            b.rmsNorm(x, layer.mlpNorm, spec.normEps(), h);
            if (layer.experts == null) {
                b.matmul(h, layer.gateUp(), null, new Tensor[] {gate, up});
                b.activationMul(spec.activation(), gate, up, gate);
                b.matmul(gate, layer.down, null, h);
                b.add(x, h);
            } else {
                moe(layer, h, x, rows);
            }
        }
        int[] logitRows = batch.logitRows();
        if (logitRows.length == 0) {
            return null;
        }
        Tensor last = b.allocate(logitRows.length, hidden);
        b.gatherRows(x, logitRows, last);
        b.rmsNorm(last, finalNorm, spec.normEps(), last);
        Tensor logits = b.allocate(logitRows.length, spec.vocabSize());
        b.matmul(last, lmHead, null, logits);
        return logits;
    }

    /**
     * Mixture of experts: softmax over the router's logits, keep each row's top-k experts
     * (renormalised when the spec says so), run each expert once over all rows routed to it, and
     * add the weighted outputs into the residual stream.
     */
    private void moe(Layer layer, Tensor normed, Tensor residual, int rows) {
        Backend b = backend;
        int experts = spec.numExperts();
        int topK = spec.expertsPerToken();
        Tensor routerLogits = b.allocate(rows, experts);
        b.matmul(normed, layer.router, null, routerLogits);
        float[] logits = b.toHost(routerLogits);
        int[][] chosen = new int[experts][rows];
        float[][] weights = new float[experts][rows];
        int[] counts = new int[experts];
        double[] p = new double[experts];
        for (int r = 0; r < rows; r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int e = 0; e < experts; e++) {
                max = Math.max(max, logits[r * experts + e]);
            }
            double sum = 0;
            for (int e = 0; e < experts; e++) {
                p[e] = Math.exp(logits[r * experts + e] - max);
                sum += p[e];
            }
            boolean[] taken = new boolean[experts];
            int[] top = new int[topK];
            double topSum = 0;
            for (int t = 0; t < topK; t++) {
                int best = -1;
                for (int e = 0; e < experts; e++) {
                    if (!taken[e] && (best < 0 || p[e] > p[best])) {
                        best = e;
                    }
                }
                taken[best] = true;
                top[t] = best;
                topSum += p[best] / sum;
            }
            for (int e : top) {
                double w = p[e] / sum;
                if (spec.normalizeTopK()) {
                    w /= topSum;
                }
                chosen[e][counts[e]] = r;
                weights[e][counts[e]++] = (float) w;
            }
        }
        for (int e = 0; e < experts; e++) {
            int n = counts[e];
            if (n == 0) {
                continue;
            }
            int[] idx = java.util.Arrays.copyOf(chosen[e], n);
            Expert ex = layer.experts[e];
            Tensor in = b.allocate(n, spec.hiddenSize());
            Tensor g = b.allocate(n, spec.intermediateSize());
            Tensor u = b.allocate(n, spec.intermediateSize());
            Tensor out = b.allocate(n, spec.hiddenSize());
            b.gatherRows(normed, idx, in);
            b.matmul(in, new Weight[] {ex.gate, ex.up}, null, new Tensor[] {g, u});
            b.activationMul(spec.activation(), g, u, g);
            b.matmul(g, ex.down, null, out);
            b.scatterAddRows(out, idx, java.util.Arrays.copyOf(weights[e], n), residual);
        }
    }

    @Override
    public void close() {
        backend.close();
    }
}
