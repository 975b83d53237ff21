package dev.miij;

import java.util.List;

/**
 * The result of one prompt, with MII's fields.
 *
 * @param generatedText   the generated text (with the prompt in front when return_full_text was set)
 * @param promptLength    tokens in the prompt
 * @param generatedLength tokens generated
 * @param finishReason    why generation ended
 * @param tokenIds        the generated token ids
 * @param logprobs        one per generated token when the request asked for log-probabilities, else null
 */
public record Response(String generatedText, int promptLength, int generatedLength, FinishReason finishReason,
                       List<Integer> tokenIds, List<TokenLogprob> logprobs) {

    public Response {
        tokenIds = List.copyOf(tokenIds);
        logprobs = logprobs == null ? null : List.copyOf(logprobs);
    }

    /** A response without log-probabilities. */
    public Response(String generatedText, int promptLength, int generatedLength, FinishReason finishReason,
                    List<Integer> tokenIds) {
        this(generatedText, promptLength, generatedLength, finishReason, tokenIds, null);
    }

    /** Why a request ended; {@link #wireName()} is MII's string. */
    public enum FinishReason {
        /** An end-of-sequence token or a stop string. */
        STOP,
        /** max_new_tokens or max_length reached. */
        LENGTH,
        /** Cancelled by the caller. */
        CANCELLED;

        public String wireName() {
            return name().toLowerCase(java.util.Locale.ROOT);
        }
    }

    @Override
    public String toString() {
        return generatedText;
    }
}
