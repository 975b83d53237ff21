package dev.miij.server;

import dev.miij.Generation;
import dev.miij.GenerationOptions;
import dev.miij.Pipeline;
import dev.miij.Response;
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
        // One engine request per prompt, as Pipeline.submit does, but keeping the handles: cancelling the
        // returned future (a client that left) cancels them and frees their KV blocks.
        List<Generation> handles = new java.util.ArrayList<>(prompts.size());
        try {
            if (prompts.isEmpty()) {
                throw dev.miij.MiiException.invalid("no prompts given");
            }
            for (String p : prompts) {
                handles.add(pipeline.stream(p, options, StreamListener.NONE));
            }
        } catch (RuntimeException e) {
            handles.forEach(Generation::cancel);
            return CompletableFuture.failedFuture(e);
        }
        CompletableFuture<List<Response>> all = CompletableFuture
                .allOf(handles.stream().map(Generation::result).toArray(CompletableFuture[]::new))
                .thenApply(v -> handles.stream().map(h -> h.result().join()).toList());
        all.whenComplete((v, e) -> {
            if (all.isCancelled()) {
                handles.forEach(Generation::cancel);
            }
        });
        return all;
    }

    @Override
    public Generation stream(String prompt, GenerationOptions options, StreamListener listener) {
        return pipeline.stream(prompt, options, listener);
    }

    @Override
    public Generation stream(int[] promptIds, GenerationOptions options, StreamListener listener) {
        int vocab = pipeline.engine().model().spec().vocabSize();
        for (int id : promptIds) {
            if (id < 0 || id >= vocab) {
                throw dev.miij.MiiException.invalid("prompt token id " + id + " is outside the vocabulary [0, " + vocab + ")");
            }
        }
        return pipeline.engine().submit(promptIds, options, listener, decode(promptIds));
    }

    @Override
    public String decode(int[] ids) {
        return pipeline.tokenizer().decode(ids, false);
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
    public List<EngineSample> engineSamples() {
        EngineStats s = pipeline.engine().stats();
        return List.of(new EngineSample(-1, dev.miij.server.grpc.EngineStatsRpc.values(s), java.util.Map.of()));
    }
}
