package dev.miij.server.grpc;

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

    private final Router router;
    private final String deploymentName;
    private final String modelName;
    private final Tokenizer tokenizer;

    public ReplicatedService(Router router, String deploymentName, String modelName, Tokenizer tokenizer) {
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
        router.forward(Router.UNARY, request(prompts, options), null, new StreamObserver<>() {
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
        return result;
    }

    @Override
    public Stream stream(String prompt, GenerationOptions options, StreamListener listener) {
        ReplyStream replies = new ReplyStream(listener);
        Router.Forward f = router.forward(Router.STREAM, request(List.of(prompt), options), null, replies);
        return new Stream() {
            @Override
            public CompletableFuture<Response> result() {
                return replies.result();
            }

            @Override
            public void cancel() {
                replies.cancelling();
                f.cancel();
            }
        };
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
     * Each replica's engine numbers labelled {@code replica="i"}, plus the balancer's view of each
     * replica: up, prompts in flight, restarts. A replica that does not answer in a second is left out.
     */
    @Override
    public void writeMetrics(StringBuilder out) {
        BackendPool pool = router.pool();
        List<Map<String, Long>> stats = new ArrayList<>();
        for (Backend b : pool.backends()) {
            Map<String, Long> s = Map.of();
            if (b.up()) {
                try {
                    s = EngineStatsRpc.read(b.channel(), 1000);
                } catch (RuntimeException e) {
                    s = Map.of();
                }
            }
            stats.add(s);
        }
        for (EngineStatsRpc.Metric m : EngineStatsRpc.METRICS) {
            Map<Integer, Long> values = new LinkedHashMap<>();
            for (int i = 0; i < stats.size(); i++) {
                Long v = stats.get(i).get(m.key());
                if (v != null) {
                    values.put(i, v);
                }
            }
            Prometheus.write(out, m.name(), m.help(), m.counter(), values);
        }
        Map<Integer, Long> up = new LinkedHashMap<>();
        Map<Integer, Long> outstanding = new LinkedHashMap<>();
        Map<Integer, Long> restarts = new LinkedHashMap<>();
        for (Backend b : pool.backends()) {
            up.put(b.index, b.up() ? 1L : 0L);
            outstanding.put(b.index, (long) b.outstanding());
            restarts.put(b.index, (long) b.restarts.get());
        }
        Prometheus.write(out, "mii_replica_up", "Whether the replica passes health checks", false, up);
        Prometheus.write(out, "mii_replica_outstanding_prompts", "Prompts sent to the replica and not answered yet", false, outstanding);
        Prometheus.write(out, "mii_replica_restarts_total", "Times the replica's process was restarted", true, restarts);
        dev.miij.server.EcosystemGauges.write(out, deploymentName, stats);
    }
}
