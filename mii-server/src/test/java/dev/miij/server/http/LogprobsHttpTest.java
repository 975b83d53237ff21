package dev.miij.server.http;

import static dev.miij.server.http.HttpTestSupport.events;
import static dev.miij.server.http.HttpTestSupport.json;
import static dev.miij.server.http.HttpTestSupport.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.client.OpenAIClient;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionTokenLogprob;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import dev.miij.GenerationOptions;
import dev.miij.Pipeline;
import dev.miij.Response;
import dev.miij.TokenLogprob;
import dev.miij.server.PipelineService;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code logprobs} on /v1/completions and {@code logprobs} / {@code top_logprobs} on
 * /v1/chat/completions, streamed and not, in vLLM's shapes; the values are the engine's (checked
 * against the CPU logits in mii-core).
 */
class LogprobsHttpTest {

    /** The same greedy tokens, computed in other batches (prefill or prefix-cache hits): float rounding apart. */
    static final float TOLERANCE = 1e-4f;

    @TempDir
    static Path dir;
    static Pipeline pipe;
    static HttpFrontend http;
    static OpenAIClient client;

    @BeforeAll
    static void start() throws Exception {
        pipe = HttpTestSupport.pipeline(OpenAiChatTest.chatModel(dir.resolve("kjv-chat")));
        http = HttpFrontend.start(new PipelineService(pipe, "kjv-chat", "kjv-chat"), "127.0.0.1", 0, null);
        client = HttpTestSupport.openAi(http, "none");
    }

    @AfterAll
    static void stop() {
        http.close();
        pipe.close();
    }

    static Response expected(String prompt, int top) {
        return pipe.generate(prompt, GenerationOptions.builder().doSample(false).maxNewTokens(8).ignoreEos(true)
                .logprobs(top).build());
    }

    static void assertCompletionLogprobs(Response want, JsonNode lp, int top, String text) {
        assertEquals(want.generatedLength(), lp.get("tokens").size());
        StringBuilder joined = new StringBuilder();
        for (int i = 0; i < want.generatedLength(); i++) {
            TokenLogprob t = want.logprobs().get(i);
            assertEquals(t.token(), lp.get("tokens").get(i).asText());
            assertEquals(t.logprob(), lp.get("token_logprobs").get(i).floatValue(), TOLERANCE);
            assertEquals(joined.codePointCount(0, joined.length()), lp.get("text_offset").get(i).asInt());
            JsonNode tops = lp.get("top_logprobs").get(i);
            // The chosen token, then the top ones: top or top + 1 entries, as vLLM.
            assertTrue(tops.size() == top || tops.size() == top + 1, tops.toString());
            assertEquals(t.logprob(), tops.get(t.token()).floatValue(), TOLERANCE);
            for (TokenLogprob.Alternative a : t.top()) {
                assertEquals(a.logprob(), tops.get(a.token()).floatValue(), TOLERANCE);
            }
            joined.append(t.token());
        }
        assertEquals(text, joined.toString());
    }

    @Test
    void completionsReturnTokensLogprobsTopLogprobsAndOffsets() throws Exception {
        HttpResponse<String> r = post(http, "/v1/completions", "{\"prompt\": \"In the beginning\", \"max_tokens\": 8, "
                + "\"temperature\": 0, \"ignore_eos\": true, \"logprobs\": 3}");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode choice = json(r).get("choices").get(0);
        assertCompletionLogprobs(expected("In the beginning", 3), choice.get("logprobs"), 3, choice.get("text").asText());
        // logprobs 0: the chosen token alone.
        JsonNode zero = json(post(http, "/v1/completions", "{\"prompt\": \"In the beginning\", \"max_tokens\": 8, "
                + "\"temperature\": 0, \"ignore_eos\": true, \"logprobs\": 0}")).get("choices").get(0);
        assertCompletionLogprobs(expected("In the beginning", 0), zero.get("logprobs"), 0, zero.get("text").asText());
        // Absent: null, as before.
        JsonNode none = json(post(http, "/v1/completions", "{\"prompt\": \"In the beginning\", \"max_tokens\": 2}"));
        assertTrue(none.get("choices").get(0).get("logprobs").isNull());
        // The official client reads them.
        Completion c = client.completions().create(CompletionCreateParams.builder().model("kjv-chat")
                .prompt("In the beginning").maxTokens(8).temperature(0.0).logprobs(2).build());
        var lp = c.choices().getFirst().logprobs().orElseThrow();
        assertEquals(8, lp.tokens().orElseThrow().size());
        assertEquals(expected("In the beginning", 2).logprobs().getFirst().logprob(),
                lp.tokenLogprobs().orElseThrow().getFirst().floatValue(), TOLERANCE);
    }

