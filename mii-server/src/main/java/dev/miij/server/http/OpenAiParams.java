package dev.miij.server.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.miij.GenerationOptions;
import dev.miij.Response;
import dev.miij.server.GenerationService;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * The sampling parameters that OpenAI's completions and chat completions share, read with OpenAI's
 * names, ranges and defaults and turned into MII's {@link GenerationOptions}.
 *
 * @param options      options of choice 0 (every choice when no seed is given)
 * @param n            choices per prompt; each is its own engine request
 * @param seed         seed of choice 0; choice i uses seed + i, so choices differ yet stay reproducible
 * @param stream       answer with server-sent events
 * @param includeUsage {@code stream_options.include_usage}: end the stream with a usage chunk
 */
record OpenAiParams(GenerationOptions options, int n, Long seed, boolean stream, boolean includeUsage) {

    /** OpenAI's limit on {@code n}; more is rarely useful and multiplies the work of one request. */
    static final int MAX_N = 128;
    static final int MAX_STOP = 64;

    /**
     * Reads the shared fields. {@code defaultMaxTokens} is 16 for completions (OpenAI's default) and
     * null for chat, meaning as many as the context allows.
     */
    static OpenAiParams read(Fields f, GenerationService service, Integer defaultMaxTokens, String... maxTokenKeys) {
        checkModel(f.string("model"), service);
        Long maxTokens = null;
        String maxTokensKey = maxTokenKeys[0];
        for (String key : maxTokenKeys) {
            Long v = f.integer(key, 1, Integer.MAX_VALUE);
            if (v != null && maxTokens == null) {
                maxTokens = v;
                maxTokensKey = key;
            }
        }
        Double temperature = f.number("temperature", 0, 2);
        Double topP = f.number("top_p", 0, 1);
        if (topP != null && topP == 0) {
            throw HttpError.badRequest("top_p", "top_p must be greater than 0, got 0 (use temperature 0 for greedy decoding)");
        }
        Long n = f.integer("n", 1, MAX_N);
        Long seed = f.integer("seed", Long.MIN_VALUE, Long.MAX_VALUE);
        List<String> stop = f.strings("stop");
        if (stop != null) {
            if (stop.size() > MAX_STOP) {
                throw HttpError.badRequest("stop", "stop may hold at most " + MAX_STOP + " strings, got " + stop.size());
            }
            for (int i = 0; i < stop.size(); i++) {
                if (stop.get(i).isEmpty()) {
                    throw HttpError.badRequest("stop", "stop[" + i + "] is empty");
                }
            }
        }
        boolean stream = f.bool("stream", false);
        boolean includeUsage = streamOptions(f.raw("stream_options"));
        // vLLM's extensions, which MII's options cover.
        Long topK = f.integer("top_k", -1, Integer.MAX_VALUE);
        Long minTokens = f.integer("min_tokens", 0, Integer.MAX_VALUE);
        boolean ignoreEos = f.bool("ignore_eos", false);
        if (minTokens != null && maxTokens != null && minTokens > maxTokens) {
            throw HttpError.badRequest("min_tokens", "min_tokens (" + minTokens + ") exceeds " + maxTokensKey
                    + " (" + maxTokens + ")");
        }
        // OpenAI's penalties and vLLM's repetition_penalty, with vLLM's semantics (see SamplingParams.Penalties).
        Double presence = f.number("presence_penalty", -2, 2);
        Double frequency = f.number("frequency_penalty", -2, 2);
        Double repetition = f.number("repetition_penalty", 0, 10);
        if (repetition != null && repetition == 0) {
            throw HttpError.badRequest("repetition_penalty", "repetition_penalty must be greater than 0, got 0 (1 is off)");
        }
        f.neutral("logit_bias");
        f.ignore("user");

        boolean greedy = temperature != null && temperature == 0;
        GenerationOptions options = GenerationOptions.builder()
                // OpenAI's limit is the model's context, not MII's default max_length of 1024.
                .maxLength(Integer.MAX_VALUE)
                .maxNewTokens(maxTokens != null ? Integer.valueOf(maxTokens.intValue()) : defaultMaxTokens)
                .minNewTokens(minTokens == null ? 0 : minTokens.intValue())
                .ignoreEos(ignoreEos)
                .doSample(!greedy)
                .temperature(greedy || temperature == null ? null : temperature)
                .topP(topP == null ? 1.0 : topP)
                .topK(topK == null || topK <= 0 ? null : topK.intValue())
                .stop(stop == null ? List.of() : stop)
                .seed(seed)
                .presencePenalty(presence == null ? 0 : presence)
                .frequencyPenalty(frequency == null ? 0 : frequency)
                .repetitionPenalty(repetition == null ? 1 : repetition)
                .build();
        return new OpenAiParams(options, n == null ? 1 : n.intValue(), seed, stream, includeUsage);
    }

