package dev.miij.server.grpc;

import com.google.protobuf.Empty;
import dev.miij.server.grpc.proto.ModelResponseGrpc;
import dev.miij.server.grpc.proto.MultiGenerationReply;
import dev.miij.server.grpc.proto.MultiStringRequest;
import dev.miij.server.grpc.proto.SingleGenerationReply;
import io.grpc.Server;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** A stand-in replica on a real socket whose behaviour a test sets: answers with its name, fails, holds calls. */
final class FakeReplica extends ModelResponseGrpc.ModelResponseImplBase implements AutoCloseable {

    /**
     * BREAK_BEFORE_TEXT: a stream sends what a replica sends before any generated text (the prompt when
     * return_full_text is set, then a token whose text is empty, as an end-of-sequence token under
     * ignore_eos), then the connection fails.
     */
    enum Mode { NORMAL, UNAVAILABLE, INVALID, HOLD, BREAK_AFTER_ONE_PIECE, BREAK_BEFORE_TEXT }

    final String name;
    final AtomicInteger calls = new AtomicInteger();
    final AtomicInteger cancelled = new AtomicInteger();
    final List<Runnable> held = new CopyOnWriteArrayList<>();
    volatile Mode mode = Mode.NORMAL;
    private final Server server;

    FakeReplica(String name, int port) {
        this(name, "127.0.0.1", port);
    }

    FakeReplica(String name, String host, int port) {
        this.name = name;
        HealthStatusManager health = new HealthStatusManager();
        health.setStatus(ModelResponseGrpc.SERVICE_NAME, ServingStatus.SERVING);
        server = NettyServerBuilder.forAddress(new InetSocketAddress(host, port))
                .addService(this).addService(health.getHealthService()).build();
        try {
            server.start();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    int port() {
        return server.getPort();
    }

    static MultiGenerationReply reply(String text, String finish) {
        return MultiGenerationReply.newBuilder().addResponse(SingleGenerationReply.newBuilder()
                .setResponse(text).setFinishReason(finish).setPromptTokens(1).setGeneratedTokens(text.length())).build();
    }

    @Override
    public void generatorReply(MultiStringRequest request, StreamObserver<MultiGenerationReply> out) {
        calls.incrementAndGet();
        ((ServerCallStreamObserver<MultiGenerationReply>) out).setOnCancelHandler(cancelled::incrementAndGet);
        Runnable answer = () -> {
            MultiGenerationReply.Builder b = MultiGenerationReply.newBuilder();
            for (String p : request.getRequestList()) {
                b.addResponse(reply(name + ":" + p, "length").getResponse(0));
            }
            out.onNext(b.build());
            out.onCompleted();
        };
        switch (mode) {
            case NORMAL -> answer.run();
            case HOLD -> held.add(answer);
            case UNAVAILABLE -> out.onError(Status.UNAVAILABLE.withDescription(name + " is loading").asRuntimeException());
            case INVALID -> out.onError(Status.INVALID_ARGUMENT.withDescription("top_k must be an integer").asRuntimeException());
            case BREAK_AFTER_ONE_PIECE, BREAK_BEFORE_TEXT -> answer.run();
        }
    }

    @Override
    public void generatorReplyStream(MultiStringRequest request, StreamObserver<MultiGenerationReply> out) {
        calls.incrementAndGet();
        ((ServerCallStreamObserver<MultiGenerationReply>) out).setOnCancelHandler(cancelled::incrementAndGet);
        Runnable answer = () -> {
            for (String piece : List.of(name, ":", "a", "b")) {
                out.onNext(reply(piece, WireReplies.NOT_FINISHED));
            }
            out.onNext(reply("", "stop"));
            out.onCompleted();
        };
        switch (mode) {
            case NORMAL -> answer.run();
            case HOLD -> {
                out.onNext(reply(name, WireReplies.NOT_FINISHED));
                held.add(() -> {
                    out.onNext(reply("", "stop"));
                    out.onCompleted();
                });
            }
            case UNAVAILABLE -> out.onError(Status.UNAVAILABLE.withDescription(name + " is loading").asRuntimeException());
            case INVALID -> out.onError(Status.INVALID_ARGUMENT.withDescription("top_k must be an integer").asRuntimeException());
            case BREAK_AFTER_ONE_PIECE -> {
                out.onNext(reply(name, WireReplies.NOT_FINISHED));
                out.onError(Status.UNAVAILABLE.withDescription(name + " broke").asRuntimeException());
            }
            case BREAK_BEFORE_TEXT -> {
                out.onNext(MultiGenerationReply.newBuilder().addResponse(SingleGenerationReply.newBuilder()
                        .setResponse(name + "-prompt ").setFinishReason(WireReplies.NOT_FINISHED)).build());
                out.onNext(MultiGenerationReply.newBuilder().addResponse(SingleGenerationReply.newBuilder()
                        .setResponse("").setFinishReason(WireReplies.NOT_FINISHED).setGeneratedTokens(1)
                        .addTokenIds(0)).build());
                out.onError(Status.UNAVAILABLE.withDescription(name + " broke").asRuntimeException());
            }
        }
    }

    @Override
    public void terminate(Empty request, StreamObserver<Empty> out) {
        out.onNext(Empty.getDefaultInstance());
        out.onCompleted();
    }

    void releaseAll() {
        held.forEach(Runnable::run);
        held.clear();
    }

    @Override
    public void close() {
        server.shutdownNow();
        try {
            server.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