    @Test
    void streamedCompletionsCarryEachPiecesLogprobs() throws Exception {
        HttpResponse<String> r = post(http, "/v1/completions", "{\"prompt\": \"In the beginning\", \"max_tokens\": 8, "
                + "\"temperature\": 0, \"ignore_eos\": true, \"logprobs\": 2, \"stream\": true}");
        assertEquals(200, r.statusCode(), r.body());
        List<JsonNode> tokens = new ArrayList<>();
        List<JsonNode> logprobs = new ArrayList<>();
        List<JsonNode> tops = new ArrayList<>();
        List<JsonNode> offsets = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        for (HttpTestSupport.Event e : events(r.body())) {
            if (e.data().equals("[DONE]")) {
                continue;
            }
            JsonNode choice = HttpTestSupport.JSON.readTree(e.data()).get("choices").get(0);
            text.append(choice.get("text").asText());
            JsonNode lp = choice.get("logprobs");
            if (!lp.isNull()) {
                lp.get("tokens").forEach(tokens::add);
                lp.get("token_logprobs").forEach(logprobs::add);
                lp.get("top_logprobs").forEach(tops::add);
                lp.get("text_offset").forEach(offsets::add);
            }
        }
        JsonNode whole = HttpTestSupport.JSON.createObjectNode()
                .<com.fasterxml.jackson.databind.node.ObjectNode>set("tokens", HttpTestSupport.JSON.valueToTree(tokens))
                .<com.fasterxml.jackson.databind.node.ObjectNode>set("token_logprobs", HttpTestSupport.JSON.valueToTree(logprobs))
                .<com.fasterxml.jackson.databind.node.ObjectNode>set("top_logprobs", HttpTestSupport.JSON.valueToTree(tops))
                .set("text_offset", HttpTestSupport.JSON.valueToTree(offsets));
        assertCompletionLogprobs(expected("In the beginning", 2), whole, 2, text.toString());
    }

    static ChatCompletionCreateParams.Builder chat() {
        return ChatCompletionCreateParams.builder().model("kjv-chat").addSystemMessage(OpenAiChatTest.SYSTEM)
                .addUserMessage(OpenAiChatTest.USER)
                .maxCompletionTokens(8).temperature(0.0);
    }

    static void assertChatLogprobs(Response want, JsonNode content, int top) {
        assertEquals(want.generatedLength(), content.size());
        for (int i = 0; i < content.size(); i++) {
            TokenLogprob t = want.logprobs().get(i);
            JsonNode entry = content.get(i);
            assertEquals(t.token(), entry.get("token").asText());
            assertEquals(t.logprob(), entry.get("logprob").floatValue(), TOLERANCE);
            byte[] bytes = t.token().getBytes(StandardCharsets.UTF_8);
            assertEquals(bytes.length, entry.get("bytes").size());
            for (int b = 0; b < bytes.length; b++) {
                assertEquals(bytes[b] & 0xFF, entry.get("bytes").get(b).asInt());
            }
            assertEquals(top, entry.get("top_logprobs").size());
            for (int k = 0; k < top; k++) {
                assertEquals(t.top().get(k).token(), entry.get("top_logprobs").get(k).get("token").asText());
                assertEquals(t.top().get(k).logprob(), entry.get("top_logprobs").get(k).get("logprob").floatValue(), TOLERANCE);
            }
        }
    }

