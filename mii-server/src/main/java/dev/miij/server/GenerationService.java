package dev.miij.server;

import dev.miij.Generation;
import dev.miij.GenerationOptions;
import dev.miij.Response;
import dev.miij.engine.StreamListener;
import dev.miij.tokenizer.TokenizerConfig;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * What the HTTP front end (MII's REST gateway, the OpenAI-compatible API, metrics) needs from a
 * deployment. Implemented in-process over a {@link dev.miij.Pipeline} ({@link PipelineService}) and by
 * the load balancer over gRPC replicas; the HTTP layer cannot tell them apart.
 */
public interface GenerationService {

    /** The deployment's name (the {@code {deployment}} of {@code /mii/{deployment}}). */
    String deploymentName();

    /** The model's name as clients see it (OpenAI's {@code model}). */
    String modelName();

    /** Generates for several prompts at once. Errors surface as {@link dev.miij.MiiException}. */
    CompletableFuture<List<Response>> generate(List<String> prompts, GenerationOptions options);

    /**
     * Streams one prompt: {@code listener.onText} for each piece, then {@code onFinish}, as
     * {@link dev.miij.Pipeline#stream} does; {@link Generation#cancel()} stops generation and frees its
     * resources.
     */
    Generation stream(String prompt, GenerationOptions options, StreamListener listener);

    /**
     * Streams one prompt given as token ids, used as they are (no BOS or other special token added),
     * as OpenAI's token-id prompts; otherwise as {@link #stream(String, GenerationOptions, StreamListener)}.
     */
    default Generation stream(int[] promptIds, GenerationOptions options, StreamListener listener) {
        throw dev.miij.MiiException.unsupported("this deployment does not take token-id prompts");
    }

    /** The text of token ids, special tokens kept (what OpenAI's echo shows for a token-id prompt). */
    default String decode(int[] ids) {
        throw dev.miij.MiiException.unsupported("this deployment cannot decode token ids");
    }

    /** The model's tokenizer_config.json: chat template, BOS/EOS text for templates. */
    TokenizerConfig tokenizerConfig();

    /** Number of tokens of a text as the model's tokenizer counts them (no special tokens added). */
    int countTokens(String text);

    /** The numbers of the engines behind this service (KV blocks, queues, prefix cache), one per replica. */
    List<EngineSample> engineSamples();
}
