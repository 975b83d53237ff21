package dev.miij.backend;

import java.util.Arrays;

/**
 * Chooses the next token from one row of logits, as transformers' processors do, in their order:
 * penalties (repetition, then frequency and presence, with vLLM's semantics), min_new_tokens
 * (end-of-sequence suppressed), temperature, top-k, top-p, then greedy argmax or a
 * draw with the counter-based uniform number of {@link SamplingParams#uniform()}, so a seeded
 * request gives the same tokens whatever else shares its batch. This is the reference every device
 * sampler is tested against, and what {@link Backend#sample} does by default.
 */
public final class Sampler {

    private Sampler() {
    }

    /** The token for {@code vocab} logits at {@code offset}. */
    public static int sample(float[] logits, int offset, int vocab, SamplingParams params, int[] eosIds) {
        float[] row = Arrays.copyOfRange(logits, offset, offset + vocab);
        if (params.penalties() != null) {
            params.penalties().apply(row);
        }
        if (params.suppressEos()) {
            for (int eos : eosIds) {
                if (eos >= 0 && eos < vocab) {
                    row[eos] = Float.NEGATIVE_INFINITY;
                }
            }
        }
        if (params.greedy()) {
            return argmax(row);
        }
        double temperature = params.temperature();
        float max = row[argmax(row)];
        // Probabilities relative to the best token; the normaliser runs over the whole vocabulary.
        double total = 0;
        for (int i = 0; i < vocab; i++) {
            total += Math.exp((row[i] - max) / temperature);
        }
        // Only tokens within e^-40 of the best can ever be drawn or matter to the top-p cut (together
        // the rest weigh under vocab * 4e-18): sort just those, best first, lower id first on ties.
        long[] keys = new long[vocab];
        int n = 0;
        double floor = max - 40 * temperature;
        for (int i = 0; i < vocab; i++) {
            if (row[i] >= floor) {
                // Descending logit = ascending key: float bits made to compare as signed ints, then inverted.
                int bits = Float.floatToIntBits(row[i]);
                int ordered = bits < 0 ? bits ^ 0x7FFFFFFF : bits;
                keys[n++] = ((long) ~ordered << 32) | (i & 0xFFFFFFFFL);
            }
        }
        Arrays.sort(keys, 0, n);
        int keep = n;
        if (params.topK() > 0) {
            keep = Math.min(keep, params.topK());
        }
        double[] p = new double[keep];
        double kept = 0;
        for (int i = 0; i < keep; i++) {
            p[i] = Math.exp((row[(int) keys[i]] - max) / temperature) / total;
            kept += p[i];
        }
        if (params.topP() < 1.0) {
            // top-k (if any) then top-p, both over probabilities renormalised as transformers does.
            double cumulative = 0;
            for (int i = 0; i < keep; i++) {
                cumulative += p[i] / kept;
                if (cumulative >= params.topP()) {
                    keep = i + 1;
                    break;
                }
            }
        }
        double sum = 0;
        for (int i = 0; i < keep; i++) {
            sum += p[i];
        }
        double u = params.uniform() * sum;
        for (int i = 0; i < keep; i++) {
            u -= p[i];
            if (u < 0) {
                return (int) keys[i];
            }
        }
        return (int) keys[keep - 1];
    }

    /** Index of the largest logit; the first one on ties, as torch.argmax. */
    public static int argmax(float[] row) {
        int best = 0;
        for (int i = 1; i < row.length; i++) {
            if (row[i] > row[best]) {
                best = i;
            }
        }
        return best;
    }
}
