package dev.miij.server.http;

import dev.miij.Generation;
import dev.miij.GenerationOptions;
import dev.miij.Response;
import dev.miij.engine.StreamListener;
import dev.miij.server.GenerationService;
import dev.miij.tokenizer.TokenizerConfig;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.Supplier;

/**
 * A service without a model that answers as a test tells it to: failing generations, streams that emit
 * some pieces and then fail, broken metrics. For the error paths a real engine rarely takes.
 */
final class ScriptedService implements GenerationService {

    /** What {@link #generate} returns. */
    volatile Supplier<CompletableFuture<List<Response>>> generate = () -> CompletableFuture.completedFuture(List.of());
    /** Pieces each stream emits (on its own thread) before finishing with {@link #streamError}, if any. */
    volatile List<String> pieces = List.of();
    volatile Throwable streamError;
    /** Thrown by {@link #stream} itself, before anything starts. */
    volatile RuntimeException streamThrows;
    volatile boolean metricsFail;
    /** Wait before each piece, as a slow model would. */
    volatile long pieceDelayMillis;

    @Override
    public String deploymentName() {
        return "scripted";
    }

    @Override
    public String modelName() {
        return "scripted-model";
    }

    @Override
    public CompletableFuture<List<Response>> generate(List<String> prompts, GenerationOptions options) {
        return generate.get();
    }

    @Override
    public Generation stream(String prompt, GenerationOptions options, StreamListener listener) {
        if (streamThrows != null) {
            throw streamThrows;
        }
        CompletableFuture<Response> result = new CompletableFuture<>();
        List<String> script = pieces;
        Throwable error = streamError;
        long delay = pieceDelayMillis;
        Thread.ofVirtual().start(() -> {
            StringBuilder text = new StringBuilder();
            for (int i = 0; i < script.size(); i++) {
                try {
                    Thread.sleep(delay);
                } catch (InterruptedException e) {
                    return;
                }
                listener.onText(script.get(i), new int[] {i});
                text.append(script.get(i));
            }
            if (error != null) {
                listener.onFinish(null, error);
                result.completeExceptionally(error);
            } else {
                Response r = new Response(text.toString(), 1, script.size(), Response.FinishReason.STOP,
                        java.util.stream.IntStream.range(0, script.size()).boxed().toList());
                listener.onFinish(r, null);
                result.complete(r);
            }
        });
        return new Generation() {
            @Override
            public CompletableFuture<Response> result() {
                return result;
            }

            @Override
            public void cancel() {
            }
        };
    }

    @Override
    public TokenizerConfig tokenizerConfig() {
        return TokenizerConfig.EMPTY;
    }

    @Override
    public int countTokens(String text) {
        return text.length();
    }

    @Override
    public List<dev.miij.server.EngineSample> engineSamples() {
        if (metricsFail) {
            throw new IllegalStateException("replica unreachable");
        }
        return List.of(new dev.miij.server.EngineSample(-1, java.util.Map.of("requests_running", 7L), java.util.Map.of()));
    }
}
