package dev.miij.backend;

/**
 * What {@link Backend#sampleWithLogprobs} returns: each row's token, and for the rows whose
 * {@link SamplingParams#logprobs()} asked, their {@link Logprobs}.
 *
 * @param tokens   one token id per row
 * @param logprobs one entry per row, null for rows that did not ask; the array itself is null when no
 *                 row asked
 */
public record Sampled(int[] tokens, Logprobs[] logprobs) {

    /** Row {@code i}'s log-probabilities, or null. */
    public Logprobs logprobs(int i) {
        return logprobs == null ? null : logprobs[i];
    }
}
