package dev.miij.server.http;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.miij.GenerationOptions;
import dev.miij.MiiException;
import dev.miij.Response;
import dev.miij.server.GenerationService;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code POST /mii/{deployment}}: DeepSpeed-MII's RESTful gateway. The body holds {@code prompts} (a
 * string or a list) and MII's generation options by their snake_case names; the answer is a list of
 * {@code {generated_text, prompt_length, generated_length, finish_reason}}, one per prompt.
 *
 * <pre>{@code
 * curl localhost:28080/mii/my-deployment -d '{"prompts": ["DeepSpeed is"], "max_new_tokens": 24, "do_sample": false}'
 * }</pre>
 *
 * <p>With {@code "stream": true} the answer is a stream of server-sent events, all named:
 * <pre>
 * event: text       data: {"index": 0, "text": " a", "token_ids": [264]}      (pieces, in order)
 * event: response   data: {"index": 0, "generated_text": ..., "prompt_length": ..., "generated_length": ...,
 *                          "finish_reason": "length"}                       (once per prompt)
 * event: error      data: {"error": {"message": ..., ...}}                   (instead, if a prompt fails)
 * event: done       data: [DONE]                                             (last)
 * </pre>
 * The texts of one index concatenate to its {@code generated_text}.
 */
final class MiiGateway {

    /** Prompts of one request, at most; a request beyond that belongs in several. */
    static final int MAX_PROMPTS = 1024;

    private final GenerationService service;
    private final Metrics metrics;
    private final Set<StreamPump> inFlight;

    MiiGateway(GenerationService service, Metrics metrics, Set<StreamPump> inFlight) {
        this.service = service;
        this.metrics = metrics;
        this.inFlight = inFlight;
    }

    void handle(HttpCall call, String deployment) throws IOException {
        if (!deployment.equals(service.deploymentName())) {
            throw HttpError.notFound("deployment_not_found", "deployment '" + deployment
                    + "' not found; this server serves '" + service.deploymentName() + "'");
        }
        Fields f = new Fields(call.jsonObject());
        List<String> prompts = prompts(f);
        boolean stream = f.bool("stream", false);
        Map<String, Object> kwargs = f.rest();
        GenerationOptions options = options(kwargs);
        if (stream) {
            StreamPump pump = new StreamPump(service, metrics, call, inFlight);
            pump.start(prompts.size(), prompts::get, i -> options);
            pump.run(new Events(prompts, options.returnFullText()));
            return;
        }
        List<Response> responses = call.await(service.generate(prompts, options));
        responses.forEach(r -> {
            metrics.tokens(r);
            call.tokens(r);
        });
        metrics.e2eLatency(System.nanoTime() - call.startNanos);
        ArrayNode out = Json.MAPPER.createArrayNode();
        for (Response r : responses) {
            out.add(response(r));
        }
        call.sendJson(200, out);
    }

    private static List<String> prompts(Fields f) {
        if (f.raw("prompts") == null) {
            throw HttpError.badRequest("prompts", "prompts is required (a string or a list of strings)");
        }
        List<String> prompts = f.strings("prompts");
        boolean list = f.raw("prompts").isArray();
        if (prompts.isEmpty()) {
            throw HttpError.badRequest("prompts", "prompts must not be empty");
        }
        if (prompts.size() > MAX_PROMPTS) {
            throw HttpError.badRequest("prompts", "at most " + MAX_PROMPTS + " prompts per request, got " + prompts.size());
        }
        for (int i = 0; i < prompts.size(); i++) {
            if (prompts.get(i).isEmpty()) {
                throw HttpError.badRequest("prompts", (list ? "prompts[" + i + "]" : "prompts") + " is empty");
            }
        }
        return prompts;
    }

    /** MII's own validation names the field in its message; the param names it for programs. */
    private static GenerationOptions options(Map<String, Object> kwargs) {
        try {
            return GenerationOptions.fromMap(kwargs);
        } catch (MiiException e) {
            String param = null;
            for (String key : kwargs.keySet()) {
                if (e.getMessage().startsWith(key + " ") || e.getMessage().contains("'" + key + "'")) {
                    param = key;
                    break;
                }
            }
            throw new HttpError(HttpError.status(e.kind()), param, null, e.getMessage());
        }
    }

    static ObjectNode response(Response r) {
        ObjectNode o = Json.MAPPER.createObjectNode();
        o.put("generated_text", r.generatedText());
        o.put("prompt_length", r.promptLength());
        o.put("generated_length", r.generatedLength());
        o.put("finish_reason", r.finishReason().wireName());
        if (r.logprobs() != null) {
            o.set("logprobs", logprobs(r.logprobs()));
        }
        return o;
    }

    /**
     * With the {@code logprobs} option: per generated token its id, text, log-probability and the most
     * likely tokens there ({@code top_logprobs}).
     */
    static ArrayNode logprobs(List<dev.miij.TokenLogprob> logprobs) {
        ArrayNode a = Json.MAPPER.createArrayNode();
        for (dev.miij.TokenLogprob t : logprobs) {
            ObjectNode o = a.addObject();
            o.put("token_id", t.tokenId());
            o.put("token", t.token());
            o.put("logprob", Math.max(t.logprob(), OpenAiJson.FLOOR));
            ArrayNode top = o.putArray("top_logprobs");
            for (dev.miij.TokenLogprob.Alternative alt : t.top()) {
                top.addObject().put("token_id", alt.tokenId()).put("token", alt.token())
                        .put("logprob", Math.max(alt.logprob(), OpenAiJson.FLOOR));
            }
        }
        return a;
    }

    private static final class Events implements StreamPump.Sink {
        private final List<String> prompts;
        private final boolean fullText;

        Events(List<String> prompts, boolean fullText) {
            this.prompts = prompts;
            this.fullText = fullText;
        }

        @Override
        public void start(SseWriter out) throws IOException {
            // With return_full_text the final text starts with the prompt; so must the pieces.
            if (fullText) {
                for (int i = 0; i < prompts.size(); i++) {
                    out.event("text", text(i, prompts.get(i), new int[0], null));
                }
            }
        }

        @Override
        public void piece(SseWriter out, StreamPump.Piece piece) throws IOException {
            out.event("text", text(piece.index(), piece.text(), piece.tokenIds(), piece.logprobs()));
        }

        @Override
        public void done(SseWriter out, StreamPump.Done done) throws IOException {
            ObjectNode o = Json.MAPPER.createObjectNode();
            o.put("index", done.index());
            o.setAll(response(done.response()));
            out.event("response", Json.write(o));
        }

        @Override
        public void error(SseWriter out, HttpError error) throws IOException {
            out.event("error", Json.write(error.toJson()));
            out.event("done", "[DONE]");
        }

        @Override
        public void end(SseWriter out) throws IOException {
            out.event("done", "[DONE]");
        }

        private static String text(int index, String text, int[] ids, List<dev.miij.TokenLogprob> logprobs) {
            ObjectNode o = Json.MAPPER.createObjectNode();
            o.put("index", index);
            o.put("text", text);
            ArrayNode a = o.putArray("token_ids");
            for (int id : ids) {
                a.add(id);
            }
            if (logprobs != null) {
                o.set("logprobs", logprobs(logprobs));
            }
            return Json.write(o);
        }
    }
}
