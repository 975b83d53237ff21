package dev.miij.server.http;

import static dev.miij.server.http.HttpTestSupport.events;
import static dev.miij.server.http.HttpTestSupport.json;
import static dev.miij.server.http.HttpTestSupport.post;
import static dev.miij.server.http.HttpTestSupport.q;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.miij.GenerationOptions;
import dev.miij.Pipeline;
import dev.miij.Response;
import dev.miij.server.PipelineService;
import dev.miij.testing.Fixtures;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** MII's REST gateway against the llama2 fixture: answers, streaming, errors. */
class MiiGatewayTest {

    static final GenerationOptions GREEDY_24 = GenerationOptions.builder().maxNewTokens(24).doSample(false).build();

    static Pipeline pipe;
    static HttpFrontend http;
    static List<Fixtures.Case> cases;

    @BeforeAll
    static void start() throws Exception {
        pipe = HttpTestSupport.pipeline(Fixtures.dir("llama2"));
        http = HttpFrontend.start(new PipelineService(pipe, "tiny", "llama2"), "127.0.0.1", 0, null);
        cases = Fixtures.cases("llama2");
    }

    @AfterAll
    static void stop() {
        http.close();
        pipe.close();
    }

    private static List<String> prompts() {
        return cases.stream().map(Fixtures.Case::prompt).toList();
    }

    @Test
    void greedyAnswersEqualThePipelines() throws Exception {
        List<String> prompts = prompts();
        StringBuilder list = new StringBuilder();
        for (String p : prompts) {
            list.append(list.isEmpty() ? "" : ",").append(q(p));
        }
        HttpResponse<String> r = post(http, "/mii/tiny",
                "{\"prompts\": [" + list + "], \"max_new_tokens\": 24, \"do_sample\": false}");
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("application/json"));
        JsonNode out = json(r);
        List<Response> expected = pipe.generate(prompts, GREEDY_24);
        assertEquals(prompts.size(), out.size());
        for (int i = 0; i < prompts.size(); i++) {
            JsonNode o = out.get(i);
            assertEquals(expected.get(i).generatedText(), o.get("generated_text").asText());
            assertEquals(expected.get(i).promptLength(), o.get("prompt_length").asInt());
            assertEquals(24, o.get("generated_length").asInt());
            assertEquals("length", o.get("finish_reason").asText());
            assertEquals(4, o.size(), "exactly MII's four fields: " + o);
        }
    }

    @Test
    void aSinglePromptStringAnswersAListOfOne() throws Exception {
        HttpResponse<String> r = post(http, "/mii/tiny", "{\"prompts\": \"Hello\", \"max_new_tokens\": 5, \"do_sample\": false}");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode out = json(r);
        assertEquals(1, out.size());
        assertEquals(pipe.generate("Hello", GenerationOptions.builder().maxNewTokens(5).doSample(false).build())
                .generatedText(), out.get(0).get("generated_text").asText());
    }

    @Test
    void streamedPiecesConcatenateToTheTextAndCarryTransformersGreedyIds() throws Exception {
        for (Fixtures.Case c : cases) {
            HttpResponse<String> r = post(http, "/mii/tiny", "{\"prompts\": " + q(c.prompt())
                    + ", \"max_new_tokens\": 24, \"do_sample\": false, \"stream\": true}");
            assertEquals(200, r.statusCode(), r.body());
            assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
            List<HttpTestSupport.Event> events = events(r.body());
            StringBuilder text = new StringBuilder();
            List<Integer> ids = new ArrayList<>();
            JsonNode last = null;
            for (HttpTestSupport.Event e : events.subList(0, events.size() - 1)) {
                JsonNode o = e.json();
                assertEquals(0, o.get("index").asInt());
                if (e.name().equals("text")) {
                    text.append(o.get("text").asText());
                    o.get("token_ids").forEach(id -> ids.add(id.asInt()));
                } else {
                    assertEquals("response", e.name());
                    last = o;
                }
            }
            assertEquals(new HttpTestSupport.Event("done", "[DONE]"), events.getLast());
            Response expected = pipe.generate(c.prompt(), GREEDY_24);
            assertEquals(expected.generatedText(), text.toString());
            assertEquals(expected.generatedText(), last.get("generated_text").asText());
            assertEquals(24, last.get("generated_length").asInt());
            assertEquals("length", last.get("finish_reason").asText());
            assertEquals(expected.tokenIds(), ids);
            Fixtures.checkGreedy(c.prompt(), c, ids.stream().mapToInt(Integer::intValue).toArray());
        }
    }

    @Test
    void severalStreamedPromptsKeepTheirIndexes() throws Exception {
        List<String> prompts = prompts().subList(0, 3);
        HttpResponse<String> r = post(http, "/mii/tiny", "{\"prompts\": [" + q(prompts.get(0)) + "," + q(prompts.get(1))
                + "," + q(prompts.get(2)) + "], \"max_new_tokens\": 12, \"do_sample\": false, \"stream\": true}");
        assertEquals(200, r.statusCode(), r.body());
        StringBuilder[] texts = {new StringBuilder(), new StringBuilder(), new StringBuilder()};
        int responses = 0;
        for (HttpTestSupport.Event e : events(r.body())) {
            if ("text".equals(e.name())) {
                texts[e.json().get("index").asInt()].append(e.json().get("text").asText());
            } else if ("response".equals(e.name())) {
                responses++;
                int i = e.json().get("index").asInt();
                assertEquals(texts[i].toString(), e.json().get("generated_text").asText());
            }
        }
        assertEquals(3, responses);
        List<Response> expected = pipe.generate(prompts, GenerationOptions.builder().maxNewTokens(12).doSample(false).build());
        for (int i = 0; i < 3; i++) {
            assertEquals(expected.get(i).generatedText(), texts[i].toString());
        }
    }

    @Test
    void streamedFullTextStartsWithThePrompt() throws Exception {
        HttpResponse<String> r = post(http, "/mii/tiny", "{\"prompts\": \"Hello\", \"max_new_tokens\": 6, "
                + "\"do_sample\": false, \"return_full_text\": true, \"stream\": true}");
        StringBuilder text = new StringBuilder();
        String full = null;
        for (HttpTestSupport.Event e : events(r.body())) {
            if ("text".equals(e.name())) {
                text.append(e.json().get("text").asText());
            } else if ("response".equals(e.name())) {
                full = e.json().get("generated_text").asText();
            }
        }
        assertTrue(full.startsWith("Hello"), full);
        assertEquals(full, text.toString());
    }

    @Test
    void anUnknownDeploymentIs404() throws Exception {
        HttpResponse<String> r = post(http, "/mii/other", "{\"prompts\": \"Hello\"}");
        assertEquals(404, r.statusCode());
        assertTrue(json(r).get("error").get("message").asText().contains("'other'"), r.body());
    }

    @Test
    void optionErrorsNameTheOption() throws Exception {
        HttpResponse<String> r = post(http, "/mii/tiny", "{\"prompts\": \"Hello\", \"max_new_tokens\": \"ten\"}");
        assertEquals(400, r.statusCode());
        JsonNode error = json(r).get("error");
        assertEquals("max_new_tokens", error.get("param").asText());
        assertTrue(error.get("message").asText().contains("max_new_tokens"), r.body());

        r = post(http, "/mii/tiny", "{\"prompts\": \"Hello\", \"temprature\": 0.5}");
        assertEquals(400, r.statusCode());
        assertEquals("temprature", json(r).get("error").get("param").asText());
        assertTrue(json(r).get("error").get("message").asText().contains("'temprature'"), r.body());
    }
}
