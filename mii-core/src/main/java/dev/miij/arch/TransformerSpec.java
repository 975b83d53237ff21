package dev.miij.arch;

/**
 * Everything that distinguishes one decoder-only transformer family from another, as data. One
 * forward pass ({@link DecoderModel}) reads this record; adding a family means writing a new spec
 * and a weight-name map in {@link Architectures}, never a new forward pass. {@link #builder()}
 * starts from Llama's choices.
 *
 * @param modelType         the config.json {@code model_type} this spec was read from
 * @param vocabSize         rows of the embedding table and of the LM head
 * @param hiddenSize        width of the residual stream
 * @param numLayers         decoder blocks
 * @param numHeads          query heads
 * @param numKvHeads        key/value heads (== numHeads: MHA, 1: MQA, otherwise GQA)
 * @param headDim           width of one head (not always hiddenSize / numHeads, e.g. Qwen3, Gemma)
 * @param intermediateSize  width of the dense MLP
 * @param norm              normalisation of the residual stream (RMSNorm, or LayerNorm with bias)
 * @param normEps           epsilon of every norm
 * @param normWeightOffset  added to every RMSNorm weight (Gemma's {@code x * (1 + w)}: 1)
 * @param position          how positions enter: rotary, a learned table added to the embeddings, or ALiBi
 * @param rope              rotary embedding parameters (of global layers where local ones differ)
 * @param localRope         rotary parameters of sliding-window layers, or null when the same (Gemma 3)
 * @param positionOffset    index of position 0 in a learned table (OPT: 2)
 * @param alibiSlopes       ALiBi slope of each query head, already multiplied by any scale, or null
 * @param attentionBias     q/k/v projections have biases
 * @param outputBias        the attention output projection has a bias
 * @param qkNorm            RMSNorm over each head of q and k before RoPE (Qwen3, Gemma 3)
 * @param qkvLayout         how a fused qkv tensor orders its rows
 * @param attnScale         multiplier of q.k (1/sqrt(headDim) unless the config says otherwise)
 * @param attnSoftCap       scores soft-capped to {@code cap * tanh(s / cap)} when positive (Gemma 2)
 * @param slidingWindow     each token attends to at most this many most recent positions (0 = unlimited)
 * @param slidingLayers     which layers use the window; null when all do
 * @param block             how a decoder block combines attention, MLP, norms and the residual
 * @param activation        MLP activation
 * @param gatedMlp          {@code down(act(gate(x)) * up(x))} rather than {@code down(act(up(x)))}
 * @param mlpBias           MLP projections have biases
 * @param numExperts        MoE experts per layer (0 = dense MLP)
 * @param expertsPerToken   experts each token is routed to
 * @param normalizeTopK     renormalise the selected experts' routing weights to sum to 1
 * @param expertSize        width of each expert's MLP
 * @param sharedExpertSize  width of an always-used shared expert behind a sigmoid gate (0 = none)
 * @param moeLayers         which layers are MoE; null when all are (if numExperts > 0)
 * @param tiedEmbeddings    the LM head is the embedding table
 * @param embedDim          width of the embedding table; projected in and out when it differs from
 *                          hiddenSize (OPT-350m)
 * @param embedNorm         a norm right after the embedding lookup (BLOOM)
 * @param embedScale        embeddings multiplied by this (Gemma: sqrt(hiddenSize)); 1 otherwise
 * @param lmHeadBias        the LM head has a bias (Phi-2)
 * @param finalSoftCap      logits soft-capped to {@code cap * tanh(l / cap)} when positive (Gemma 2)
 * @param transposedWeights checkpoint matrices are stored {@code [in, out]} (GPT-2's Conv1D)
 * @param maxPositions      longest sequence the model was trained for
 * @param weights           where each role's tensor lives in the checkpoint
 */
