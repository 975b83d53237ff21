package dev.miij.engine;

import dev.miij.GenerationOptions;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Chooses the next token from one row of logits, as transformers' processors do, in their order:
 * min_new_tokens (end-of-sequence suppressed), temperature, top-k, top-p, then greedy argmax or a
 * draw from the request's own random stream, so a seeded request gives the same tokens whatever
 * else shares its batch.
 */
final class Sampler {

    private final GenerationOptions options;
    private final SplittableRandom random;

    Sampler(GenerationOptions options) {
        this.options = options;
        this.random = options.seed() != null ? new SplittableRandom(options.seed()) : new SplittableRandom();
    }

    int next(float[] logits, int offset, int vocab, int generated, int[] eosIds) {
        float[] row = Arrays.copyOfRange(logits, offset, offset + vocab);
        if (generated < options.minNewTokens()) {
            for (int eos : eosIds) {
                if (eos >= 0 && eos < vocab) {
                    row[eos] = Float.NEGATIVE_INFINITY;
                }
            }
        }
        if (!options.doSample()) {
            return argmax(row);
        }
        double temperature = options.temperature() == null ? 1.0 : options.temperature();
        // Sort candidate ids by logit, descending; ties keep the lower id first.
        Integer[] order = new Integer[vocab];
        for (int i = 0; i < vocab; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Float.compare(row[b], row[a]));
        int keep = vocab;
        if (options.topK() != null && options.topK() > 0) {
            keep = Math.min(keep, options.topK());
        }
        double max = row[order[0]] / temperature;
        double[] p = new double[keep];
        double sum = 0;
        for (int i = 0; i < keep; i++) {
            p[i] = Math.exp(row[order[i]] / temperature - max);
            sum += p[i];
        }
        if (options.topP() < 1.0) {
            // Keep the smallest prefix whose mass reaches top_p (always at least one token).
            double cumulative = 0;
            int cut = keep;
            for (int i = 0; i < keep; i++) {
                cumulative += p[i] / sum;
                if (cumulative >= options.topP()) {
                    cut = i + 1;
                    break;
                }
            }
            keep = cut;
            sum = 0;
            for (int i = 0; i < keep; i++) {
                sum += p[i];
            }
        }
        double u = random.nextDouble() * sum;
        for (int i = 0; i < keep; i++) {
            u -= p[i];
            if (u < 0) {
                return order[i];
            }
        }
        return order[keep - 1];
    }

    /** Index of the largest logit; the first one on ties, as torch.argmax. */
    static int argmax(float[] row) {
        int best = 0;
        for (int i = 1; i < row.length; i++) {
            if (row[i] > row[best]) {
                best = i;
            }
        }
        return best;
    }
}
