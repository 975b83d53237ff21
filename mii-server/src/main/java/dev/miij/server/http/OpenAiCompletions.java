package dev.miij.server.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.miij.Generation;
import dev.miij.Response;
import dev.miij.backend.Logprobs;
import dev.miij.engine.StreamListener;
import dev.miij.server.GenerationService;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;

/**
 * {@code POST /v1/completions}: OpenAI's legacy completions. Each prompt gets {@code n} choices, choice
 * {@code j} of prompt {@code p} at index {@code p * n + j} as OpenAI numbers them.
 *
 * <pre>{@code
 * curl localhost:8000/v1/completions -d '{"prompt": "In the beginning", "max_tokens": 32, "temperature": 0}'
 * }</pre>
 */
final class OpenAiCompletions {

    /** Prompts times n of one request, at most: beyond that one client could fill the engine's queue. */
    static final int MAX_CHOICES = 1024;

    private final GenerationService service;
    private final Metrics metrics;
    private final Set<StreamPump> inFlight;

    OpenAiCompletions(GenerationService service, Metrics metrics, Set<StreamPump> inFlight) {
        this.service = service;
        this.metrics = metrics;
        this.inFlight = inFlight;
    }

    void handle(HttpCall call) throws IOException {
        Fields f = new Fields(call.jsonObject());
        List<Prompt> given = prompts(f.raw("prompt"));
        OpenAiParams read = OpenAiParams.read(f, service, 16, "max_tokens");
        // The chosen token's log-probability and those of the logprobs (0 to 20) most likely tokens.
        Long logprobs = f.integer("logprobs", 0, Logprobs.MAX_TOP);
        OpenAiParams params = read.withLogprobs(logprobs == null ? null : logprobs.intValue());
        boolean echo = f.bool("echo", false);
        if (echo && logprobs != null) {
            throw HttpError.badRequest("echo", "echo with logprobs (the prompt's log-probabilities) is not supported "
                    + "by this server");
        }
        Long bestOf = f.integer("best_of", 1, OpenAiParams.MAX_N);
        if (bestOf != null && bestOf != params.n()) {
            throw HttpError.badRequest("best_of", "best_of is not supported unless it equals n");
        }
        String suffix = f.string("suffix");
        if (suffix != null && !suffix.isEmpty()) {
            throw HttpError.badRequest("suffix", "suffix is not supported by this server");
        }
        f.rejectUnknown();
        int n = params.n();
        if ((long) given.size() * n > MAX_CHOICES) {
            throw HttpError.badRequest("n", "prompts times n must be at most " + MAX_CHOICES + ", got "
                    + (long) given.size() * n);
        }
        boolean byIds = given.getFirst().ids() != null;
        // The prompts' text: what echo shows (a token-id prompt decoded, special tokens kept).
        List<String> prompts = given.stream().map(p -> p.ids() == null ? p.text() : echo ? service.decode(p.ids()) : "")
                .toList();
        Completion c = new Completion("cmpl-" + UUID.randomUUID(), System.currentTimeMillis() / 1000,
                service.modelName(), prompts, n, echo, params.includeUsage());
        if (params.stream()) {
            StreamPump pump = new StreamPump(service, metrics, call, inFlight);
            if (byIds) {
                pump.start(prompts.size() * n, (k, l) -> service.stream(given.get(k / n).ids(), params.forChoice(k % n), l));
            } else {
                pump.start(prompts.size() * n, k -> prompts.get(k / n), k -> params.forChoice(k % n));
            }
            pump.run(new Chunks(c));
            return;
        }
        List<List<Response>> choices = byIds ? generate(params, given, call) : params.generate(service, prompts, call);
        Response[] byIndex = new Response[prompts.size() * n];
        for (int j = 0; j < n; j++) {
            for (int p = 0; p < prompts.size(); p++) {
                byIndex[p * n + j] = choices.get(j).get(p);
                metrics.tokens(byIndex[p * n + j]);
                call.tokens(byIndex[p * n + j]);
            }
        }
        metrics.e2eLatency(System.nanoTime() - call.startNanos);
        ObjectNode body = c.header("text_completion");
        ArrayNode array = body.putArray("choices");
        for (int k = 0; k < byIndex.length; k++) {
            String text = (echo ? prompts.get(k / n) : "") + byIndex[k].generatedText();
            ObjectNode choice = choice(k, text, OpenAiJson.finishReason(byIndex[k]));
            array.add(choice);
            if (byIndex[k].logprobs() != null) {
                choice.set("logprobs", OpenAiJson.completionLogprobs(byIndex[k].logprobs(), 0));
            }
        }
        body.set("usage", OpenAiJson.usage(promptTokens(byIndex, n), completionTokens(byIndex)));
        call.sendJson(200, body);
    }

