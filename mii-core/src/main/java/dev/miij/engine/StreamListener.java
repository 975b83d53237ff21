package dev.miij.engine;

import dev.miij.Response;

/**
 * Receives a request's output as it is produced, on the engine thread: keep callbacks short.
 * Text never contains a partial UTF-8 character or any part of a stop string.
 */
public interface StreamListener {

    /** New text and the token ids that produced it since the last call (text may be empty). */
    void onText(String text, int[] tokenIds);

    /** The request finished (normally, by cancellation, or with an error, then response is null). */
    default void onFinish(Response response, Throwable error) {
    }

    StreamListener NONE = (text, ids) -> { };
}