public record TransformerSpec(
        String modelType,
        int vocabSize,
        int hiddenSize,
        int numLayers,
        int numHeads,
        int numKvHeads,
        int headDim,
        int intermediateSize,
        Norm norm,
        float normEps,
        float normWeightOffset,
        Position position,
        Rope rope,
        Rope localRope,
        int positionOffset,
        float[] alibiSlopes,
        boolean attentionBias,
        boolean outputBias,
        boolean qkNorm,
        QkvLayout qkvLayout,
        float attnScale,
        float attnSoftCap,
        int slidingWindow,
        boolean[] slidingLayers,
        Block block,
        Activation activation,
        boolean gatedMlp,
        boolean mlpBias,
        int numExperts,
        int expertsPerToken,
        boolean normalizeTopK,
        int expertSize,
        int sharedExpertSize,
        boolean[] moeLayers,
        boolean tiedEmbeddings,
        int embedDim,
        boolean embedNorm,
        float embedScale,
        boolean lmHeadBias,
        float finalSoftCap,
        boolean transposedWeights,
        int maxPositions,
        WeightNames weights) {

    public enum Norm { RMS, LAYER }

    public enum Activation { SILU, GELU_TANH, GELU, RELU }

    public enum Position { ROPE, LEARNED, ALIBI }

    /**
     * Row order of a fused qkv tensor: {@code CONCATENATED} all q rows, then k, then v (Phi-3,
     * Falcon-7b); {@code PER_HEAD} q, k, v of head 0, then of head 1, ... (GPT-NeoX, BLOOM,
     * Falcon-RW); {@code PER_GROUP} for each KV head its group's q heads, then k, then v (Falcon-40b).
     */
    public enum QkvLayout { CONCATENATED, PER_HEAD, PER_GROUP }

    /**
     * {@code SEQUENTIAL}: {@code x += attn(norm1(x)); x += mlp(norm2(x))} (Llama, GPT-2).
     * {@code PARALLEL}: {@code x += attn(norm1(x)) + mlp(norm2(x))}, norm2 being norm1 when the
     * checkpoint has one norm per block (Phi-2, GPT-NeoX, Falcon).
     * {@code POST_NORM}: {@code x = norm1(x + attn(x)); x = norm2(x + mlp(x))} (OPT-350m).
     * {@code SANDWICH}: {@code x += postNorm1(attn(norm1(x))); x += postNorm2(mlp(norm2(x)))} (Gemma 2, 3).
     */
    public enum Block { SEQUENTIAL, PARALLEL, POST_NORM, SANDWICH }

    /** Query heads that share one key/value head. */
    public int groupSize() {
        return numHeads / numKvHeads;
    }

    public int qDim() {
        return numHeads * headDim;
    }

    public int kvDim() {
        return numKvHeads * headDim;
    }

    public boolean isMoe() {
        return numExperts > 0;
    }

    /** Whether layer {@code l} routes to experts. */
    public boolean isMoe(int l) {
        return numExperts > 0 && (moeLayers == null || moeLayers[l]);
    }

    /** The sliding window of layer {@code l} (0 = unlimited). */
    public int slidingWindow(int l) {
        return slidingLayers == null || slidingLayers[l] ? slidingWindow : 0;
    }

    /** The rotary parameters of layer {@code l}. */
    public Rope rope(int l) {
        return localRope != null && slidingWindow(l) > 0 ? localRope : rope;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Llama's choices, to be changed where a family differs. */
    public static final class Builder {
        public String modelType;
        public int vocabSize;
        public int hiddenSize;
        public int numLayers;
        public int numHeads;
        public int numKvHeads;
        public int headDim;
        public int intermediateSize;
        public Norm norm = Norm.RMS;
        public float normEps = 1e-6f;
        public float normWeightOffset;
        public Position position = Position.ROPE;
        public Rope rope;
        public Rope localRope;
        public int positionOffset;
        public float[] alibiSlopes;
        public boolean attentionBias;
        public boolean outputBias;
        public boolean qkNorm;
        public QkvLayout qkvLayout = QkvLayout.CONCATENATED;
        public float attnScale;
        public float attnSoftCap;
        public int slidingWindow;
        public boolean[] slidingLayers;
        public Block block = Block.SEQUENTIAL;
        public Activation activation = Activation.SILU;
        public boolean gatedMlp = true;
        public boolean mlpBias;
        public int numExperts;
        public int expertsPerToken;
        public boolean normalizeTopK = true;
        public int expertSize;
        public int sharedExpertSize;
        public boolean[] moeLayers;
        public boolean tiedEmbeddings;
        public int embedDim;
        public boolean embedNorm;
        public float embedScale = 1f;
        public boolean lmHeadBias;
        public float finalSoftCap;
        public boolean transposedWeights;
        public int maxPositions = 4096;
        public WeightNames weights = WeightNames.llama();

        public TransformerSpec build() {
            return new TransformerSpec(modelType, vocabSize, hiddenSize, numLayers, numHeads, numKvHeads, headDim,
                    intermediateSize, norm, normEps, normWeightOffset, position, rope, localRope, positionOffset,
                    alibiSlopes, attentionBias, outputBias, qkNorm, qkvLayout,
                    attnScale > 0 ? attnScale : (float) (1.0 / Math.sqrt(headDim)), attnSoftCap, slidingWindow,
                    slidingLayers, block, activation, gatedMlp, mlpBias, numExperts, expertsPerToken, normalizeTopK,
                    expertSize > 0 ? expertSize : intermediateSize, sharedExpertSize, moeLayers, tiedEmbeddings,
                    embedDim > 0 ? embedDim : hiddenSize, embedNorm, embedScale, lmHeadBias, finalSoftCap,
                    transposedWeights, maxPositions, weights);
        }
    }
}
