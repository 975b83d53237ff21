package dev.miij.backend;

/**
 * Log-probabilities of one sampled row, as a backend returns them for rows whose
 * {@link SamplingParams#logprobs()} asks: the chosen token's and those of the {@code n} most likely
 * tokens. They are the log-softmax of the model's raw logits (after final soft-capping, which is part
 * of the model), before penalties, end-of-sequence masking, temperature, top-k and top-p: vLLM's
 * default ({@code --logprobs-mode raw_logprobs}).
 *
 * @param logprob     the chosen token's log-probability
 * @param topIds      the {@code n} most likely token ids, most likely first (lower id first on ties)
 * @param topLogprobs their log-probabilities, in the same order
 */
public record Logprobs(float logprob, int[] topIds, float[] topLogprobs) {

    /** vLLM's limit on top log-probabilities per token ({@code --max-logprobs}). */
    public static final int MAX_TOP = 20;

    /**
     * The log-softmax of {@code vocab} logits at {@code offset}, in double precision, read at
     * {@code token} and at the {@code n} largest logits. This is the reference device implementations
     * are tested against.
     */
    public static Logprobs of(float[] logits, int offset, int vocab, int token, int n) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            max = Math.max(max, logits[offset + i]);
        }
        double sum = 0;
        for (int i = 0; i < vocab; i++) {
            sum += Math.exp(logits[offset + i] - max);
        }
        double logZ = max + Math.log(sum);
        n = Math.min(n, vocab);
        // Insertion into a short sorted list: n is at most MAX_TOP.
        int[] ids = new int[n];
        int filled = 0;
        for (int i = 0; i < vocab && n > 0; i++) {
            float v = logits[offset + i];
            if (filled == n && !(v > logits[offset + ids[n - 1]])) {
                continue;
            }
            int at = filled < n ? filled++ : n - 1;
            while (at > 0 && v > logits[offset + ids[at - 1]]) {
                ids[at] = ids[at - 1];
                at--;
            }
            ids[at] = i;
        }
        float[] lp = new float[n];
        for (int i = 0; i < n; i++) {
            lp[i] = (float) (logits[offset + ids[i]] - logZ);
        }
        return new Logprobs((float) (logits[offset + token] - logZ), ids, lp);
    }
}
