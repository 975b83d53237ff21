package dev.miij.server.grpc;

import dev.miij.Generation;
import dev.miij.GenerationOptions;
import dev.miij.Response;
import dev.miij.engine.StreamListener;
import dev.miij.server.GenerationService;
import dev.miij.server.grpc.proto.MultiGenerationReply;
import dev.miij.server.grpc.proto.MultiStringRequest;
import dev.miij.tokenizer.Tokenizer;
import dev.miij.tokenizer.TokenizerConfig;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * A {@link GenerationService} over the replicas of a deployment, so the HTTP front end serves MII's
 * REST gateway and the OpenAI API through the same load balancing as gRPC clients. Tokenizer
 * questions are answered locally from the model folder's tokenizer. Responses carry no token ids
 * (MII's wire format has none).
 *
 * <pre>{@code
 * GenerationService s = new ReplicatedService(router, "my-deployment", "my-model", tokenizer);
 * List<Response> out = s.generate(List.of("Hello"), GenerationOptions.defaults()).join();
 * }</pre>
 */
public final class ReplicatedService implements GenerationService {

    private final ReplicaRouter router;
    private final String deploymentName;
    private final String modelName;
    private final Tokenizer tokenizer;

    public ReplicatedService(ReplicaRouter router, String deploymentName, String modelName, Tokenizer tokenizer) {
        this.router = router;
        this.deploymentName = deploymentName;
        this.modelName = modelName;
        this.tokenizer = tokenizer;
    }

    @Override
    public String deploymentName() {
        return deploymentName;
    }

    @Override
    public String modelName() {
        return modelName;
    }

    static MultiStringRequest request(List<String> prompts, GenerationOptions options) {
        return MultiStringRequest.newBuilder().addAllRequest(prompts).putAllQueryKwargs(WireKwargs.of(options)).build();
    }

    @Override
    public CompletableFuture<List<Response>> generate(List<String> prompts, GenerationOptions options) {
        CompletableFuture<List<Response>> result = new CompletableFuture<>();
        ReplicaRouter.Forward f = router.forward(ReplicaRouter.UNARY, request(prompts, options), null, new StreamObserver<>() {
            private final List<Response> responses = new ArrayList<>();

            @Override
            public void onNext(MultiGenerationReply reply) {
                reply.getResponseList().forEach(r -> responses.add(WireReplies.toResponse(r)));
            }

            @Override
            public void onError(Throwable t) {
                result.completeExceptionally(GrpcStatus.toMii(t));
            }

            @Override
            public void onCompleted() {
                result.complete(List.copyOf(responses));
            }
        });
        // Cancelling the future (the HTTP client left) cancels the call and, through it, the replica's work.
        result.whenComplete((r, e) -> {
            if (result.isCancelled()) {
                f.cancel();
            }
        });
        return result;
    }

    @Override
    public Generation stream(String prompt, GenerationOptions options, StreamListener listener) {
        ReplyStream replies = new ReplyStream(listener);
        ReplicaRouter.Forward f = router.forward(ReplicaRouter.STREAM, request(List.of(prompt), options), null, replies);
        return replies.generation(f::cancel);
    }

    @Override
    public Generation stream(int[] promptIds, GenerationOptions options, StreamListener listener) {
        ReplyStream replies = new ReplyStream(listener);
        dev.miij.server.grpc.proto.TokenIds.Builder ids = dev.miij.server.grpc.proto.TokenIds.newBuilder();
        for (int id : promptIds) {
            ids.addIds(id);
        }
        MultiStringRequest request = MultiStringRequest.newBuilder().addPromptTokenIds(ids)
                .putAllQueryKwargs(WireKwargs.of(options)).build();
        ReplicaRouter.Forward f = router.forward(ReplicaRouter.STREAM, request, null, replies);
        return replies.generation(f::cancel);
    }

    @Override
    public String decode(int[] ids) {
        return tokenizer.decode(ids, false);
    }

    @Override
    public TokenizerConfig tokenizerConfig() {
        return tokenizer.config();
    }

    @Override
    public int countTokens(String text) {
        return tokenizer.encode(text, false).length;
    }

    /**
     * Each replica's engine numbers, plus the balancer's view of each replica: up, prompts in flight,
     * restarts. A replica that does not answer in a second has no engine numbers.
     */
    @Override
    public List<dev.miij.server.EngineSample> engineSamples() {
        List<dev.miij.server.EngineSample> out = new ArrayList<>();
        for (Backend b : router.pool().backends()) {
            Map<String, Long> s = Map.of();
            if (b.up()) {
                try {
                    s = EngineStatsRpc.read(b.channel(), 1000);
                } catch (RuntimeException e) {
                    s = Map.of();
                }
            }
            Map<String, Long> balancer = new LinkedHashMap<>();
            balancer.put("up", b.up() ? 1L : 0L);
            balancer.put("outstanding", (long) b.outstanding());
            balancer.put("restarts", (long) b.restarts.get());
            out.add(new dev.miij.server.EngineSample(b.index, s, balancer));
        }
        return out;
    }
}
