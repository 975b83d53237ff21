package dev.miij.server.grpc;

import com.google.common.util.concurrent.MoreExecutors;
import dev.miij.server.grpc.proto.ModelResponseGrpc;
import dev.miij.server.grpc.proto.MultiGenerationReply;
import dev.miij.server.grpc.proto.MultiStringRequest;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.Deadline;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Sends each request to the replica with the least outstanding work and relays its replies. A call
 * that fails with UNAVAILABLE before its output began (the replica died or is restarting) is sent
 * again to another replica, so that no request fails for a lost replica unless it had already shown
 * the client some of its text; while no replica is up, requests wait for one (up to
 * {@code waitForReplicaMillis}). Replies without generated text — the prompt a stream with
 * return_full_text starts with, a token whose text is empty (an end-of-sequence token under
 * ignore_eos, part of a character) — are held back until the first one with generated text, so a
 * retry never shows the client anything of the failed attempt.
 *
 * <pre>{@code
 * ReplicaRouter.Forward f = router.forward(ReplicaRouter.UNARY, request, null, observer);
 * f.cancel();   // if the caller goes away
 * }</pre>
 */
public final class ReplicaRouter {

    public static final MethodDescriptor<MultiStringRequest, MultiGenerationReply> UNARY =
            ModelResponseGrpc.getGeneratorReplyMethod();
    public static final MethodDescriptor<MultiStringRequest, MultiGenerationReply> STREAM =
            ModelResponseGrpc.getGeneratorReplyStreamMethod();

    private static final long RETRY_DELAY_MILLIS = 100;

    private final BackendPool pool;
    private final ScheduledExecutorService timer;
    private final long waitForReplicaMillis;
    private final AtomicInteger inFlight = new AtomicInteger();
    private volatile boolean closed;

    public ReplicaRouter(BackendPool pool, ScheduledExecutorService timer, long waitForReplicaMillis) {
        this.pool = pool;
        this.timer = timer;
        this.waitForReplicaMillis = waitForReplicaMillis;
    }

    public BackendPool pool() {
        return pool;
    }

    /** Calls being relayed now. */
    public int inFlight() {
        return inFlight.get();
    }

    /** Refuses new calls (UNAVAILABLE); calls already in flight go on. */
    public void close() {
        closed = true;
    }

