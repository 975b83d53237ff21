package dev.miij.server.http;

import dev.miij.Generation;
import dev.miij.GenerationOptions;
import dev.miij.Response;
import dev.miij.engine.StreamListener;
import dev.miij.server.GenerationService;
import dev.miij.tokenizer.TokenizerConfig;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * A service that passes everything to another one, slowing each streamed piece down (so that a test can
 * act while a stream runs) and remembering the outcome of every stream.
 */
final class RecordingService implements GenerationService {

    private final GenerationService inner;
    private final long pieceDelayMillis;
    final List<CompletableFuture<Response>> streamResults = new CopyOnWriteArrayList<>();

    RecordingService(GenerationService inner, long pieceDelayMillis) {
        this.inner = inner;
        this.pieceDelayMillis = pieceDelayMillis;
    }

    @Override
    public String deploymentName() {
        return inner.deploymentName();
    }

    @Override
    public String modelName() {
        return inner.modelName();
    }

    @Override
    public CompletableFuture<List<Response>> generate(List<String> prompts, GenerationOptions options) {
        return inner.generate(prompts, options);
    }

    @Override
    public Generation stream(String prompt, GenerationOptions options, StreamListener listener) {
        Generation s = inner.stream(prompt, options, new StreamListener() {
            @Override
            public void onText(String text, int[] tokenIds) {
                try {
                    // On the engine thread: holds the whole engine back, which is the point.
                    Thread.sleep(pieceDelayMillis);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                listener.onText(text, tokenIds);
            }

            @Override
            public void onFinish(Response response, Throwable error) {
                listener.onFinish(response, error);
            }
        });
        streamResults.add(s.result());
        return s;
    }

    @Override
    public TokenizerConfig tokenizerConfig() {
        return inner.tokenizerConfig();
    }

    @Override
    public int countTokens(String text) {
        return inner.countTokens(text);
    }

    @Override
    public List<dev.miij.server.EngineSample> engineSamples() {
        return inner.engineSamples();
    }
}
