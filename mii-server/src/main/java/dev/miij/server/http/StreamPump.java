package dev.miij.server.http;

import dev.miij.Generation;
import dev.miij.GenerationOptions;
import dev.miij.Response;
import dev.miij.TokenLogprob;
import dev.miij.engine.StreamListener;
import dev.miij.server.GenerationService;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.IntFunction;

/**
 * Runs the generation requests of one streamed HTTP request (several prompts, or OpenAI's n choices)
 * and writes their output as server-sent events.
 *
 * <p>The engine calls listeners on its own thread, which must never wait for a slow client, so the
 * listeners only enqueue; the request's own (virtual) thread takes events off the queue and writes them.
 * When a write fails the client is gone, and every request still running is cancelled so that the engine
 * frees its KV blocks at once instead of generating for nobody.
 */
final class StreamPump {

    /** New text of request {@code index}. */
    record Piece(int index, String text, int[] tokenIds, List<TokenLogprob> logprobs) {
        Piece(int index, String text, int[] tokenIds) {
            this(index, text, tokenIds, null);
        }
    }

    /** Request {@code index} ended, with a response or an error. */
    record Done(int index, Response response, Throwable error) {
    }

    /** Turns events into the endpoint's event format. */
    interface Sink {
        /** Called once the response headers are sent, before any event. */
        default void start(SseWriter out) throws IOException {
        }

        void piece(SseWriter out, Piece piece) throws IOException;

        void done(SseWriter out, Done done) throws IOException;

        /** The last call after a request failed mid-stream: write the error and end the stream. */
        void error(SseWriter out, HttpError error) throws IOException;

        /** The last call when every request finished. */
        void end(SseWriter out) throws IOException;
    }

    /**
     * How long to hold the response headers back waiting for the first event: a request that fails at
     * once (a prompt too long for the model) then still gets a proper error status instead of a 200
     * stream carrying an error. Package-private and mutable for tests.
     */
    static volatile long headerWaitMillis = 1000;
    /** Silence after which a comment is written, keeping proxies from timing out and finding gone clients. */
    static volatile long heartbeatMillis = 10_000;

    private final GenerationService service;
    private final Metrics metrics;
    private final HttpCall call;
    private final Set<StreamPump> inFlight;
    private final LinkedBlockingQueue<Object> events = new LinkedBlockingQueue<>();
    private final List<Generation> streams = new ArrayList<>();
    private final List<AtomicBoolean> finished = new ArrayList<>();
    private long[] firstTokenNanos = new long[0];
    private long[] lastTokenNanos = new long[0];

    StreamPump(GenerationService service, Metrics metrics, HttpCall call, Set<StreamPump> inFlight) {
        this.service = service;
        this.metrics = metrics;
        this.call = call;
        this.inFlight = inFlight;
    }

    /**
     * Starts {@code count} requests. If one cannot start (the engine rejects its prompt), the ones
     * already started are cancelled and the error is thrown, before any response was sent.
     */
    void start(int count, IntFunction<String> prompts, IntFunction<GenerationOptions> options) {
        start(count, (i, listener) -> service.stream(prompts.apply(i), options.apply(i), listener));
    }

    /** Starts request {@code index} with its listener. */
    interface Starter {
        Generation start(int index, StreamListener listener);
    }

    /** {@link #start(int, IntFunction, IntFunction)} with each request started by {@code starter}. */
    void start(int count, Starter starter) {
        firstTokenNanos = new long[count];
        lastTokenNanos = new long[count];
        inFlight.add(this);
        try {
            for (int i = 0; i < count; i++) {
                AtomicBoolean done = new AtomicBoolean();
                synchronized (this) {
                    finished.add(done);
                }
                Generation s = starter.start(i, listener(i, done));
                synchronized (this) {
                    streams.add(s);
                }
                int index = i;
                // Covers services that complete the future without calling onFinish.
                s.result().whenComplete((r, e) -> finish(index, done, r, e));
            }
        } catch (RuntimeException e) {
            cancelAll();
            inFlight.remove(this);
            throw e;
        }
    }

