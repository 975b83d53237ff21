package dev.miij.engine;

import dev.miij.Response;
import dev.miij.TokenLogprob;
import java.util.List;

/**
 * Receives a request's output as it is produced, on the engine thread: keep callbacks short.
 * Text never contains a partial UTF-8 character or any part of a stop string.
 */
public interface StreamListener {

    /** New text and the token ids that produced it since the last call (text may be empty). */
    void onText(String text, int[] tokenIds);

    /**
     * {@link #onText(String, int[])} with the tokens' log-probabilities, one per id, when the request
     * asked for them (else null). The default drops them.
     */
    default void onText(String text, int[] tokenIds, List<TokenLogprob> logprobs) {
        onText(text, tokenIds);
    }

    /** The request finished (normally, by cancellation, or with an error, then response is null). */
    default void onFinish(Response response, Throwable error) {
    }

    StreamListener NONE = (text, ids) -> { };
}