    /**
     * These parameters asking for log-probabilities: the chosen token's and those of the {@code top}
     * most likely tokens; null asks for none.
     */
    OpenAiParams withLogprobs(Integer top) {
        return top == null ? this : new OpenAiParams(options.toBuilder().logprobs(top).build(), n, seed, stream,
                includeUsage);
    }

    /** Options of choice {@code i}: seeded choices get consecutive seeds so that they differ. */
    GenerationOptions forChoice(int i) {
        return seed == null || i == 0 ? options : options.toBuilder().seed(seed + i).build();
    }

    /**
     * Generates {@code n} choices for each prompt; returns them by choice, then by prompt. Without a seed
     * every choice has the same options, so one call carries them all and the engine batches them; with
     * one, each choice is its own call, each started on its own thread so that they still run together
     * even where the service's generate blocks until done.
     */
    List<List<Response>> generate(GenerationService service, List<String> prompts, HttpCall call)
            throws java.io.IOException {
        if (seed == null) {
            List<String> repeated = new ArrayList<>(prompts.size() * n);
            for (int j = 0; j < n; j++) {
                repeated.addAll(prompts);
            }
            List<Response> all = call.await(service.generate(repeated, options));
            List<List<Response>> byChoice = new ArrayList<>(n);
            for (int j = 0; j < n; j++) {
                byChoice.add(all.subList(j * prompts.size(), (j + 1) * prompts.size()));
            }
            return byChoice;
        }
        List<CompletableFuture<List<Response>>> started = new java.util.concurrent.CopyOnWriteArrayList<>();
        List<CompletableFuture<List<Response>>> futures = new ArrayList<>(n);
        java.util.concurrent.atomic.AtomicBoolean cancelled = new java.util.concurrent.atomic.AtomicBoolean();
        for (int j = 0; j < n; j++) {
            GenerationOptions choice = forChoice(j);
            futures.add(CompletableFuture.supplyAsync(() -> {
                CompletableFuture<List<Response>> f = service.generate(prompts, choice);
                started.add(f);
                if (cancelled.get()) {
                    f.cancel(true);
                }
                return f;
            }, task -> Thread.ofVirtual().name("mii-http-choice").start(task)).thenCompose(f -> f));
        }
        CompletableFuture<List<List<Response>>> all = CompletableFuture.allOf(futures.toArray(CompletableFuture[]::new))
                .thenApply(v -> futures.stream().map(CompletableFuture::join).toList());
        // Cancelling the whole (the client left) cancels every choice's generation.
        all.whenComplete((v, e) -> {
            if (all.isCancelled()) {
                cancelled.set(true);
                started.forEach(f -> f.cancel(true));
            }
        });
        return call.await(all);
    }

    /** Any served name is accepted: the model's own and the deployment's. Absent means this model. */
    private static void checkModel(String model, GenerationService service) {
        if (model != null && !model.equals(service.modelName()) && !model.equals(service.deploymentName())) {
            throw new HttpError(404, "model", "model_not_found", "the model '" + model
                    + "' does not exist; this server serves '" + service.modelName() + "'");
        }
    }

    private static boolean streamOptions(JsonNode v) {
        if (v == null) {
            return false;
        }
        if (!(v instanceof ObjectNode object)) {
            throw Fields.wrongType("stream_options", "an object", v);
        }
        JsonNode include = object.get("include_usage");
        if (include != null && !include.isNull() && !include.isBoolean()) {
            throw Fields.wrongType("stream_options.include_usage", "true or false", include);
        }
        for (var e : object.properties()) {
            if (!e.getKey().equals("include_usage")) {
                throw HttpError.badRequest("stream_options", "unknown field 'stream_options." + e.getKey() + "'");
            }
        }
        return include != null && include.asBoolean(false);
    }
}