    /** One prompt: text, or token ids used as they are (no BOS added), as vLLM takes them. */
    record Prompt(String text, int[] ids) {
    }

    /**
     * OpenAI's prompt shapes: a string, a list of strings, a list of token ids (one prompt), or a list
     * of lists of token ids.
     */
    static List<Prompt> prompts(JsonNode v) {
        if (v == null) {
            throw HttpError.badRequest("prompt", "prompt is required");
        }
        List<Prompt> out = new ArrayList<>();
        if (v.isTextual()) {
            out.add(new Prompt(v.asText(), null));
        } else if (v.isArray()) {
            if (v.isEmpty()) {
                throw HttpError.badRequest("prompt", "prompt must not be an empty list");
            }
            if (v.get(0).isIntegralNumber()) {
                out.add(new Prompt(null, ids(v, "prompt")));
            } else if (v.get(0).isArray()) {
                for (int i = 0; i < v.size(); i++) {
                    if (!v.get(i).isArray()) {
                        throw HttpError.badRequest("prompt", "prompt[" + i + "] must be a list of token ids like "
                                + "prompt[0], got " + Json.kind(v.get(i)));
                    }
                    out.add(new Prompt(null, ids(v.get(i), "prompt[" + i + "]")));
                }
            } else {
                for (int i = 0; i < v.size(); i++) {
                    if (!v.get(i).isTextual()) {
                        throw HttpError.badRequest("prompt", "prompt[" + i + "] must be a string like prompt[0], got "
                                + Json.kind(v.get(i)));
                    }
                    out.add(new Prompt(v.get(i).asText(), null));
                }
            }
        } else {
            throw Fields.wrongType("prompt", "a string, a list of strings, a list of token ids or a list of lists "
                    + "of token ids", v);
        }
        for (int i = 0; i < out.size(); i++) {
            Prompt p = out.get(i);
            if (p.text() != null ? p.text().isEmpty() : p.ids().length == 0) {
                throw HttpError.badRequest("prompt", (v.isArray() ? "prompt[" + i + "]" : "prompt") + " is empty");
            }
        }
        return out;
    }

    private static int[] ids(JsonNode list, String at) {
        int[] ids = new int[list.size()];
        for (int i = 0; i < ids.length; i++) {
            JsonNode id = list.get(i);
            if (!id.isIntegralNumber() || !id.canConvertToInt() || id.asInt() < 0) {
                throw HttpError.badRequest("prompt", at + "[" + i + "] must be a token id (an integer from 0), got "
                        + Json.kind(id));
            }
            ids[i] = id.asInt();
        }
        return ids;
    }

    /**
     * Generates {@code n} choices for token-id prompts, by choice then by prompt: every request is
     * started before any is awaited, so they batch together; a client that leaves cancels them all.
     */
    private List<List<Response>> generate(OpenAiParams params, List<Prompt> prompts, HttpCall call) throws IOException {
        List<Generation> streams = new ArrayList<>();
        try {
            for (int j = 0; j < params.n(); j++) {
                for (Prompt p : prompts) {
                    streams.add(service.stream(p.ids(), params.forChoice(j), StreamListener.NONE));
                }
            }
        } catch (RuntimeException e) {
            streams.forEach(Generation::cancel);
            throw e;
        }
        CompletableFuture<List<Response>> all = CompletableFuture
                .allOf(streams.stream().map(Generation::result).toArray(CompletableFuture[]::new))
                .thenApply(v -> streams.stream().map(s -> s.result().join()).toList());
        all.whenComplete((v, e) -> {
            if (all.isCancelled() || e != null) {
                streams.forEach(Generation::cancel);
            }
        });
        List<Response> flat = call.await(all);
        List<List<Response>> byChoice = new ArrayList<>();
        for (int j = 0; j < params.n(); j++) {
            byChoice.add(flat.subList(j * prompts.size(), (j + 1) * prompts.size()));
        }
        return byChoice;
    }

