package dev.miij.backend;

import dev.miij.GenerationOptions;

/**
 * How to choose one row's next token: greedy argmax, or a draw after temperature, top-k and top-p,
 * with the end-of-sequence ids masked while {@code min_new_tokens} is not reached yet.
 *
 * <p>The draw's randomness is counter-based: the uniform number comes from {@code (seed, step)}
 * alone ({@link #uniform(long, long)}), so a request's tokens depend on its seed and on how many
 * tokens it has generated, never on its batch mates, on the backend, or on what ran before.
 *
 * @param greedy      argmax, ignoring temperature, top-k, top-p and the seed
 * @param temperature divides the logits (1 = unchanged)
 * @param topK        keep the k most likely tokens; 0 or less keeps all
 * @param topP        then keep the smallest most-likely prefix whose mass reaches topP; 1 keeps all
 * @param suppressEos mask the end-of-sequence ids (min_new_tokens not reached)
 * @param seed        the request's random seed
 * @param step        tokens generated so far: the counter of the draw
 * @param penalties   repetition / frequency / presence penalties over the sequence's tokens, applied
 *                    to the logits first; null for none
 * @param logprobs    -1 for none; otherwise return the chosen token's log-probability and those of the
 *                    {@code logprobs} most likely tokens ({@link Logprobs}, at most {@link Logprobs#MAX_TOP})
 */
public record SamplingParams(boolean greedy, double temperature, int topK, double topP, boolean suppressEos, long seed,
                             int step, Penalties penalties, int logprobs) {

    /** Greedy argmax with nothing masked. */
    public static final SamplingParams GREEDY = new SamplingParams(true, 1.0, 0, 1.0, false, 0, 0, null, -1);

    public SamplingParams {
        if (logprobs < -1 || logprobs > Logprobs.MAX_TOP) {
            throw new IllegalArgumentException("logprobs must be -1 (none) or in [0, " + Logprobs.MAX_TOP + "], got "
                    + logprobs);
        }
    }

    /** Without log-probabilities. */
    public SamplingParams(boolean greedy, double temperature, int topK, double topP, boolean suppressEos, long seed,
                          int step, Penalties penalties) {
        this(greedy, temperature, topK, topP, suppressEos, seed, step, penalties, -1);
    }

    /** Whether this row asks for log-probabilities. */
    public boolean wantsLogprobs() {
        return logprobs >= 0;
    }

    /** Whether any row asks for log-probabilities. */
    public static boolean anyWantsLogprobs(SamplingParams[] sampling) {
        if (sampling != null) {
            for (SamplingParams p : sampling) {
                if (p.wantsLogprobs()) {
                    return true;
                }
            }
        }
        return false;
    }

    /** Without penalties. */
    public SamplingParams(boolean greedy, double temperature, int topK, double topP, boolean suppressEos, long seed,
                          int step) {
        this(greedy, temperature, topK, topP, suppressEos, seed, step, null, -1);
    }

    /** A request's parameters for the draw of its token number {@code generated} (0-based), without penalties. */
    public static SamplingParams of(GenerationOptions o, long seed, int generated) {
        return of(o, seed, generated, null, 0);
    }

    /**
     * A request's parameters for the draw of its token number {@code generated}; {@code ids} holds
     * its prompt ({@code [0, promptLength)}) then its output, read for the penalties when it asks for any.
     */
    public static SamplingParams of(GenerationOptions o, long seed, int generated, int[] ids, int promptLength) {
        Penalties p = o.penalized() && ids != null ? new Penalties(o.repetitionPenalty(), o.frequencyPenalty(),
                o.presencePenalty(), ids, promptLength, promptLength + generated) : null;
        return new SamplingParams(!o.doSample(), o.temperature() == null ? 1.0 : o.temperature(),
                o.topK() == null ? 0 : o.topK(), o.topP(), generated < o.minNewTokens(), seed, generated, p,
                o.logprobs() == null ? -1 : o.logprobs());
    }

    /**
     * vLLM's penalties over a sequence's tokens: the repetition penalty on every token seen in the
     * prompt or the output ({@code l > 0 ? l / p : l * p}), then
     * {@code l -= frequency * count + presence * (count > 0)} over the output tokens' counts.
     *
     * @param ids    token ids, the prompt's {@code [0, promptLength)} then the output's up to {@code length}
     */
    public record Penalties(double repetition, double frequency, double presence, int[] ids, int promptLength,
                            int length) {

        /** Applies the penalties to one row of logits. */
        public void apply(float[] row) {
            int vocab = row.length;
            if (repetition != 1) {
                float p = (float) repetition;
                java.util.BitSet seen = new java.util.BitSet(vocab);
                for (int i = 0; i < length; i++) {
                    int t = ids[i];
                    if (t >= 0 && t < vocab && !seen.get(t)) {
                        seen.set(t);
                        row[t] = row[t] > 0 ? row[t] / p : row[t] * p;
                    }
                }
            }
            if (frequency != 0 || presence != 0) {
                java.util.Map<Integer, Integer> counts = new java.util.HashMap<>();
                for (int i = promptLength; i < length; i++) {
                    if (ids[i] >= 0 && ids[i] < vocab) {
                        counts.merge(ids[i], 1, Integer::sum);
                    }
                }
                float f = (float) frequency;
                float pr = (float) presence;
                counts.forEach((t, c) -> row[t] -= f * c + pr);
            }
        }
    }

    /** This draw's uniform number in [0, 1). */
    public double uniform() {
        return uniform(seed, step);
    }

    /**
     * A uniform number in [0, 1) from a seed and a counter: SplitMix64's finaliser over the mixed
     * seed plus the counter times the golden ratio, top 53 bits. Device samplers compute the same.
     */
    public static double uniform(long seed, long step) {
        return (mix(mix(seed) + step * 0x9E3779B97F4A7C15L) >>> 11) * 0x1.0p-53;
    }

    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
