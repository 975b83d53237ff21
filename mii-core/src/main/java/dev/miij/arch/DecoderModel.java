package dev.miij.arch;

import static dev.miij.arch.WeightNames.Role.ATTN_NORM;
import static dev.miij.arch.WeightNames.Role.DOWN;
import static dev.miij.arch.WeightNames.Role.EMBED;
import static dev.miij.arch.WeightNames.Role.EMBED_NORM;
import static dev.miij.arch.WeightNames.Role.EXPERT_DOWN;
import static dev.miij.arch.WeightNames.Role.EXPERT_GATE;
import static dev.miij.arch.WeightNames.Role.EXPERT_UP;
import static dev.miij.arch.WeightNames.Role.FINAL_NORM;
import static dev.miij.arch.WeightNames.Role.GATE;
import static dev.miij.arch.WeightNames.Role.GATE_UP;
import static dev.miij.arch.WeightNames.Role.K;
import static dev.miij.arch.WeightNames.Role.K_NORM;
import static dev.miij.arch.WeightNames.Role.LM_HEAD;
import static dev.miij.arch.WeightNames.Role.MLP_NORM;
import static dev.miij.arch.WeightNames.Role.O;
import static dev.miij.arch.WeightNames.Role.POSITIONS;
import static dev.miij.arch.WeightNames.Role.POST_ATTN_NORM;
import static dev.miij.arch.WeightNames.Role.POST_MLP_NORM;
import static dev.miij.arch.WeightNames.Role.PROJECT_IN;
import static dev.miij.arch.WeightNames.Role.PROJECT_OUT;
import static dev.miij.arch.WeightNames.Role.Q;
import static dev.miij.arch.WeightNames.Role.QKV;
import static dev.miij.arch.WeightNames.Role.Q_NORM;
import static dev.miij.arch.WeightNames.Role.ROUTER;
import static dev.miij.arch.WeightNames.Role.SHARED_DOWN;
import static dev.miij.arch.WeightNames.Role.SHARED_EXPERT_GATE;
import static dev.miij.arch.WeightNames.Role.SHARED_GATE;
import static dev.miij.arch.WeightNames.Role.SHARED_UP;
import static dev.miij.arch.WeightNames.Role.UP;
import static dev.miij.arch.WeightNames.Role.V;

import dev.miij.MiiException;
import dev.miij.arch.TransformerSpec.Norm;
import dev.miij.backend.Backend;
import dev.miij.backend.Experts;
import dev.miij.backend.KvCache;
import dev.miij.backend.RaggedBatch;
import dev.miij.backend.Sampled;
import dev.miij.backend.SamplingParams;
import dev.miij.backend.Tensor;
import dev.miij.backend.Weight;
import dev.miij.model.TensorData;
import dev.miij.model.WeightSource;
import dev.miij.parallel.Collective;
import dev.miij.parallel.StepBroadcast;
import dev.miij.parallel.TensorParallel;
import java.util.function.UnaryOperator;

/**
 * The decoder-only transformer forward pass, once for every family: the {@link TransformerSpec}
 * says which optional pieces (biases, norms, positions, block shape, experts) are present, the
 * {@link Backend} does the arithmetic.
 *
 * <p>Under tensor parallelism each rank loads only its slices ({@link TensorParallel}) and runs this
 * same forward pass with its local heads and widths, calling the {@link Collective} where ranks
 * exchange data: an all-reduce after the embedding, o_proj and down_proj, a gather of the logits.
 */
public final class DecoderModel implements AutoCloseable {

    private final TransformerSpec spec;
    private final Backend backend;
    private final TensorParallel tp;
    private final Collective collective;
    private StepBroadcast followers = StepBroadcast.NONE;
    private final Weight embed;
    private final Weight positions;
    private final NormWeights embedNorm;
    private final Weight projectIn;
    private final Weight projectOut;
    private final Weight lmHead;
    private final Tensor lmHeadBias;
    private final NormWeights finalNorm;
    private final Layer[] layers;
    private final float[] alibiSlopes;

