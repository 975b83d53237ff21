package dev.miij.server.grpc;

import dev.miij.server.grpc.proto.MultiGenerationReply;
import dev.miij.server.grpc.proto.MultiStringRequest;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ClientResponseObserver;
import java.util.concurrent.Flow;

/**
 * A streaming call as a {@link Flow.Publisher} of text pieces. Each subscriber gets its own call, and
 * its demand is passed to gRPC's flow control, so a slow subscriber slows the transfer instead of
 * buffering without bound. Cancelling the subscription cancels the call (and the request in the engine).
 */
final class PiecePublisher implements Flow.Publisher<String> {

    private final Channel channel;
    private final MultiStringRequest request;

    PiecePublisher(Channel channel, MultiStringRequest request) {
        this.channel = channel;
        this.request = request;
    }

    @Override
    public void subscribe(Flow.Subscriber<? super String> subscriber) {
        PieceSubscription s = new PieceSubscription(subscriber);
        subscriber.onSubscribe(s);
        ClientCalls.asyncServerStreamingCall(channel.newCall(ReplicaRouter.STREAM, CallOptions.DEFAULT), request, s);
        s.started();
    }

    private static final class PieceSubscription implements Flow.Subscription,
            ClientResponseObserver<MultiStringRequest, MultiGenerationReply> {

        private final Flow.Subscriber<? super String> subscriber;
        private ClientCallStreamObserver<MultiStringRequest> starting;
        private ClientCallStreamObserver<MultiStringRequest> call;
        private long pendingDemand; // demand that arrived before the call started
        private boolean cancelled;
        private boolean terminated;

        PieceSubscription(Flow.Subscriber<? super String> subscriber) {
            this.subscriber = subscriber;
        }

        @Override
        public void beforeStart(ClientCallStreamObserver<MultiStringRequest> requestStream) {
            // request() may not be called before the call has started: take the demand so far as the initial one.
            synchronized (this) {
                starting = requestStream;
                requestStream.disableAutoRequestWithInitial((int) Math.min(pendingDemand, Integer.MAX_VALUE));
                pendingDemand = 0;
            }
        }

        /** The call has started: demand from now on goes straight to it, with any that came meanwhile. */
        void started() {
            long demand;
            ClientCallStreamObserver<MultiStringRequest> c;
            synchronized (this) {
                c = starting;
                call = c;
                demand = pendingDemand;
                pendingDemand = 0;
                if (cancelled) {
                    c.cancel("subscription cancelled", null);
                    return;
                }
            }
            if (demand > 0) {
                c.request((int) Math.min(demand, Integer.MAX_VALUE));
            }
        }

        @Override
        public void request(long n) {
            ClientCallStreamObserver<MultiStringRequest> c;
            synchronized (this) {
                if (cancelled || terminated) {
                    return;
                }
                if (n <= 0) {
                    // Reactive Streams rule 3.9: a non-positive request is an error that ends the subscription.
                    cancelled = true;
                    terminated = true;
                    if (call != null) {
                        call.cancel("invalid demand", null);
                    }
                    subscriber.onError(new IllegalArgumentException("request(n) needs n > 0, got " + n));
                    return;
                }
                c = call;
                if (c == null) {
                    pendingDemand = pendingDemand + n < 0 ? Long.MAX_VALUE : pendingDemand + n;
                    return;
                }
            }
            c.request((int) Math.min(n, Integer.MAX_VALUE));
        }

        @Override
        public void cancel() {
            ClientCallStreamObserver<MultiStringRequest> c;
            synchronized (this) {
                if (cancelled) {
                    return;
                }
                cancelled = true;
                c = call;
            }
            if (c != null) {
                c.cancel("subscription cancelled", null);
            }
        }

        @Override
        public void onNext(MultiGenerationReply reply) {
            // One message, one item: demand maps one to one onto gRPC messages.
            StringBuilder piece = new StringBuilder();
            reply.getResponseList().forEach(r -> piece.append(r.getResponse()));
            synchronized (this) {
                if (cancelled) {
                    return;
                }
                if (!piece.isEmpty()) {
                    subscriber.onNext(piece.toString());
                }
            }
            if (piece.isEmpty()) {
                // A message without text used no demand: ask for the next one. (A message came, so the call
                // has started, though started() may not have run yet.)
                ClientCallStreamObserver<MultiStringRequest> c;
                synchronized (this) {
                    c = starting;
                }
                c.request(1);
            }
        }

        @Override
        public void onError(Throwable t) {
            synchronized (this) {
                if (cancelled || terminated) {
                    return;
                }
                terminated = true;
            }
            subscriber.onError(GrpcStatus.toMii(t));
        }

        @Override
        public void onCompleted() {
            synchronized (this) {
                if (cancelled || terminated) {
                    return;
                }
                terminated = true;
            }
            subscriber.onComplete();
        }
    }
}
