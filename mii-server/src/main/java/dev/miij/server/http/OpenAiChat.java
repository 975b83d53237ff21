package dev.miij.server.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.miij.Response;
import dev.miij.backend.Logprobs;
import dev.miij.server.GenerationService;
import java.io.IOException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;

/**
 * {@code POST /v1/chat/completions}: the conversation is rendered with the model's chat template and
 * completed like a prompt; {@code n} choices are {@code n} requests.
 *
 * <pre>{@code
 * curl localhost:8000/v1/chat/completions \
 *      -d '{"messages": [{"role": "user", "content": "Hello"}], "max_tokens": 32}'
 * }</pre>
 */
final class OpenAiChat {

    private static final Set<String> ROLES = Set.of("system", "user", "assistant");

    private final GenerationService service;
    private final Metrics metrics;
    private final Set<StreamPump> inFlight;
    /** Read once: the template cannot change while the deployment runs. */
    private volatile ChatTemplate template;
    private volatile boolean templateLoaded;

    OpenAiChat(GenerationService service, Metrics metrics, Set<StreamPump> inFlight) {
        this.service = service;
        this.metrics = metrics;
        this.inFlight = inFlight;
    }

    void handle(HttpCall call) throws IOException {
        Fields f = new Fields(call.jsonObject());
        List<Map<String, Object>> messages = messages(f.raw("messages"));
        OpenAiParams params = OpenAiParams.read(f, service, null, "max_completion_tokens", "max_tokens");
        // OpenAI's and vLLM's: logprobs true returns the chosen tokens' log-probabilities, top_logprobs
        // (0 to 20) as many alternatives each.
        boolean logprobs = f.bool("logprobs", false);
        Long top = f.integer("top_logprobs", 0, Logprobs.MAX_TOP);
        if (top != null && top > 0 && !logprobs) {
            throw HttpError.badRequest("top_logprobs", "top_logprobs requires logprobs to be true");
        }
        int topLogprobs = top == null ? 0 : top.intValue();
        params = params.withLogprobs(logprobs ? topLogprobs : null);
        checkNoTools(f);
        f.ignore("store", "metadata", "service_tier", "parallel_tool_calls");
        f.rejectUnknown();
        String prompt = template().render(messages);
        int n = params.n();
        String id = "chatcmpl-" + UUID.randomUUID();
        long created = System.currentTimeMillis() / 1000;
        if (params.stream()) {
            StreamPump pump = new StreamPump(service, metrics, call, inFlight);
            pump.start(n, k -> prompt, params::forChoice);
            pump.run(new Chunks(id, created, service.modelName(), n, params.includeUsage(),
                    logprobs ? topLogprobs : -1));
            return;
        }
        List<List<Response>> responses = params.generate(service, List.of(prompt), call);
        ObjectNode body = OpenAiJson.header(id, created, service.modelName(), "chat.completion");
        ArrayNode choices = body.putArray("choices");
        int promptTokens = 0;
        int completionTokens = 0;
        for (int j = 0; j < n; j++) {
            Response r = responses.get(j).getFirst();
            metrics.tokens(r);
            call.tokens(r);
            promptTokens = r.promptLength();
            completionTokens += r.generatedLength();
            ObjectNode choice = choices.addObject();
            choice.put("index", j);
            ObjectNode message = choice.putObject("message");
            message.put("role", "assistant");
            message.put("content", r.generatedText());
            message.putNull("refusal");
            if (r.logprobs() != null) {
                choice.set("logprobs", OpenAiJson.chatLogprobs(r.logprobs(), topLogprobs));
            } else {
                choice.putNull("logprobs");
            }
            choice.put("finish_reason", OpenAiJson.finishReason(r));
        }
        metrics.e2eLatency(System.nanoTime() - call.startNanos);
        body.set("usage", OpenAiJson.usage(promptTokens, completionTokens));
        call.sendJson(200, body);
    }

    private ChatTemplate template() {
        if (!templateLoaded) {
            template = ChatTemplate.of(service.tokenizerConfig());
            templateLoaded = true;
        }
        if (template == null) {
            throw HttpError.badRequest("messages", "the model '" + service.modelName() + "' has no chat template "
                    + "(its tokenizer_config.json has no chat_template); use /v1/completions with a prompt instead");
        }
        return template;
    }

    /** Tools would need the model to call functions; accepted only when they ask for nothing. */
    private static void checkNoTools(Fields f) {
        f.neutral("tools");
        f.neutral("functions");
        JsonNode choice = f.raw("tool_choice");
        if (choice != null && !(choice.isTextual() && Set.of("none", "auto").contains(choice.asText()))) {
            throw HttpError.badRequest("tool_choice", "tool_choice is not supported by this server");
        }
        JsonNode format = f.raw("response_format");
        if (format != null && !(format.isObject() && "text".equals(format.path("type").asText()))) {
            throw HttpError.badRequest("response_format", "response_format other than {\"type\": \"text\"} "
                    + "is not supported by this server");
        }
    }