    private StreamListener listener(int index, AtomicBoolean done) {
        return new StreamListener() {
            @Override
            public void onText(String text, int[] tokenIds) {
                onText(text, tokenIds, null);
            }

            @Override
            public void onText(String text, int[] tokenIds, List<TokenLogprob> logprobs) {
                if (tokenIds.length > 0) {
                    long now = System.nanoTime();
                    if (firstTokenNanos[index] == 0) {
                        firstTokenNanos[index] = now;
                        call.firstToken(now);
                    }
                    lastTokenNanos[index] = now;
                }
                events.add(new Piece(index, text, tokenIds, logprobs));
            }

            @Override
            public void onFinish(Response response, Throwable error) {
                finish(index, done, response, error);
            }
        };
    }

    private void finish(int index, AtomicBoolean done, Response response, Throwable error) {
        if (done.compareAndSet(false, true)) {
            if (response != null) {
                metrics.tokens(response);
                call.tokens(response);
            }
            events.add(new Done(index, response, error == null && response == null
                    ? new IllegalStateException("the request ended without a response") : error));
        }
    }

    /** Cancels every request not finished yet; harmless to call twice. */
    void cancelAll() {
        List<Generation> copy;
        List<AtomicBoolean> done;
        synchronized (this) {
            copy = List.copyOf(streams);
            done = List.copyOf(finished);
        }
        for (int i = 0; i < copy.size(); i++) {
            if (!done.get(i).get()) {
                try {
                    copy.get(i).cancel();
                } catch (RuntimeException ignored) {
                    // Cancelling is best effort; the request ends on its own otherwise.
                }
            }
        }
    }

    /** Writes every event until all requests are done, the client goes away, or a request fails. */
    void run(Sink sink) throws IOException {
        int remaining;
        synchronized (this) {
            remaining = finished.size();
        }
        try {
            Object event = events.poll(Math.max(1, Math.min(headerWaitMillis, call.nanosLeft() / 1_000_000)),
                    TimeUnit.MILLISECONDS);
            if (event instanceof Done d && d.error() != null) {
                cancelAll();
                call.sendError(HttpError.of(d.error()));
                return;
            }
            SseWriter out = call.startSse();
            sink.start(out);
            long firstToken = Long.MAX_VALUE;
            long lastWrite = System.nanoTime();
            while (remaining > 0) {
                if (event == null) {
                    // Short polls: a client that left (an HTTP/2 reset, a closed socket) or a deadline that
                    // passed is noticed within a fraction of a second even while the engine is quiet.
                    event = events.poll(Math.min(heartbeatMillis, 100), TimeUnit.MILLISECONDS);
                    if (call.disconnected()) {
                        throw new IOException("the client went away");
                    }
                    if (call.pastDeadline()) {
                        cancelAll();
                        sink.error(out, call.deadlineError());
                        return;
                    }
                    if (event == null) {
                        if (System.nanoTime() - lastWrite >= heartbeatMillis * 1_000_000L) {
                            out.comment("keep-alive");
                            lastWrite = System.nanoTime();
                        }
                        continue;
                    }
                }
                lastWrite = System.nanoTime();
                switch (event) {
                    case Piece p -> sink.piece(out, p);
                    case Done d when d.error() != null -> {
                        cancelAll();
                        sink.error(out, HttpError.of(d.error()));
                        return;
                    }
                    case Done d -> {
                        remaining--;
                        firstToken = Math.min(firstToken, observe(d));
                        sink.done(out, d);
                    }
                    default -> throw new IllegalStateException("unknown event " + event);
                }
                event = null;
            }
            sink.end(out);
            if (firstToken != Long.MAX_VALUE) {
                metrics.timeToFirstToken(firstToken - call.startNanos);
            }
            metrics.e2eLatency(System.nanoTime() - call.startNanos);
        } catch (IOException e) {
            // The client closed the connection (or a proxy did): stop generating for it.
            cancelAll();
            call.clientGone();
        } catch (InterruptedException e) {
            cancelAll();
            Thread.currentThread().interrupt();
        } finally {
            cancelAll();
            inFlight.remove(this);
        }
    }

    /** Records the time per output token of a finished request; returns when its first token came. */
    private long observe(Done d) {
        long first = firstTokenNanos[d.index()];
        int generated = d.response().generatedLength();
        if (first != 0 && generated > 1) {
            metrics.timePerOutputToken((lastTokenNanos[d.index()] - first) / (generated - 1));
        }
        return first == 0 ? Long.MAX_VALUE : first;
    }
}