    /** Waits until no call is in flight, for at most {@code timeoutMillis}; true if none is left. */
    public boolean awaitIdle(long timeoutMillis) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        while (inFlight.get() > 0) {
            if (System.nanoTime() > end) {
                return false;
            }
            Thread.sleep(20);
        }
        return true;
    }

    /**
     * Relays one call; replies and the outcome go to {@code sink}, whose signals are never concurrent.
     * {@code deadline} may be null.
     */
    public Forward forward(MethodDescriptor<MultiStringRequest, MultiGenerationReply> method, MultiStringRequest request,
                           Deadline deadline, StreamObserver<MultiGenerationReply> sink) {
        return forward(method, request, deadline, sink, false);
    }

    /**
     * As {@link #forward(MethodDescriptor, MultiStringRequest, Deadline, StreamObserver)}; with {@code
     * nonBlockingSink} the replica's replies reach {@code sink} on the I/O thread that read them, with no
     * hand-over to another thread: only for a sink that never blocks (another gRPC call's observer).
     */
    public Forward forward(MethodDescriptor<MultiStringRequest, MultiGenerationReply> method, MultiStringRequest request,
                           Deadline deadline, StreamObserver<MultiGenerationReply> sink, boolean nonBlockingSink) {
        Forward f = new Forward(method, request, deadline, sink, nonBlockingSink);
        if (closed) {
            sink.onError(Status.UNAVAILABLE.withDescription("the deployment is shutting down").asRuntimeException());
            return f;
        }
        inFlight.incrementAndGet();
        f.attempt();
        return f;
    }

    /** Whether a reply carries generated text (not only the prompt, token ids or a finish reason). */
    static boolean hasGeneratedText(MultiGenerationReply reply) {
        for (var r : reply.getResponseList()) {
            if (r.getGeneratedTokens() > 0 && !r.getResponse().isEmpty()) {
                return true;
            }
        }
        return false;
    }

    /** One relayed call across its attempts. */
    public final class Forward {
        private final MethodDescriptor<MultiStringRequest, MultiGenerationReply> method;
        private final MultiStringRequest request;
        private final Deadline deadline;
        private final StreamObserver<MultiGenerationReply> sink;
        private final CallOptions options;
        private final int prompts;
        private final long waitUntil = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(waitForReplicaMillis);
        private ClientCall<MultiStringRequest, MultiGenerationReply> call;
        private int attempts;
        private boolean cancelled;
        private boolean done;
        /** Whether output has reached the sink; from then on the call can no longer be retried. */
        private volatile boolean relayed;
        /** Replies of the current attempt held back until its output begins (only its callbacks touch it). */
        private final List<MultiGenerationReply> held = new ArrayList<>();

        private Forward(MethodDescriptor<MultiStringRequest, MultiGenerationReply> method, MultiStringRequest request,
                        Deadline deadline, StreamObserver<MultiGenerationReply> sink, boolean nonBlockingSink) {
            this.method = method;
            this.request = request;
            this.deadline = deadline;
            this.sink = sink;
            CallOptions o = deadline == null ? CallOptions.DEFAULT : CallOptions.DEFAULT.withDeadline(deadline);
            this.options = nonBlockingSink ? o.withExecutor(MoreExecutors.directExecutor()) : o;
            this.prompts = Math.max(1, request.getRequestCount() + request.getPromptTokenIdsCount());
        }

        /** Cancels the call on its replica; the sink gets CANCELLED. */
        public void cancel() {
            ClientCall<MultiStringRequest, MultiGenerationReply> c;
            synchronized (this) {
                if (cancelled || done) {
                    return;
                }
                cancelled = true;
                c = call;
            }
            if (c != null) {
                c.cancel("cancelled by the client", null);
            }
        }

        private void attempt() {
            synchronized (this) {
                if (cancelled) {
                    finish(Status.CANCELLED.withDescription("cancelled by the client"));
                    return;
                }
            }
            if (deadline != null && deadline.isExpired()) {
                finish(Status.DEADLINE_EXCEEDED.withDescription("no replica answered before the deadline"));
                return;
            }
            Backend b = pool.acquire(prompts);
            if (b == null) {
                if (System.nanoTime() - waitUntil > 0) {
                    finish(Status.UNAVAILABLE.withDescription("no replica is serving (waited "
                            + waitForReplicaMillis / 1000 + " s)"));
                } else {
                    timer.schedule(this::attempt, RETRY_DELAY_MILLIS, TimeUnit.MILLISECONDS);
                }
                return;
            }
            synchronized (this) {
                attempts++;
            }
            ClientCall<MultiStringRequest, MultiGenerationReply> c = b.channel().newCall(method, options);
            synchronized (this) {
                call = c;
            }
            StreamObserver<MultiGenerationReply> relay = new StreamObserver<>() {
                @Override
                public void onNext(MultiGenerationReply reply) {
                    if (!relayed && !hasGeneratedText(reply)) {
                        held.add(reply);
                        return;
                    }
                    release();
                    sink.onNext(reply);
                }

                @Override
                public void onError(Throwable t) {
                    pool.release(b, prompts);
                    Status s = Status.fromThrowable(t);
                    boolean retry;
                    synchronized (Forward.this) {
                        // Bounded, in case a replica passes health checks yet keeps refusing calls.
                        retry = s.getCode() == Status.Code.UNAVAILABLE && !relayed && !cancelled
                                && attempts < 2 * pool.size() + 2;
                        call = null;
                    }
                    if (retry) {
                        held.clear();
                        // The replica is gone or not ready: keep new work off it until a health check says otherwise.
                        pool.markDown(b.index, "a call failed: " + s.getDescription());
                        attempt();
                    } else {
                        finish(s);
                    }
                }

                @Override
                public void onCompleted() {
                    pool.release(b, prompts);
                    release();
                    finish(Status.OK);
                }
            };
            if (method.getType() == MethodDescriptor.MethodType.UNARY) {
                ClientCalls.asyncUnaryCall(c, request, relay);
            } else {
                ClientCalls.asyncServerStreamingCall(c, request, relay);
            }
            synchronized (this) {
                // A cancel that came while the call was being started found no call to cancel.
                if (cancelled && call == c) {
                    c.cancel("cancelled by the client", null);
                }
            }
        }

        /** Output begins: the held replies go to the sink, in order. */
        private void release() {
            relayed = true;
            held.forEach(sink::onNext);
            held.clear();
        }

        private void finish(Status s) {
            synchronized (this) {
                if (done) {
                    return;
                }
                done = true;
            }
            inFlight.decrementAndGet();
            if (s.isOk()) {
                sink.onCompleted();
            } else {
                sink.onError(s.asRuntimeException());
            }
        }
    }
}