    /**
     * The messages as the template sees them: role, content as one string (text parts joined by a line
     * break, as vLLM does), and the optional name.
     */
    static List<Map<String, Object>> messages(JsonNode v) {
        if (v == null) {
            throw HttpError.badRequest("messages", "messages is required");
        }
        if (!v.isArray()) {
            throw Fields.wrongType("messages", "a list of messages", v);
        }
        if (v.isEmpty()) {
            throw HttpError.badRequest("messages", "messages must not be empty");
        }
        List<Map<String, Object>> out = new ArrayList<>();
        for (int i = 0; i < v.size(); i++) {
            String at = "messages[" + i + "]";
            if (!(v.get(i) instanceof ObjectNode m)) {
                throw HttpError.badRequest("messages", at + " must be an object, got " + Json.kind(v.get(i)));
            }
            Map<String, Object> message = new LinkedHashMap<>();
            for (var e : m.properties()) {
                switch (e.getKey()) {
                    case "role", "content", "name" -> { }
                    default -> throw HttpError.badRequest("messages", "unknown field '" + at + "." + e.getKey()
                            + "' (roles system, user and assistant with text content are supported)");
                }
            }
            JsonNode role = m.get("role");
            if (role == null || !role.isTextual() || !ROLES.contains(role.asText())) {
                throw HttpError.badRequest("messages", at + ".role must be one of system, user, assistant, got "
                        + Json.kind(role));
            }
            message.put("role", role.asText());
            message.put("content", content(m.get("content"), at + ".content"));
            JsonNode name = m.get("name");
            if (name != null && !name.isNull()) {
                if (!name.isTextual()) {
                    throw HttpError.badRequest("messages", at + ".name must be a string, got " + Json.kind(name));
                }
                message.put("name", name.asText());
            }
            out.add(message);
        }
        return out;
    }

    private static String content(JsonNode v, String at) {
        if (v != null && v.isTextual()) {
            return v.asText();
        }
        if (v == null || !v.isArray()) {
            throw HttpError.badRequest("messages", at + " must be a string or a list of text parts, got " + Json.kind(v));
        }
        List<String> texts = new ArrayList<>();
        for (int j = 0; j < v.size(); j++) {
            JsonNode part = v.get(j);
            String partAt = at + "[" + j + "]";
            if (!part.isObject() || !"text".equals(part.path("type").asText(null))) {
                throw HttpError.badRequest("messages", partAt + ".type must be \"text\", got "
                        + Json.kind(part.isObject() ? part.get("type") : part) + " (only text parts are supported)");
            }
            JsonNode text = part.get("text");
            if (text == null || !text.isTextual()) {
                throw HttpError.badRequest("messages", partAt + ".text must be a string, got " + Json.kind(text));
            }
            texts.add(text.asText());
        }
        return String.join("\n", texts);
    }

    /** The stream: a role chunk per choice, content chunks, a finish chunk per choice, usage, {@code [DONE]}. */
    private static final class Chunks implements StreamPump.Sink {
        private final String id;
        private final long created;
        private final String model;
        private final int n;
        private final boolean includeUsage;
        /** top_logprobs when the request asked for logprobs, else -1. */
        private final int topLogprobs;
        private int promptTokens;
        private int completionTokens;

        Chunks(String id, long created, String model, int n, boolean includeUsage, int topLogprobs) {
            this.topLogprobs = topLogprobs;
            this.id = id;
            this.created = created;
            this.model = model;
            this.n = n;
            this.includeUsage = includeUsage;
        }

        @Override
        public void start(SseWriter out) throws IOException {
            for (int j = 0; j < n; j++) {
                ObjectNode delta = Json.MAPPER.createObjectNode();
                delta.put("role", "assistant");
                delta.put("content", "");
                out.data(chunk(j, delta, null, null));
            }
        }

        @Override
        public void piece(SseWriter out, StreamPump.Piece piece) throws IOException {
            boolean withLogprobs = topLogprobs >= 0 && piece.logprobs() != null && !piece.logprobs().isEmpty();
            if (!piece.text().isEmpty() || withLogprobs) {
                ObjectNode delta = Json.MAPPER.createObjectNode();
                delta.put("content", piece.text());
                out.data(chunk(piece.index(), delta, null,
                        withLogprobs ? OpenAiJson.chatLogprobs(piece.logprobs(), topLogprobs) : null));
            }
        }

        @Override
        public void done(SseWriter out, StreamPump.Done done) throws IOException {
            promptTokens = done.response().promptLength();
            completionTokens += done.response().generatedLength();
            String reason = OpenAiJson.finishReason(done.response());
            out.data(chunk(done.index(), Json.MAPPER.createObjectNode(), reason, null));
        }

        @Override
        public void error(SseWriter out, HttpError error) throws IOException {
            out.data(Json.write(error.toJson()));
            out.data("[DONE]");
        }

        @Override
        public void end(SseWriter out) throws IOException {
            if (includeUsage) {
                ObjectNode last = OpenAiJson.header(id, created, model, "chat.completion.chunk");
                last.putArray("choices");
                last.set("usage", OpenAiJson.usage(promptTokens, completionTokens));
                out.data(Json.write(last));
            }
            out.data("[DONE]");
        }

        private String chunk(int index, ObjectNode delta, String finishReason, ObjectNode logprobs) {
            ObjectNode o = OpenAiJson.header(id, created, model, "chat.completion.chunk");
            ObjectNode choice = o.putArray("choices").addObject();
            choice.put("index", index);
            choice.set("delta", delta);
            if (logprobs != null) {
                choice.set("logprobs", logprobs);
            } else {
                choice.putNull("logprobs");
            }
            choice.put("finish_reason", finishReason);
            if (includeUsage) {
                o.putNull("usage");
            }
            return Json.write(o);
        }
    }
}
