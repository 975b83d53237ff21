package dev.miij.server.http;

import static dev.miij.server.http.HttpTestSupport.events;
import static dev.miij.server.http.HttpTestSupport.json;
import static dev.miij.server.http.HttpTestSupport.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.openai.client.OpenAIClient;
import com.openai.core.http.StreamResponse;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionChoice;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.models.Model;
import dev.miij.GenerationOptions;
import dev.miij.Pipeline;
import dev.miij.Response;
import dev.miij.server.PipelineService;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** /v1/completions and /v1/models through the official OpenAI Java SDK, on the KJV demo model. */
class OpenAiCompletionsTest {

    static final String PROMPT = "In the beginning God created";

    static Pipeline pipe;
    static HttpFrontend http;
    static OpenAIClient client;

    @BeforeAll
    static void start() {
        pipe = HttpTestSupport.pipeline(HttpTestSupport.demoModel());
        http = HttpFrontend.start(new PipelineService(pipe, "kjv", "kjv-demo"), "127.0.0.1", 0, null);
        client = HttpTestSupport.openAi(http, "unused");
    }

    @AfterAll
    static void stop() {
        client.close();
        http.close();
        pipe.close();
    }

    /** OpenAI's options as the server maps them: the model's context, top_p 1. */
    static GenerationOptions.Builder openAiOptions(int maxTokens) {
        return GenerationOptions.builder().maxLength(Integer.MAX_VALUE).maxNewTokens(maxTokens).topP(1.0);
    }

    static Response greedy(String prompt, int maxTokens) {
        return pipe.generate(prompt, openAiOptions(maxTokens).doSample(false).build());
    }

    static CompletionCreateParams.Builder params(String prompt, long maxTokens) {
        return CompletionCreateParams.builder().model("kjv-demo").prompt(prompt).maxTokens(maxTokens).temperature(0.0);
    }

    @Test
    void greedyCompletionEqualsThePipelinesWithRealUsage() {
        Completion c = client.completions().create(params(PROMPT, 20).build());
        Response expected = greedy(PROMPT, 20);
        assertEquals(1, c.choices().size());
        CompletionChoice choice = c.choices().getFirst();
        assertEquals(expected.generatedText(), choice.text());
        assertEquals(0, choice.index());
        assertEquals(expected.finishReason().wireName(), choice.finishReason().asString());
        assertTrue(c.id().startsWith("cmpl-"), c.id());
        assertEquals("kjv-demo", c.model());
        assertTrue(Math.abs(c.created() - System.currentTimeMillis() / 1000) < 60);
        var usage = c.usage().orElseThrow();
        assertEquals(pipe.encode(PROMPT).length, usage.promptTokens());
        assertEquals(expected.generatedLength(), usage.completionTokens());
        assertEquals(usage.promptTokens() + usage.completionTokens(), usage.totalTokens());
        assertTrue(expected.generatedText().length() > 20, "real text: " + expected.generatedText());
    }

    @Test
    void rawObjectsHaveOpenAisFieldsAndDefaultMaxTokensIs16() throws Exception {
        HttpResponse<String> r = post(http, "/v1/completions", "{\"model\": \"kjv-demo\", \"prompt\": \"And God said\", "
                + "\"temperature\": 0}");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode o = json(r);
        assertEquals("text_completion", o.get("object").asText());
        assertTrue(o.get("logprobs") == null && o.get("choices").get(0).get("logprobs").isNull(), r.body());
        Response expected = greedy("And God said", 16);
        assertEquals(expected.generatedLength(), o.get("usage").get("completion_tokens").asInt());
        assertEquals(expected.generatedText(), o.get("choices").get(0).get("text").asText());

        r = post(http, "/v1/completions", "{\"prompt\": \"And God said\", \"temperature\": 0, \"max_tokens\": 5, "
                + "\"stream\": true}");
        assertEquals(200, r.statusCode(), r.body());
        List<HttpTestSupport.Event> events = events(r.body());
        assertEquals("[DONE]", events.getLast().data());
        assertEquals("text_completion", events.getFirst().json().get("object").asText());
        assertTrue(r.body().endsWith("data: [DONE]\n\n"), r.body());
    }

