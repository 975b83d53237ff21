package dev.miij.server.http;

import static dev.miij.server.http.HttpTestSupport.events;
import static dev.miij.server.http.HttpTestSupport.json;
import static dev.miij.server.http.HttpTestSupport.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.client.OpenAIClient;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import dev.miij.GenerationOptions;
import dev.miij.Pipeline;
import dev.miij.Response;
import dev.miij.engine.StreamListener;
import dev.miij.server.PipelineService;
import java.net.http.HttpResponse;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Token-id prompts on /v1/completions (a list of ids, or a list of lists) and {@code echo}, with vLLM's
 * semantics: the ids are the prompt as given (nothing added), echo puts the prompt's text in front.
 */
class TokenPromptsHttpTest {

    static Pipeline pipe;
    static HttpFrontend http;
    static OpenAIClient client;

    @BeforeAll
    static void start() {
        pipe = HttpTestSupport.pipeline(HttpTestSupport.demoModel());
        http = HttpFrontend.start(new PipelineService(pipe, "kjv", "kjv-demo"), "127.0.0.1", 0, null);
        client = HttpTestSupport.openAi(http, "none");
    }

    @AfterAll
    static void stop() {
        http.close();
        pipe.close();
    }

    /** The engine's greedy output for exactly these ids. */
    static Response engine(int[] ids, int maxTokens) throws Exception {
        return pipe.engine().submit(ids, GenerationOptions.builder().maxLength(Integer.MAX_VALUE).doSample(false)
                .maxNewTokens(maxTokens).build(), StreamListener.NONE, "").result().get();
    }

    static String list(int[] ids) {
        return Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(", ", "[", "]"));
    }

    @Test
    void idsArePromptsAsGiven() throws Exception {
        int[] a = pipe.encode("In the beginning");
        int[] b = Arrays.copyOfRange(pipe.encode("And God said"), 1, pipe.encode("And God said").length); // no BOS
        HttpResponse<String> r = post(http, "/v1/completions", "{\"prompt\": " + list(a)
                + ", \"max_tokens\": 6, \"temperature\": 0}");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode body = json(r);
        assertEquals(engine(a, 6).generatedText(), body.get("choices").get(0).get("text").asText());
        assertEquals(a.length, body.get("usage").get("prompt_tokens").asInt());
        // The same as the text prompt, whose encoding these ids are.
        JsonNode text = json(post(http, "/v1/completions", "{\"prompt\": \"In the beginning\", \"max_tokens\": 6, "
                + "\"temperature\": 0}"));
        assertEquals(text.get("choices").get(0).get("text"), body.get("choices").get(0).get("text"));

        // A list of lists, with n: prompt p's choice j at index p * n + j.
        JsonNode two = json(post(http, "/v1/completions", "{\"prompt\": [" + list(a) + ", " + list(b) + "], "
                + "\"max_tokens\": 5, \"temperature\": 0, \"n\": 2}"));
        assertEquals(4, two.get("choices").size());
        for (int k = 0; k < 4; k++) {
            JsonNode c = two.get("choices").get(k);
            assertEquals(k, c.get("index").asInt());
            assertEquals(engine(k < 2 ? a : b, 5).generatedText(), c.get("text").asText(), "choice " + k);
        }
        assertEquals(a.length + b.length, two.get("usage").get("prompt_tokens").asInt());

        // The official client's token-array prompts.
        Completion c = client.completions().create(CompletionCreateParams.builder().model("kjv")
                .promptOfArrayOfTokenArrays(List.of(Arrays.stream(b).mapToObj(i -> (long) i).toList()))
                .maxTokens(5).temperature(0.0).build());
        assertEquals(engine(b, 5).generatedText(), c.choices().getFirst().text());
    }

    @Test
    void streamedIdsAndEcho() throws Exception {
        int[] a = pipe.encode("In the beginning");
        String decoded = pipe.tokenizer().decode(a, false);
        String generated = engine(a, 6).generatedText();
        HttpResponse<String> r = post(http, "/v1/completions", "{\"prompt\": " + list(a)
                + ", \"max_tokens\": 6, \"temperature\": 0, \"stream\": true, \"echo\": true}");
        assertEquals(200, r.statusCode(), r.body());
        StringBuilder text = new StringBuilder();
        List<HttpTestSupport.Event> events = events(r.body());
        assertEquals("[DONE]", events.getLast().data());
        for (HttpTestSupport.Event e : events.subList(0, events.size() - 1)) {
            text.append(HttpTestSupport.JSON.readTree(e.data()).get("choices").get(0).get("text").asText());
        }
        // echo: the prompt's text (its ids decoded, special tokens kept), then the completion.
        assertEquals(decoded + generated, text.toString());
        JsonNode echoed = json(post(http, "/v1/completions", "{\"prompt\": " + list(a)
                + ", \"max_tokens\": 6, \"temperature\": 0, \"echo\": true}"));
        assertEquals(decoded + generated, echoed.get("choices").get(0).get("text").asText());
        assertTrue(decoded.endsWith("In the beginning"), decoded);
        // And with the official client, a text prompt.
        Completion c = client.completions().create(CompletionCreateParams.builder().model("kjv")
                .prompt("In the beginning").maxTokens(6).temperature(0.0).echo(true).build());
        assertEquals("In the beginning" + generated, c.choices().getFirst().text());
    }
}