    /** A norm's weight (with any offset applied) and bias (LayerNorm only; may be null). */
    private record NormWeights(Tensor weight, Tensor bias) {
    }

    /** A dense MLP (gate null when not gated); biases may be null. */
    private record Mlp(Weight gate, Weight up, Weight down, Tensor gateBias, Tensor upBias, Tensor downBias) {
    }

    /** One decoder block's weights; absent optional pieces are null. */
    private record Layer(NormWeights attnNorm, NormWeights postAttnNorm, NormWeights mlpNorm, NormWeights postMlpNorm,
                         Weight q, Weight k, Weight v, Tensor qBias, Tensor kBias, Tensor vBias, NormWeights qNorm,
                         NormWeights kNorm, Weight o, Tensor oBias, Mlp mlp, Experts experts, Mlp shared,
                         Weight sharedGate) {

        Weight[] qkv() {
            return new Weight[] {q, k, v};
        }

        Tensor[] qkvBias() {
            return qBias == null && kBias == null && vBias == null ? null : new Tensor[] {qBias, kBias, vBias};
        }
    }

    public DecoderModel(TransformerSpec spec, WeightSource source, Backend backend) {
        this(spec, source, backend, TensorParallel.single(spec), Collective.SINGLE);
    }

    /** One rank of a tensor-parallel group: its slices of the weights, and the group's collective. */
    public DecoderModel(TransformerSpec spec, WeightSource source, Backend backend, TensorParallel tp,
                        Collective collective) {
        if (tp.size() != collective.size() || tp.rank() != collective.rank()) {
            throw new IllegalArgumentException("rank " + tp.rank() + "/" + tp.size() + "'s plan with rank "
                    + collective.rank() + "/" + collective.size() + "'s collective");
        }
        this.spec = spec;
        this.backend = backend;
        this.tp = tp;
        this.collective = collective;
        Checkpoint ck = new Checkpoint(source, spec);
        WeightNames n = spec.weights();
        int h = spec.hiddenSize();
        int e = spec.embedDim();
        this.embed = backend.weight(tp.vocabRows(ck.matrix(EMBED, -1, spec.vocabSize(), e)));
        this.positions = spec.position() == TransformerSpec.Position.LEARNED
                ? backend.weight(ck.matrix(POSITIONS, -1, spec.maxPositions() + spec.positionOffset(), h)) : null;
        this.embedNorm = spec.embedNorm() ? norm(ck, EMBED_NORM, -1, h) : null;
        this.projectIn = e != h ? backend.weight(ck.matrix(PROJECT_IN, -1, h, e)) : null;
        this.projectOut = e != h ? backend.weight(ck.matrix(PROJECT_OUT, -1, e, h)) : null;
        boolean tied = spec.tiedEmbeddings() || !ck.has(LM_HEAD, -1, ".weight");
        this.lmHead = tied ? embed : backend.weight(tp.vocabRows(ck.matrix(LM_HEAD, -1, spec.vocabSize(), e)));
        this.lmHeadBias = bias(ck, spec.lmHeadBias(), LM_HEAD, -1, -1, spec.vocabSize(), tp::vocabRows);
        this.finalNorm = n.get(FINAL_NORM) != null ? norm(ck, FINAL_NORM, -1, h) : null;
        this.alibiSlopes = tp.alibiSlopes(spec.alibiSlopes());
        this.layers = new Layer[spec.numLayers()];
        for (int l = 0; l < layers.length; l++) {
            layers[l] = loadLayer(ck, l);
        }
    }

