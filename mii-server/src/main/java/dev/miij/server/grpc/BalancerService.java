package dev.miij.server.grpc;

import com.google.protobuf.Empty;
import dev.miij.server.grpc.proto.ModelResponseGrpc;
import dev.miij.server.grpc.proto.MultiGenerationReply;
import dev.miij.server.grpc.proto.MultiStringRequest;
import io.grpc.Context;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;

/**
 * MII's {@code ModelResponse} service of the load balancer: generation calls are relayed to replicas
 * by a {@link ReplicaRouter}; Terminate answers, then shuts the whole deployment down.
 *
 * <pre>{@code
 * Server s = NettyServerBuilder.forPort(50050).addService(new BalancerService(router, deployment::shutdown)).build();
 * }</pre>
 */
public final class BalancerService extends ModelResponseGrpc.ModelResponseImplBase {

    private final ReplicaRouter router;
    private final Runnable onTerminate;

    /** @param onTerminate run on its own thread after a Terminate call was answered */
    public BalancerService(ReplicaRouter router, Runnable onTerminate) {
        this.router = router;
        this.onTerminate = onTerminate;
    }

    @Override
    public void generatorReply(MultiStringRequest request, StreamObserver<MultiGenerationReply> out) {
        relay(ReplicaRouter.UNARY, request, out);
    }

    @Override
    public void generatorReplyStream(MultiStringRequest request, StreamObserver<MultiGenerationReply> out) {
        relay(ReplicaRouter.STREAM, request, out);
    }

    private void relay(io.grpc.MethodDescriptor<MultiStringRequest, MultiGenerationReply> method,
                       MultiStringRequest request, StreamObserver<MultiGenerationReply> observer) {
        ServerCallStreamObserver<MultiGenerationReply> out = (ServerCallStreamObserver<MultiGenerationReply>) observer;
        ReplicaRouter.Forward[] forward = new ReplicaRouter.Forward[1];
        out.setOnCancelHandler(() -> {
            if (forward[0] != null) {
                forward[0].cancel();
            }
        });
        // The observer of a gRPC call only queues what it is given: replies may reach it on the I/O thread.
        forward[0] = router.forward(method, request, Context.current().getDeadline(), out, true);
        if (out.isCancelled()) {
            forward[0].cancel();
        }
    }

    @Override
    public void terminate(Empty request, StreamObserver<Empty> out) {
        out.onNext(Empty.getDefaultInstance());
        out.onCompleted();
        Thread.ofPlatform().name("mii-terminate").start(onTerminate);
    }
}
