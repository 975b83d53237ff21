package dev.miij.eval;

import dev.miij.arch.DecoderModel;
import dev.miij.backend.KvCache;
import dev.miij.backend.RaggedBatch;

/**
 * Negative log-likelihood of token windows under a model, as transformers scores a causal LM: each
 * window is one sequence from position 0, token t (t >= 1) is scored by {@code -log softmax(logits
 * at t-1)[token t]}, and the mean runs over every scored token of every window.
 *
 * <pre>{@code
 * double nll = Perplexity.meanNll(model, windows);
 * double ppl = Math.exp(nll);
 * }</pre>
 */
public final class Perplexity {

    private Perplexity() {
    }

    /** Mean NLL (natural log) over all scored tokens of all windows. */
    public static double meanNll(DecoderModel model, int[][] windows) {
        double total = 0;
        long count = 0;
        int vocab = model.spec().vocabSize();
        for (int[] w : windows) {
            if (w.length < 2) {
                continue;
            }
            int blockSize = 16;
            int blocks = (w.length + blockSize - 1) / blockSize;
            try (KvCache cache = model.newKvCache(blocks, blockSize)) {
                int n = w.length;
                int[] positions = new int[n];
                int[] table = new int[blocks];
                for (int i = 0; i < n; i++) {
                    positions[i] = i;
                }
                for (int b = 0; b < blocks; b++) {
                    table[b] = b;
                }
                int[] logitRows = new int[n - 1];
                for (int i = 0; i < n - 1; i++) {
                    logitRows[i] = i;
                }
                RaggedBatch batch = new RaggedBatch(w, positions, positions.clone(), new int[] {0, n}, new int[] {n},
                        new int[][] {table}, logitRows);
                float[] logits = model.forward(batch, cache);
                for (int i = 0; i < n - 1; i++) {
                    total += -logSoftmax(logits, i * vocab, vocab, w[i + 1]);
                    count++;
                }
            }
        }
        return total / count;
    }

    /** log softmax(row)[target], computed in double. */
    static double logSoftmax(float[] logits, int offset, int vocab, int target) {
        double max = Double.NEGATIVE_INFINITY;
        for (int i = 0; i < vocab; i++) {
            max = Math.max(max, logits[offset + i]);
        }
        double sum = 0;
        for (int i = 0; i < vocab; i++) {
            sum += Math.exp(logits[offset + i] - max);
        }
        return logits[offset + target] - max - Math.log(sum);
    }
}