    private NormWeights norm(Checkpoint ck, WeightNames.Role role, int l, int width) {
        TensorData w = ck.vector(role, l, -1, ".weight", width);
        Tensor bias = null;
        if (spec.norm() == Norm.LAYER && ck.has(role, l, ".bias")) {
            bias = backend.parameter(ck.vector(role, l, -1, ".bias", width));
        }
        if (spec.normWeightOffset() != 0) {
            float[] f = w.toFloatArray();
            for (int i = 0; i < f.length; i++) {
                f[i] += spec.normWeightOffset();
            }
            w = Checkpoint.f32(w.name(), f);
        }
        return new NormWeights(backend.parameter(w), bias);
    }

    private Tensor bias(Checkpoint ck, boolean present, WeightNames.Role role, int l, int e, int length) {
        return bias(ck, present, role, l, e, length, t -> t);
    }

    /** A projection's bias, or this rank's {@code slice} of it. */
    private Tensor bias(Checkpoint ck, boolean present, WeightNames.Role role, int l, int e, int length,
                        UnaryOperator<TensorData> slice) {
        return present ? backend.parameter(slice.apply(ck.vector(role, l, e, ".bias", length))) : null;
    }

    private Mlp mlp(Checkpoint ck, WeightNames.Role gateRole, WeightNames.Role upRole, WeightNames.Role downRole,
                    int l, int e, int inter) {
        int h = spec.hiddenSize();
        boolean b = spec.mlpBias();
        Weight gate = null;
        Weight up;
        Tensor gateBias = null;
        if (spec.gatedMlp() && gateRole == GATE && spec.weights().get(GATE_UP) != null) {
            TensorData gu = ck.matrix(GATE_UP, l, 2 * inter, h);
            gate = backend.weight(tp.widthRows(gu.sliceRows(0, inter)));
            up = backend.weight(tp.widthRows(gu.sliceRows(inter, 2 * inter)));
        } else {
            if (spec.gatedMlp()) {
                gate = backend.weight(tp.widthRows(ck.matrix(gateRole, l, e, inter, h)));
                gateBias = bias(ck, b, gateRole, l, e, inter, tp::widthRows);
            }
            up = backend.weight(tp.widthRows(ck.matrix(upRole, l, e, inter, h)));
        }
        return new Mlp(gate, up, backend.weight(tp.downColumns(ck.matrix(downRole, l, e, h, inter))), gateBias,
                bias(ck, b, upRole, l, e, inter, tp::widthRows), tp.onFirstRank(bias(ck, b, downRole, l, e, h)));
    }

