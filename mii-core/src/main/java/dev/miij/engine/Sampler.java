package dev.miij.engine;

import dev.miij.GenerationOptions;
import java.util.Arrays;
import java.util.SplittableRandom;

/**
 * Chooses the next token from one row of logits, as transformers' processors do, in their order:
 * penalties (repetition, then frequency and presence, with vLLM's semantics), min_new_tokens
 * (end-of-sequence suppressed), temperature, top-k, top-p, then greedy argmax or a
 * draw from the request's own random stream, so a seeded request gives the same tokens whatever
 * else shares its batch.
 */
final class Sampler {

    private final GenerationOptions options;
    private final SplittableRandom random;
    /** The sequence's token ids so far (prompt, then output); read at each step for the penalties. */
    private final java.util.function.Supplier<int[]> tokens;
    private final int promptLength;

    Sampler(GenerationOptions options) {
        this(options, () -> new int[0], 0);
    }

    Sampler(GenerationOptions options, java.util.function.Supplier<int[]> tokens, int promptLength) {
        this.options = options;
        this.tokens = tokens;
        this.promptLength = promptLength;
        this.random = options.seed() != null ? new SplittableRandom(options.seed()) : new SplittableRandom();
    }

    int next(float[] logits, int offset, int vocab, int generated, int[] eosIds) {
        float[] row = Arrays.copyOfRange(logits, offset, offset + vocab);
        if (options.penalized()) {
            penalize(row, options, tokens.get(), promptLength, promptLength + generated);
        }
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
        if (options.topK() != null && options.topK() > 0) {
            keep = Math.min(keep, options.topK());
        }
        double[] p = new double[keep];
        double kept = 0;
        for (int i = 0; i < keep; i++) {
            p[i] = Math.exp((row[(int) keys[i]] - max) / temperature) / total;
            kept += p[i];
        }
        if (options.topP() < 1.0) {
            // top-k (if any) then top-p, both over probabilities renormalised as transformers does.
            double cumulative = 0;
            for (int i = 0; i < keep; i++) {
                cumulative += p[i] / kept;
                if (cumulative >= options.topP()) {
                    keep = i + 1;
                    break;
                }
            }
        }
        double sum = 0;
        for (int i = 0; i < keep; i++) {
            sum += p[i];
        }
        double u = random.nextDouble() * sum;
        for (int i = 0; i < keep; i++) {
            u -= p[i];
            if (u < 0) {
                return (int) keys[i];
            }
        }
        return (int) keys[keep - 1];
    }

    /**
     * Applies the penalties to one row of logits as vLLM does: the repetition penalty to every token seen
     * in the prompt or the output ({@code l > 0 ? l / p : l * p}), then
     * {@code l -= frequency * count + presence * (count > 0)} over the output tokens' counts.
     *
     * @param ids    token ids, the prompt's {@code [0, promptLength)} then the output's up to {@code length}
     */
    static void penalize(float[] row, GenerationOptions options, int[] ids, int promptLength, int length) {
        int vocab = row.length;
        if (options.repetitionPenalty() != 1) {
            float p = (float) options.repetitionPenalty();
            java.util.BitSet seen = new java.util.BitSet(vocab);
            for (int i = 0; i < length; i++) {
                int t = ids[i];
                if (t >= 0 && t < vocab && !seen.get(t)) {
                    seen.set(t);
                    row[t] = row[t] > 0 ? row[t] / p : row[t] * p;
                }
            }
        }
        if (options.frequencyPenalty() != 0 || options.presencePenalty() != 0) {
            java.util.Map<Integer, Integer> counts = new java.util.HashMap<>();
            for (int i = promptLength; i < length; i++) {
                if (ids[i] >= 0 && ids[i] < vocab) {
                    counts.merge(ids[i], 1, Integer::sum);
                }
            }
            float frequency = (float) options.frequencyPenalty();
            float presence = (float) options.presencePenalty();
            counts.forEach((t, c) -> row[t] -= frequency * c + presence);
        }
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
