package dev.miij;

import java.util.concurrent.CompletableFuture;

/**
 * One request being generated: what {@link Pipeline#stream}, {@link Client#stream} and the server's
 * generation service all return, while the text itself arrives at their
 * {@link dev.miij.engine.StreamListener} as it is generated.
 *
 * <pre>{@code
 * Generation g = pipe.stream("Once upon a time", options, (text, ids) -> System.out.print(text));
 * Response r = g.result().join();   // or g.cancel() to stop it and free its memory
 * }</pre>
 */
public interface Generation {

    /** Completes with the full response when the request finishes (exceptionally if it fails). */
    CompletableFuture<Response> result();

    /** Stops generating; the request finishes with what it has (finish reason "cancelled"). */
    void cancel();
}