    private Layer loadLayer(Checkpoint ck, int l) {
        WeightNames n = spec.weights();
        int h = spec.hiddenSize();
        TensorData q;
        TensorData k;
        TensorData v;
        Tensor qb = null;
        Tensor kb = null;
        Tensor vb = null;
        if (n.get(QKV) != null) {
            // This rank's rows of the fused tensor, picked before copying so that only they are read.
            int[][] all = ck.qkvRows();
            int[][] rows = {tp.qIndices(all[0]), tp.kvIndices(all[1]), tp.kvIndices(all[2])};
            TensorData qkv = ck.matrix(QKV, l, spec.qDim() + 2 * spec.kvDim(), h);
            q = Checkpoint.rows(qkv, rows[0], ".q");
            k = Checkpoint.rows(qkv, rows[1], ".k");
            v = Checkpoint.rows(qkv, rows[2], ".v");
            if (spec.attentionBias()) {
                TensorData b = ck.vector(QKV, l, -1, ".bias", spec.qDim() + 2 * spec.kvDim());
                qb = backend.parameter(Checkpoint.rows(b, rows[0], ".q"));
                kb = backend.parameter(Checkpoint.rows(b, rows[1], ".k"));
                vb = backend.parameter(Checkpoint.rows(b, rows[2], ".v"));
            }
        } else {
            q = tp.qRows(ck.matrix(Q, l, spec.qDim(), h));
            k = tp.kvRows(ck.matrix(K, l, spec.kvDim(), h));
            v = tp.kvRows(ck.matrix(V, l, spec.kvDim(), h));
            qb = bias(ck, spec.attentionBias(), Q, l, -1, spec.qDim(), tp::qRows);
            kb = bias(ck, spec.attentionBias(), K, l, -1, spec.kvDim(), tp::kvRows);
            vb = bias(ck, spec.attentionBias(), V, l, -1, spec.kvDim(), tp::kvRows);
        }
        NormWeights qNorm = spec.qkNorm() ? norm(ck, Q_NORM, l, spec.headDim()) : null;
        NormWeights kNorm = spec.qkNorm() ? norm(ck, K_NORM, l, spec.headDim()) : null;
        Weight o = backend.weight(tp.oColumns(ck.matrix(O, l, h, spec.qDim())));
        Tensor ob = tp.onFirstRank(bias(ck, spec.outputBias(), O, l, -1, h));
        Mlp mlp = null;
        Experts experts = null;
        Mlp shared = null;
        Weight sharedGate = null;
        if (spec.isMoe(l)) {
            if (!spec.gatedMlp()) {
                throw MiiException.unsupported("mixture-of-experts layers without gated experts");
            }
            Weight router = backend.weight(ck.matrix(ROUTER, l, spec.numExperts(), h));
            int count = spec.numExperts();
            Weight[] gates = new Weight[count];
            Weight[] ups = new Weight[count];
            Weight[] downs = new Weight[count];
            for (int e = 0; e < count; e++) {
                Mlp m = mlp(ck, EXPERT_GATE, EXPERT_UP, EXPERT_DOWN, l, e, spec.expertSize());
                gates[e] = m.gate;
                ups[e] = m.up;
                downs[e] = m.down;
            }
            experts = new Experts(router, gates, ups, downs, spec.expertsPerToken(), spec.normalizeTopK(),
                    spec.activation());
            if (spec.sharedExpertSize() > 0) {
                shared = mlp(ck, SHARED_GATE, SHARED_UP, SHARED_DOWN, l, -1, spec.sharedExpertSize());
                sharedGate = backend.weight(ck.matrix(SHARED_EXPERT_GATE, l, 1, h));
            }
        } else {
            mlp = mlp(ck, GATE, UP, DOWN, l, -1, spec.intermediateSize());
        }
        boolean sandwich = spec.block() == TransformerSpec.Block.SANDWICH;
        // A parallel block may have a single norm feeding both attention and MLP.
        boolean hasMlpNorm = n.get(MLP_NORM) != null && (spec.block() != TransformerSpec.Block.PARALLEL
                || ck.has(MLP_NORM, l, ".weight"));
        return new Layer(norm(ck, ATTN_NORM, l, h), sandwich ? norm(ck, POST_ATTN_NORM, l, h) : null,
                hasMlpNorm ? norm(ck, MLP_NORM, l, h) : null, sandwich ? norm(ck, POST_MLP_NORM, l, h) : null,
                backend.weight(q), backend.weight(k), backend.weight(v), qb, kb, vb, qNorm, kNorm, o, ob, mlp, experts,
                shared, sharedGate);
    }

    public TransformerSpec spec() {
        return spec;
    }

    public Backend backend() {
        return backend;
    }

    /** This rank's part of the weights (the whole model unless tensor-parallel). */
    public TensorParallel tensorParallel() {
        return tp;
    }

    /** Makes this model (rank 0) announce its KV cache and every step to the group's other ranks. */
    public void leadGroup(StepBroadcast followers) {
        this.followers = followers;
    }

    /** Allocates a KV cache for this model (this rank's KV heads). */
    public KvCache newKvCache(int numBlocks, int blockSize) {
        followers.kvCache(numBlocks, blockSize);
        return backend.allocateKvCache(spec.numLayers(), tp.kvHeads(), spec.headDim(), numBlocks, blockSize);
    }

    /** Bytes of one KV block of {@code blockSize} tokens (this rank's KV heads). */
    public long kvBlockBytes(int blockSize) {
        return backend.kvBlockBytes(spec.numLayers(), tp.kvHeads(), spec.headDim(), blockSize);
    }