    @Test
    void chatReturnsContentWithTopLogprobsStreamedOrNot() throws Exception {
        String body = "{\"messages\": [{\"role\": \"system\", \"content\": \"" + OpenAiChatTest.SYSTEM + "\"}, "
                + "{\"role\": \"user\", \"content\": \"" + OpenAiChatTest.USER + "\"}], \"max_tokens\": 8, "
                + "\"temperature\": 0, \"ignore_eos\": true, \"logprobs\": true, \"top_logprobs\": 3";
        HttpResponse<String> r = post(http, "/v1/chat/completions", body + "}");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode content = json(r).get("choices").get(0).get("logprobs").get("content");
        Response want = expected(OpenAiChatTest.RENDERED, 3);
        assertChatLogprobs(want, content, 3);

        HttpResponse<String> s = post(http, "/v1/chat/completions", body + ", \"stream\": true}");
        assertEquals(200, s.statusCode(), s.body());
        com.fasterxml.jackson.databind.node.ArrayNode streamed = HttpTestSupport.JSON.createArrayNode();
        for (HttpTestSupport.Event e : events(s.body())) {
            if (!e.data().equals("[DONE]")) {
                JsonNode lp = HttpTestSupport.JSON.readTree(e.data()).get("choices").get(0).get("logprobs");
                if (!lp.isNull()) {
                    streamed.addAll((com.fasterxml.jackson.databind.node.ArrayNode) lp.get("content"));
                }
            }
        }
        assertChatLogprobs(want, streamed, 3);

        // logprobs true alone: no alternatives; the official client reads them.
        ChatCompletion c = client.chat().completions().create(chat().logprobs(true).build());
        List<ChatCompletionTokenLogprob> got = c.choices().getFirst().logprobs().orElseThrow().content().orElseThrow();
        assertEquals(c.usage().orElseThrow().completionTokens(), got.size());
        assertTrue(got.getFirst().topLogprobs().isEmpty());
        assertTrue(json(post(http, "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}], "
                + "\"max_tokens\": 2}")).get("choices").get(0).get("logprobs").isNull());
    }

    @Test
    void miiGatewayTakesLogprobsAsAnOption() throws Exception {
        HttpResponse<String> r = post(http, "/mii/kjv-chat", "{\"prompts\": \"In the beginning\", \"max_new_tokens\": 8, "
                + "\"do_sample\": false, \"ignore_eos\": true, \"logprobs\": 2}");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode lp = json(r).get(0).get("logprobs");
        Response want = expected("In the beginning", 2);
        assertEquals(want.generatedLength(), lp.size());
        for (int i = 0; i < lp.size(); i++) {
            assertEquals(want.logprobs().get(i).tokenId(), lp.get(i).get("token_id").asInt());
            assertEquals(want.logprobs().get(i).logprob(), lp.get(i).get("logprob").floatValue(), TOLERANCE);
            assertEquals(2, lp.get(i).get("top_logprobs").size());
        }
        assertEquals(400, post(http, "/mii/kjv-chat", "{\"prompts\": \"a\", \"logprobs\": 21}").statusCode());
    }

    @Test
    void badLogprobsAre400() throws Exception {
        for (String extra : List.of("\"logprobs\": 21", "\"logprobs\": -1", "\"logprobs\": \"5\"", "\"logprobs\": true",
                "\"logprobs\": 1, \"echo\": true")) {
            HttpResponse<String> r = post(http, "/v1/completions", "{\"prompt\": \"a\", " + extra + "}");
            assertEquals(400, r.statusCode(), extra + " -> " + r.body());
            assertEquals("invalid_request_error", json(r).get("error").get("type").asText());
        }
        for (String extra : List.of("\"logprobs\": true, \"top_logprobs\": 21", "\"logprobs\": true, \"top_logprobs\": -1",
                "\"top_logprobs\": 2", "\"logprobs\": 1")) {
            HttpResponse<String> r = post(http, "/v1/chat/completions",
                    "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}], " + extra + "}");
            assertEquals(400, r.statusCode(), extra + " -> " + r.body());
        }
    }
}