    @Test
    void streamedChunksConcatenateToTheTextAndEndWithUsage() {
        CompletionCreateParams p = params(PROMPT, 24).streamOptions(
                ChatCompletionStreamOptions.builder().includeUsage(true).build()).build();
        StringBuilder text = new StringBuilder();
        List<String> finishReasons = new ArrayList<>();
        Completion usageChunk = null;
        try (StreamResponse<Completion> stream = client.completions().createStreaming(p)) {
            for (Completion chunk : (Iterable<Completion>) stream.stream()::iterator) {
                if (chunk.choices().isEmpty()) {
                    usageChunk = chunk;
                    continue;
                }
                assertFalse(chunk.usage().isPresent());
                CompletionChoice choice = chunk.choices().getFirst();
                text.append(choice.text());
                if (!choice._finishReason().isNull()) {
                    finishReasons.add(choice.finishReason().asString());
                }
            }
        }
        Response expected = greedy(PROMPT, 24);
        assertEquals(expected.generatedText(), text.toString());
        assertEquals(List.of(expected.finishReason().wireName()), finishReasons);
        var usage = usageChunk.usage().orElseThrow();
        assertEquals(pipe.encode(PROMPT).length, usage.promptTokens());
        assertEquals(expected.generatedLength(), usage.completionTokens());
    }

    @Test
    void stopStringsCutTheTextStreamedOrNot() {
        String full = greedy(PROMPT, 40).generatedText();
        // A word from the middle of the greedy text, first seen where the text must be cut.
        String[] words = full.trim().split("\\s+");
        String stop = words[Math.min(4, words.length - 1)];
        int cut = full.indexOf(stop);
        assertTrue(cut > 0, full);
        CompletionCreateParams p = params(PROMPT, 40)
                .stop(CompletionCreateParams.Stop.ofStrings(List.of("@@never@@", stop))).build();

        CompletionChoice choice = client.completions().create(p).choices().getFirst();
        assertEquals(full.substring(0, cut), choice.text());
        assertEquals("stop", choice.finishReason().asString());

        StringBuilder streamed = new StringBuilder();
        try (StreamResponse<Completion> stream = client.completions().createStreaming(p)) {
            stream.stream().forEach(c -> c.choices().forEach(ch -> streamed.append(ch.text())));
        }
        assertEquals(full.substring(0, cut), streamed.toString());
    }

    @Test
    void nChoicesAreSeparateRequestsSeededSeedPlusIndex() {
        CompletionCreateParams p = CompletionCreateParams.builder().model("kjv-demo")
                .prompt(CompletionCreateParams.Prompt.ofArrayOfStrings(List.of(PROMPT, "And the earth")))
                .maxTokens(12).temperature(0.9).n(3).seed(42).build();
        Completion c = client.completions().create(p);
        assertEquals(6, c.choices().size());
        List<String> prompts = List.of(PROMPT, "And the earth");
        int completionTokens = 0;
        for (CompletionChoice choice : c.choices()) {
            int index = (int) choice.index();
            Response expected = pipe.generate(prompts.get(index / 3),
                    openAiOptions(12).doSample(true).temperature(0.9).seed(42L + index % 3).build());
            assertEquals(expected.generatedText(), choice.text(), "choice " + index);
            completionTokens += expected.generatedLength();
        }
        var usage = c.usage().orElseThrow();
        assertEquals(pipe.encode(PROMPT).length + pipe.encode("And the earth").length, usage.promptTokens());
        assertEquals(completionTokens, usage.completionTokens());
        assertNotEquals(c.choices().get(0).text(), c.choices().get(1).text(), "seeds 42 and 43 differ");

        // Streamed, each index gathers its own pieces.
        String[] texts = {"", "", "", "", "", ""};
        try (StreamResponse<Completion> stream = client.completions().createStreaming(p)) {
            stream.stream().forEach(chunk -> chunk.choices().forEach(ch -> texts[(int) ch.index()] += ch.text()));
        }
        for (CompletionChoice choice : c.choices()) {
            assertEquals(choice.text(), texts[(int) choice.index()]);
        }
    }

    @Test
    void greedyChoicesAreIdentical() {
        Completion c = client.completions().create(params(PROMPT, 8).n(2).build());
        assertEquals(c.choices().get(0).text(), c.choices().get(1).text());
        assertEquals(greedy(PROMPT, 8).generatedText(), c.choices().get(1).text());
    }

    @Test
    void echoPutsThePromptFirst() {
        Completion c = client.completions().create(params(PROMPT, 6).echo(true).build());
        assertEquals(PROMPT + greedy(PROMPT, 6).generatedText(), c.choices().getFirst().text());
        StringBuilder streamed = new StringBuilder();
        try (StreamResponse<Completion> stream = client.completions().createStreaming(params(PROMPT, 6).echo(true).build())) {
            stream.stream().forEach(chunk -> chunk.choices().forEach(ch -> streamed.append(ch.text())));
        }
        assertEquals(c.choices().getFirst().text(), streamed.toString());
    }

    @Test
    void listsTheServedModel() {
        List<Model> models = client.models().list().data();
        assertEquals(1, models.size());
        assertEquals("kjv-demo", models.getFirst().id());
        assertEquals("mii-j", models.getFirst().ownedBy());
        assertEquals("kjv-demo", client.models().retrieve("kjv-demo").id());
    }
}