    /** Bytes of weights read for one token (every matrix once; the embedding row is negligible). */
    public long weightBytesPerToken() {
        long total = lmHead.byteSize();
        for (Layer l : layers) {
            total += l.q.byteSize() + l.k.byteSize() + l.v.byteSize() + l.o.byteSize();
            if (l.experts != null) {
                Experts x = l.experts;
                total += x.router().byteSize() + (long) x.topK()
                        * (x.gates()[0].byteSize() + x.ups()[0].byteSize() + x.downs()[0].byteSize());
                if (l.shared != null) {
                    total += bytes(l.shared) + l.sharedGate.byteSize();
                }
            } else {
                total += bytes(l.mlp);
            }
        }
        return total;
    }

    private static long bytes(Mlp m) {
        return (m.gate == null ? 0 : m.gate.byteSize()) + m.up.byteSize() + m.down.byteSize();
    }

    /** Activations of one step. */
    private record Buffers(Tensor x, Tensor h, Tensor h2, Tensor q, Tensor k, Tensor v, Tensor attn, Tensor a,
                           Tensor m, Tensor gate, Tensor up, Tensor[] cos, Tensor[] sin) {
    }

    /**
     * Runs one step: writes the batch's keys and values into {@code cache} and returns the logits of
     * {@code batch.logitRows()}, {@code vocabSize} floats per row, in that order. For perplexity and
     * tests; serving uses {@link #forward(RaggedBatch, KvCache, SamplingParams[], int[])}.
     */
    public float[] forward(RaggedBatch batch, KvCache cache) {
        followers.step(batch);
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
        return forwardSampled(batch, cache, sampling, eosIds).tokens();
    }

    /**
     * {@link #forward(RaggedBatch, KvCache, SamplingParams[], int[])} that also returns the
     * log-probabilities of the rows whose sampling parameters ask for them ({@link Backend#sampleWithLogprobs}).
     */
    public Sampled forwardSampled(RaggedBatch batch, KvCache cache, SamplingParams[] sampling, int[] eosIds) {
        if (sampling.length != batch.logitRows().length) {
            throw new IllegalArgumentException(sampling.length + " sampling rows for " + batch.logitRows().length + " logit rows");
        }
        followers.step(batch);
        backend.beginStep(batch, sampling);
        Tensor logits = logits(batch, cache);
        return logits == null ? new Sampled(new int[0], null) : backend.sampleWithLogprobs(logits, sampling, eosIds);
    }

