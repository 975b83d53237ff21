package dev.miij.cli.load;

import dev.miij.GenerationOptions;
import dev.miij.server.grpc.WireKwargs;
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
import java.util.concurrent.TimeUnit;

/**
 * Unary {@code GeneratorReply} calls in MII's wire format to a load balancer or directly to a replica:
 * one prompt, greedy, {@code max_new_tokens} with {@code ignore_eos}, so every request does the same
 * work. All callers share one channel (one HTTP/2 connection), as the threads of one MII client do.
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

    public GrpcLoadClient(String host, int port, String prompt, int maxNewTokens, Duration timeout) {
        this.address = host + ":" + port;
        this.channel = NettyChannelBuilder.forAddress(host, port).usePlaintext().build();
        this.stub = ModelResponseGrpc.newBlockingStub(channel);
        GenerationOptions options = GenerationOptions.builder().maxNewTokens(maxNewTokens).doSample(false)
                .ignoreEos(true).build();
        this.request = MultiStringRequest.newBuilder().addRequest(prompt).putAllQueryKwargs(WireKwargs.of(options)).build();
        this.timeoutNanos = timeout.toNanos();
    }

    @Override
    public long send() throws Failure {
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
        return "GeneratorReply " + address;
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
