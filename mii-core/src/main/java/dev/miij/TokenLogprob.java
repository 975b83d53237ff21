package dev.miij;

import java.util.List;

/**
 * One generated token's log-probability and the most likely alternatives at its position, for requests
 * with {@link GenerationOptions#logprobs()} set. Log-probabilities are those of the model's raw logits
 * (before penalties, temperature, top-k and top-p), as vLLM returns by default.
 *
 * @param tokenId the generated token
 * @param token   its text, decoded alone (special tokens kept; a partial UTF-8 character shows as U+FFFD)
 * @param logprob its log-probability
 * @param top     the most likely tokens, most likely first ({@link GenerationOptions#logprobs()} of them)
 */
public record TokenLogprob(int tokenId, String token, float logprob, List<Alternative> top) {

    public TokenLogprob {
        top = List.copyOf(top);
    }

    /** One of the most likely tokens at a position. */
    public record Alternative(int tokenId, String token, float logprob) {
    }
}