    /** The forward pass proper, once the backend's step has begun; null when no logits are wanted. */
    private Tensor logits(RaggedBatch batch, KvCache cache) {
        int rows = batch.numRows();
        int hidden = spec.hiddenSize();
        Backend b = backend;
        int inter = tp.width(Math.max(spec.intermediateSize(), spec.sharedExpertSize()));
        Tensor[] cos = new Tensor[2];
        Tensor[] sin = new Tensor[2];
        if (spec.position() == TransformerSpec.Position.ROPE) {
            Rope[] ropes = {spec.rope(), spec.localRope()};
            for (int i = 0; i < 2; i++) {
                if (ropes[i] != null && ropes[i].rotaryDim() > 0) {
                    Tensor[] t = b.ropeTables(ropes[i], batch);
                    cos[i] = t[0];
                    sin[i] = t[1];
                }
            }
        }
        Buffers buf = new Buffers(b.allocate(rows, hidden), b.allocate(rows, hidden), b.allocate(rows, hidden),
                b.allocate(rows, tp.qDim()), b.allocate(rows, tp.kvDim()), b.allocate(rows, tp.kvDim()),
                b.allocate(rows, tp.qDim()), b.allocate(rows, hidden), b.allocate(rows, hidden),
                b.allocate(rows, inter), b.allocate(rows, inter), cos, sin);
        Tensor x = buf.x;
        Tensor h = buf.h;

        // Embeddings: lookup, projection to the hidden width, scale, learned positions, norm.
        if (projectIn != null) {
            Tensor e = b.allocate(rows, spec.embedDim());
            embed(batch.tokens(), e);
            b.matmul(e, projectIn, null, x);
        } else {
            embed(batch.tokens(), x);
        }
        if (spec.embedScale() != 1f) {
            b.scale(x, spec.embedScale());
        }
        if (positions != null) {
            b.embedPositions(positions, batch, spec.positionOffset(), h);
            b.add(x, h);
        }
        if (embedNorm != null) {
            norm(x, embedNorm, x);
        }

        for (int l = 0; l < layers.length; l++) {
            Layer layer = layers[l];
            switch (spec.block()) {
                case SEQUENTIAL -> {
                    norm(x, layer.attnNorm, h);
                    attention(l, layer, h, buf, batch, cache);
                    b.add(x, buf.a);
                    norm(x, layer.mlpNorm, h);
                    if (layer.experts != null) {
                        moe(layer, h, x, rows); // adds into the residual stream
                    } else {
                        mlp(layer.mlp, h, buf, buf.m);
                        b.add(x, buf.m);
                    }
                }
                case PARALLEL -> {
                    norm(x, layer.attnNorm, h);
                    Tensor mlpIn = h;
                    if (layer.mlpNorm != null) {
                        norm(x, layer.mlpNorm, buf.h2);
                        mlpIn = buf.h2;
                    }
                    attention(l, layer, h, buf, batch, cache);
                    mlp(layer.mlp, mlpIn, buf, buf.m);
                    b.add(x, buf.a);
                    b.add(x, buf.m);
                }
                case POST_NORM -> {
                    attention(l, layer, x, buf, batch, cache);
                    b.add(x, buf.a);
                    norm(x, layer.attnNorm, x);
                    mlp(layer.mlp, x, buf, buf.m);
                    b.add(x, buf.m);
                    norm(x, layer.mlpNorm, x);
                }
                case SANDWICH -> {
                    norm(x, layer.attnNorm, h);
                    attention(l, layer, h, buf, batch, cache);
                    norm(buf.a, layer.postAttnNorm, buf.a);
                    b.add(x, buf.a);
                    norm(x, layer.mlpNorm, h);
                    mlp(layer.mlp, h, buf, buf.m);
                    norm(buf.m, layer.postMlpNorm, buf.m);
                    b.add(x, buf.m);
                }
            }
        }
        int[] logitRows = batch.logitRows();
        if (logitRows.length == 0) {
            return null;
        }
        Tensor last = b.allocate(logitRows.length, hidden);
        b.gatherRows(x, logitRows, last);
        if (finalNorm != null) {
            norm(last, finalNorm, last);
        }
        if (projectOut != null) {
            Tensor projected = b.allocate(logitRows.length, spec.embedDim());
            b.matmul(last, projectOut, null, projected);
            last = projected;
        }
        Tensor logits = b.allocate(logitRows.length, tp.vocabRows());
        b.matmul(last, lmHead, lmHeadBias, logits);
        if (tp.isParallel()) {
            Tensor all = b.allocate(logitRows.length, spec.vocabSize());
            collective.gatherColumns(logits, all);
            logits = all;
        }
        if (spec.finalSoftCap() > 0) {
            b.softCap(logits, spec.finalSoftCap());
        }
        return logits;
    }

    /** Embedding lookup; under tensor parallelism each rank holds a vocabulary slice and the rows are summed. */
    private void embed(int[] tokens, Tensor out) {
        if (tp.isParallel()) {
            backend.embed(embed, tp.vocabFrom(), tokens, out);
            collective.allReduceSum(out);
        } else {
            backend.embed(embed, tokens, out);
        }
    }

