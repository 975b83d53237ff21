package dev.miij.cli.load;

import dev.miij.GenerationOptions;
import dev.miij.server.grpc.ApiKeys;
import dev.miij.server.grpc.WireKwargs;
import dev.miij.server.grpc.WireReplies;
import dev.miij.server.grpc.proto.ModelResponseGrpc;
import dev.miij.server.grpc.proto.MultiGenerationReply;
import dev.miij.server.grpc.proto.MultiStringRequest;
import dev.miij.server.grpc.proto.SingleGenerationReply;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.util.internal.logging.InternalLoggerFactory;
import io.grpc.netty.shaded.io.netty.util.internal.logging.JdkLoggerFactory;
import java.time.Duration;
import java.util.Iterator;
import java.util.concurrent.TimeUnit;

/**
 * {@code GeneratorReply} calls (or, streamed, {@code GeneratorReplyStream}) in MII's wire format to a
 * load balancer or directly to a replica: one prompt, greedy, {@code max_new_tokens} with
 * {@code ignore_eos}, so every request does the same work. All callers share one channel (one HTTP/2
 * connection), as the threads of one MII client do. A stream succeeds only when its last message
 * carries a finish reason.
 */
public final class GrpcLoadClient implements LoadClient {

    static {
        // gRPC's shaded Netty would otherwise find slf4j-api without a provider and print its warning.
        InternalLoggerFactory.setDefaultFactory(JdkLoggerFactory.INSTANCE);
    }

    private final String address;
    private final ManagedChannel channel;
    private final ModelResponseGrpc.ModelResponseBlockingStub stub;
    private final MultiStringRequest request;
    private final long timeoutNanos;
    private final boolean stream;

    public GrpcLoadClient(String host, int port, String prompt, int maxNewTokens, Duration timeout) {
        this(host, port, prompt, maxNewTokens, timeout, false, null);
    }

    /** {@code apiKey}: sent as {@code authorization: Bearer KEY} on every call (null or empty: none). */
    public GrpcLoadClient(String host, int port, String prompt, int maxNewTokens, Duration timeout, boolean stream,
                          String apiKey) {
        this.stream = stream;
        this.address = host + ":" + port;
        NettyChannelBuilder b = NettyChannelBuilder.forAddress(host, port).usePlaintext();
        if (apiKey != null && !apiKey.isEmpty()) {
            b.intercept(ApiKeys.client(apiKey));
        }
        this.channel = b.build();
        this.stub = ModelResponseGrpc.newBlockingStub(channel);
        GenerationOptions options = GenerationOptions.builder().maxNewTokens(maxNewTokens).doSample(false)
                .ignoreEos(true).build();
        this.request = MultiStringRequest.newBuilder().addRequest(prompt).putAllQueryKwargs(WireKwargs.of(options)).build();
        this.timeoutNanos = timeout.toNanos();
    }

    @Override
    public Answer send() throws Failure {
        return stream ? sendStreamed() : Answer.whole(sendUnary());
    }

    private Answer sendStreamed() throws Failure {
        long start = System.nanoTime();
        long firstOutput = -1;
        boolean output = false;
        SingleGenerationReply last = null;
        try {
            Iterator<MultiGenerationReply> replies = stub.withDeadlineAfter(timeoutNanos, TimeUnit.NANOSECONDS)
                    .generatorReplyStream(request);
            while (replies.hasNext()) {
                MultiGenerationReply m = replies.next();
                if (m.getResponseCount() == 0) {
                    throw new Failure("a stream message without responses", output);
                }
                last = m.getResponse(0);
                if (!output && !last.getResponse().isEmpty()) {
                    output = true;
                    firstOutput = System.nanoTime() - start;
                }
            }
        } catch (StatusRuntimeException e) {
            String d = e.getStatus().getDescription();
            throw new Failure("gRPC " + e.getStatus().getCode() + (d == null ? "" : ": " + d), output);
        }
        if (last == null || last.getFinishReason().isEmpty() || last.getFinishReason().equals(WireReplies.NOT_FINISHED)) {
            throw new Failure("stream without a finish reason", output);
        }
        return new Answer(last.getGeneratedTokens(), firstOutput);
    }

    private long sendUnary() throws Failure {
        MultiGenerationReply reply;
        try {
            reply = stub.withDeadlineAfter(timeoutNanos, TimeUnit.NANOSECONDS).generatorReply(request);
        } catch (StatusRuntimeException e) {
            String d = e.getStatus().getDescription();
            throw new Failure("gRPC " + e.getStatus().getCode() + (d == null ? "" : ": " + d));
        }
        if (reply.getResponseCount() == 0) {
            throw new Failure("reply without responses");
        }
        long tokens = 0;
        for (SingleGenerationReply r : reply.getResponseList()) {
            tokens += r.getGeneratedTokens();
        }
        return tokens;
    }

    @Override
    public String describe() {
        return (stream ? "GeneratorReplyStream " : "GeneratorReply ") + address;
    }

    @Override
    public void close() {
        channel.shutdownNow();
        try {
            channel.awaitTermination(2, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
