package dev.miij.arch;

/**
 * Everything that distinguishes one decoder-only transformer family from another, as data. One
 * forward pass ({@link DecoderModel}) reads this record; adding a family means writing a new spec
 * and a weight-name map in {@link Architectures}, never a new forward pass.
 *
 * @param modelType        the config.json {@code model_type} this spec was read from
 * @param vocabSize        rows of the embedding table and of the LM head
 * @param hiddenSize       width of the residual stream
 * @param numLayers        decoder blocks
 * @param numHeads         query heads
 * @param numKvHeads       key/value heads (== numHeads: MHA, 1: MQA, otherwise GQA)
 * @param headDim          width of one head (not always hiddenSize / numHeads, e.g. Qwen3)
 * @param intermediateSize width of the MLP (of each expert for MoE)
 * @param norm             normalisation of the residual stream
 * @param normEps          epsilon of every norm
 * @param rope             rotary embedding parameters
 * @param attentionBias    q/k/v projections have biases (Qwen2)
 * @param qkNorm           RMSNorm over each head of q and k before RoPE (Qwen3)
 * @param slidingWindow    each token attends to at most this many most recent positions (0 = unlimited)
 * @param activation       MLP activation
 * @param numExperts       MoE experts per layer (0 = dense MLP)
 * @param expertsPerToken  experts each token is routed to
 * @param normalizeTopK    renormalise the selected experts' routing weights to sum to 1 (Mixtral)
 * @param tiedEmbeddings   the LM head is the embedding table
 * @param maxPositions     longest sequence the model was trained for
 * @param weights          where each role's tensor lives in the checkpoint
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
        Rope rope,
        boolean attentionBias,
        boolean qkNorm,
        int slidingWindow,
        Activation activation,
        int numExperts,
        int expertsPerToken,
        boolean normalizeTopK,
        boolean tiedEmbeddings,
        int maxPositions,
        WeightNames weights) {

    public enum Norm { RMS, LAYER }

    public enum Activation { SILU, GELU_TANH, GELU }

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
}