    private void norm(Tensor x, NormWeights n, Tensor out) {
        if (spec.norm() == Norm.LAYER) {
            backend.layerNorm(x, n.weight, n.bias, spec.normEps(), out);
        } else {
            backend.rmsNorm(x, n.weight, spec.normEps(), out);
        }
    }

    /** Self-attention of layer {@code l} over {@code in}, result (after the output projection) in {@code buf.a}. */
    private void attention(int l, Layer layer, Tensor in, Buffers buf, RaggedBatch batch, KvCache cache) {
        Backend b = backend;
        int rows = batch.numRows();
        int headDim = spec.headDim();
        Tensor q = buf.q;
        Tensor k = buf.k;
        b.matmul(in, layer.qkv(), layer.qkvBias(), new Tensor[] {q, k, buf.v});
        if (spec.qkNorm()) {
            Tensor qh = q.view(rows * tp.heads(), headDim);
            Tensor kh = k.view(rows * tp.kvHeads(), headDim);
            b.rmsNorm(qh, layer.qNorm.weight, spec.normEps(), qh);
            b.rmsNorm(kh, layer.kNorm.weight, spec.normEps(), kh);
        }
        int table = spec.localRope() != null && spec.slidingWindow(l) > 0 ? 1 : 0;
        if (buf.cos[table] != null) {
            b.rope(q, headDim, buf.cos[table], buf.sin[table]);
            b.rope(k, headDim, buf.cos[table], buf.sin[table]);
        }
        b.storeKv(cache, l, k, buf.v, batch);
        b.attention(cache, l, q, batch, tp.heads(), tp.kvHeads(), headDim, spec.slidingWindow(l),
                spec.attnScale(), alibiSlopes, spec.attnSoftCap(), buf.attn);
        b.matmul(buf.attn, layer.o, layer.oBias, buf.a);
        collective.allReduceSum(buf.a); // a no-op on a single rank
    }

    /** A dense MLP over {@code in} into {@code out}, with the step's gate/up buffers (rows x its width). */
    private void mlp(Mlp m, Tensor in, Buffers buf, Tensor out) {
        Backend b = backend;
        int rows = in.rows();
        int width = m.up.outDim();
        Tensor up = width == buf.up.cols() ? buf.up : buf.up.view(rows, width);
        if (m.gate != null) {
            Tensor gate = width == buf.gate.cols() ? buf.gate : buf.gate.view(rows, width);
            b.matmul(in, new Weight[] {m.gate, m.up}, new Tensor[] {m.gateBias, m.upBias}, new Tensor[] {gate, up});
            b.activationMul(spec.activation(), gate, up, gate);
            b.matmul(gate, m.down, m.downBias, out);
        } else {
            b.matmul(in, m.up, m.upBias, up);
            b.activation(spec.activation(), up, up);
            b.matmul(up, m.down, m.downBias, out);
        }
        collective.allReduceSum(out);
    }

    /**
     * Mixture of experts ({@link Backend#moe}: top-k routing by router softmax, each expert's gated
     * MLP, the weighted outputs added into the residual stream); then the shared expert, if any,
     * weighted by the sigmoid of its gate.
     */
    private void moe(Layer layer, Tensor normed, Tensor residual, int rows) {
        Backend b = backend;
        b.moe(normed, layer.experts, residual);
        if (layer.shared != null) {
            int width = spec.sharedExpertSize();
            Tensor g = b.allocate(rows, width);
            Tensor u = b.allocate(rows, width);
            Tensor out = b.allocate(rows, spec.hiddenSize());
            Tensor gateLogit = b.allocate(rows, 1);
            b.matmul(normed, new Weight[] {layer.shared.gate, layer.shared.up, layer.sharedGate}, null,
                    new Tensor[] {g, u, gateLogit});
            b.activationMul(spec.activation(), g, u, g);
            b.matmul(g, layer.shared.down, null, out);
            b.sigmoidGatedAdd(residual, out, gateLogit);
        }
    }

    @Override
    public void close() {
        backend.close();
    }
}
