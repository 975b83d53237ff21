package dev.miij.server;

import dev.miij.GenerationOptions;
import dev.miij.Pipeline;
import dev.miij.Response;
import dev.miij.engine.Engine;
import dev.miij.engine.EngineStats;
import dev.miij.engine.StreamListener;
import dev.miij.tokenizer.TokenizerConfig;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/** A {@link GenerationService} over a pipeline in this process (a replica's engine, or tests). */
public final class PipelineService implements GenerationService {

    private final Pipeline pipeline;
    private final String deploymentName;
    private final String modelName;

    public PipelineService(Pipeline pipeline, String deploymentName, String modelName) {
        this.pipeline = pipeline;
        this.deploymentName = deploymentName;
        this.modelName = modelName;
    }

    public Pipeline pipeline() {
        return pipeline;
    }

    @Override
    public String deploymentName() {
        return deploymentName;
    }

    @Override
    public String modelName() {
        return modelName;
    }

    @Override
    public CompletableFuture<List<Response>> generate(List<String> prompts, GenerationOptions options) {
        try {
            return pipeline.submit(prompts, options);
        } catch (RuntimeException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public Stream stream(String prompt, GenerationOptions options, StreamListener listener) {
        Engine.Handle h = pipeline.stream(prompt, options, listener);
        return new Stream() {
            @Override
            public CompletableFuture<Response> result() {
                return h.result();
            }

            @Override
            public void cancel() {
                h.cancel().run();
            }
        };
    }

    @Override
    public TokenizerConfig tokenizerConfig() {
        return pipeline.tokenizer().config();
    }

    @Override
    public int countTokens(String text) {
        return pipeline.tokenizer().encode(text, false).length;
    }

    @Override
    public void writeMetrics(StringBuilder out) {
        EngineStats s = pipeline.engine().stats();
        gauge(out, "mii_requests_running", "Requests admitted to the engine", s.requestsRunning);
        gauge(out, "mii_requests_waiting", "Requests queued for admission", s.requestsWaiting);
        gauge(out, "mii_kv_blocks_in_use", "KV-cache blocks held by sequences", s.kvBlocksInUse);
        gauge(out, "mii_kv_blocks_total", "KV-cache blocks allocated", s.kvBlocksTotal);
        counter(out, "mii_prefix_cache_hits_total", "Prompt blocks served from the prefix cache", s.prefixHits);
        counter(out, "mii_prefix_cache_misses_total", "Prefix-cache lookups that missed", s.prefixMisses);
        counter(out, "mii_preemptions_total", "Sequences preempted for lack of KV blocks", s.preemptions);
        counter(out, "mii_engine_steps_total", "Forward steps run", s.steps);
        counter(out, "mii_generation_tokens_total", "Tokens generated", s.tokensGenerated);
        EcosystemGauges.write(out, deploymentName(), List.of(java.util.Map.of("requests_waiting", (long) s.requestsWaiting,
                "requests_running", (long) s.requestsRunning, "kv_blocks_in_use", (long) s.kvBlocksInUse,
                "kv_blocks_total", (long) s.kvBlocksTotal, "prefix_hits", (long) s.prefixHits, "prefix_misses", (long) s.prefixMisses)));
    }

    static void gauge(StringBuilder out, String name, String help, double v) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n')
                .append("# TYPE ").append(name).append(" gauge\n").append(name).append(' ').append(v).append('\n');
    }

    static void counter(StringBuilder out, String name, String help, double v) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n')
                .append("# TYPE ").append(name).append(" counter\n").append(name).append(' ').append(v).append('\n');
    }
}