    /** Prompt tokens count once per prompt, not once per choice, as OpenAI bills them. */
    private static int promptTokens(Response[] byIndex, int n) {
        int sum = 0;
        for (int k = 0; k < byIndex.length; k += n) {
            sum += byIndex[k].promptLength();
        }
        return sum;
    }

    private static int completionTokens(Response[] byIndex) {
        int sum = 0;
        for (Response r : byIndex) {
            sum += r.generatedLength();
        }
        return sum;
    }

    private static ObjectNode choice(int index, String text, String finishReason) {
        ObjectNode choice = Json.MAPPER.createObjectNode();
        choice.put("text", text);
        choice.put("index", index);
        choice.putNull("logprobs");
        choice.put("finish_reason", finishReason);
        return choice;
    }

    /** What every object of one completion shares. */
    private record Completion(String id, long created, String model, List<String> prompts, int n, boolean echo,
                              boolean includeUsage) {
        ObjectNode header(String object) {
            return OpenAiJson.header(id, created, model, object);
        }
    }

    /** The stream: {@code text_completion} chunks, an optional usage chunk, then {@code [DONE]}. */
    private static final class Chunks implements StreamPump.Sink {
        private final Completion c;
        private int promptTokens;
        private int completionTokens;
        /** Per choice, code points of text its log-probabilities covered so far (text_offset). */
        private final int[] offsets;

        Chunks(Completion c) {
            this.c = c;
            this.offsets = new int[c.prompts().size() * c.n()];
        }

        @Override
        public void start(SseWriter out) throws IOException {
            if (c.echo()) {
                for (int k = 0; k < c.prompts().size() * c.n(); k++) {
                    out.data(chunk(k, c.prompts().get(k / c.n()), null, null));
                }
            }
        }

        @Override
        public void piece(SseWriter out, StreamPump.Piece piece) throws IOException {
            boolean withLogprobs = piece.logprobs() != null && !piece.logprobs().isEmpty();
            if (!piece.text().isEmpty() || withLogprobs) {
                ObjectNode logprobs = null;
                if (withLogprobs) {
                    logprobs = OpenAiJson.completionLogprobs(piece.logprobs(), offsets[piece.index()]);
                    offsets[piece.index()] += OpenAiJson.textLength(piece.logprobs());
                }
                out.data(chunk(piece.index(), piece.text(), null, logprobs));
            }
        }

        @Override
        public void done(SseWriter out, StreamPump.Done done) throws IOException {
            if (done.index() % c.n() == 0) {
                promptTokens += done.response().promptLength();
            }
            completionTokens += done.response().generatedLength();
            out.data(chunk(done.index(), "", OpenAiJson.finishReason(done.response()), null));
        }

        @Override
        public void error(SseWriter out, HttpError error) throws IOException {
            out.data(Json.write(error.toJson()));
            out.data("[DONE]");
        }

        @Override
        public void end(SseWriter out) throws IOException {
            if (c.includeUsage()) {
                ObjectNode last = c.header("text_completion");
                last.putArray("choices");
                last.set("usage", OpenAiJson.usage(promptTokens, completionTokens));
                out.data(Json.write(last));
            }
            out.data("[DONE]");
        }

        private String chunk(int index, String text, String finishReason, ObjectNode logprobs) {
            ObjectNode o = c.header("text_completion");
            ObjectNode choice = choice(index, text, finishReason);
            if (logprobs != null) {
                choice.set("logprobs", logprobs);
            }
            o.putArray("choices").add(choice);
            if (c.includeUsage()) {
                o.putNull("usage");
            }
            return Json.write(o);
        }
    }
}
