package dev.miij.server.grpc;

import com.google.protobuf.Empty;
import dev.miij.Client;
import dev.miij.Generation;
import dev.miij.GenerationOptions;
import dev.miij.MiiException;
import dev.miij.Response;
import dev.miij.engine.StreamListener;
import dev.miij.server.grpc.proto.ModelResponseGrpc;
import dev.miij.server.grpc.proto.MultiGenerationReply;
import dev.miij.server.grpc.proto.MultiStringRequest;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.ClientCalls;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;

/**
 * A {@link Client} talking MII's gRPC protocol to a deployment's load balancer. Obtain one from
 * {@code Mii.serve} or {@code Mii.client}; or connect directly:
 *
 * <pre>{@code
 * try (Client c = GrpcClient.connect("my-deployment", "127.0.0.1", 50050, -1)) {
 *     System.out.println(c.generate(List.of("DeepSpeed is"), GenerationOptions.builder().maxNewTokens(16).build()));
 * }
 * }</pre>
 */
public final class GrpcClient implements Client {

    /** How long {@link #terminateServer()} waits for the deployment's processes to exit. */
    public static final long TERMINATE_WAIT_MILLIS = 15_000;

    private final String deploymentName;
    private final String address;
    private final long serverPid;
    private final ManagedChannel channel;
    private final ModelResponseGrpc.ModelResponseBlockingStub blocking;

    private GrpcClient(String deploymentName, String host, int port, long serverPid, String apiKey) {
        this.deploymentName = deploymentName;
        this.address = host + ":" + port;
        this.serverPid = serverPid;
        NettyLogging.init();
        NettyChannelBuilder b = NettyChannelBuilder.forAddress(host, port).usePlaintext()
                .maxInboundMessageSize(Backend.MAX_MESSAGE_BYTES);
        if (apiKey != null && !apiKey.isEmpty()) {
            b.intercept(ApiKeys.client(apiKey));
        }
        this.channel = b.build();
        this.blocking = ModelResponseGrpc.newBlockingStub(channel);
    }

    /**
     * Connects (lazily) to a load balancer. {@code serverPid} is the front end's process id, which
     * {@link #terminateServer()} waits for, or -1 when it is not on this host.
     */
    public static GrpcClient connect(String deploymentName, String host, int port, long serverPid) {
        return connect(deploymentName, host, port, serverPid, null);
    }

    /** As {@link #connect(String, String, int, long)}, sending {@code apiKey} (null: none) with every call. */
    public static GrpcClient connect(String deploymentName, String host, int port, long serverPid, String apiKey) {
        return new GrpcClient(deploymentName, host, port, serverPid, apiKey);
    }

    @Override
    public String deploymentName() {
        return deploymentName;
    }

    @Override
    public List<Response> generate(List<String> prompts, GenerationOptions options) {
        try {
            MultiGenerationReply reply = blocking.generatorReply(ReplicatedService.request(prompts, options));
            return reply.getResponseList().stream().map(WireReplies::toResponse).toList();
        } catch (StatusRuntimeException e) {
            throw error(e);
        }
    }

    @Override
    public Generation stream(String prompt, GenerationOptions options, StreamListener listener) {
        ReplyStream replies = new ReplyStream(listener);
        ClientCall<MultiStringRequest, MultiGenerationReply> call = channel.newCall(ReplicaRouter.STREAM, CallOptions.DEFAULT);
        ClientCalls.asyncServerStreamingCall(call, ReplicatedService.request(List.of(prompt), options), replies);
        return replies.generation(call);
    }

    @Override
    public Flow.Publisher<String> streamPublisher(String prompt, GenerationOptions options) {
        return new PiecePublisher(channel, ReplicatedService.request(List.of(prompt), options));
    }

    /** Asks the deployment to stop, then waits until its front end process (and so every replica) is gone. */
    @Override
    public void terminateServer() {
        try {
            blocking.withDeadlineAfter(10, TimeUnit.SECONDS).terminate(Empty.getDefaultInstance());
        } catch (StatusRuntimeException e) {
            throw error(e);
        }
        Optional<ProcessHandle> server = serverPid > 0 ? ProcessHandle.of(serverPid) : Optional.empty();
        if (server.isEmpty()) {
            return;
        }
        // Polled: onExit() of a process that is not our child only notices after 300 ms or more.
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(TERMINATE_WAIT_MILLIS);
        while (server.get().isAlive()) {
            if (System.nanoTime() > end) {
                throw new MiiException(MiiException.Kind.INTERNAL, "deployment " + deploymentName + " (pid " + serverPid
                        + ") did not stop within " + TERMINATE_WAIT_MILLIS / 1000 + " s");
            }
            try {
                Thread.sleep(25);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new MiiException(MiiException.Kind.CANCELLED, "interrupted while waiting for the deployment to stop");
            }
        }
    }

    private MiiException error(StatusRuntimeException e) {
        MiiException m = GrpcStatus.toMii(e);
        if (m.kind() == MiiException.Kind.IO) {
            return new MiiException(m.kind(), "deployment " + deploymentName + " at " + address + ": " + m.getMessage(), e);
        }
        return m;
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
