package dev.miij.server.http;

import static dev.miij.server.http.HttpTestSupport.events;
import static dev.miij.server.http.HttpTestSupport.json;
import static dev.miij.server.http.HttpTestSupport.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.openai.client.OpenAIClient;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.ChatCompletionStreamOptions;
import dev.miij.GenerationOptions;
import dev.miij.Pipeline;
import dev.miij.Response;
import dev.miij.server.PipelineService;
import java.io.IOException;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * /v1/chat/completions through the OpenAI SDK, on a copy of the demo model given a ChatML template
 * (which starts with {@code {{ bos_token }}}, as many do), and on the demo model itself, which has none.
 */
class OpenAiChatTest {

    static final String SYSTEM = "You are a scribe.";
    static final String USER = "Tell of the beginning.";
    /** What the template renders for SYSTEM and USER, less the BOS the engine adds itself. */
    static final String RENDERED = "<|im_start|>system\n" + SYSTEM + "<|im_end|>\n<|im_start|>user\n" + USER
            + "<|im_end|>\n<|im_start|>assistant\n";

    @TempDir
    static Path dir;
    static Pipeline chatPipe;
    static Pipeline plainPipe;
    static HttpFrontend chat;
    static HttpFrontend plain;
    static OpenAIClient client;

    @BeforeAll
    static void start() throws IOException {
        Path model = chatModel(dir.resolve("kjv-chat"));
        chatPipe = HttpTestSupport.pipeline(model);
        chat = HttpFrontend.start(new PipelineService(chatPipe, "kjv-chat", "kjv-chat"), "127.0.0.1", 0, null);
        plainPipe = HttpTestSupport.pipeline(HttpTestSupport.demoModel());
        plain = HttpFrontend.start(new PipelineService(plainPipe, "kjv", "kjv-demo"), "127.0.0.1", 0, null);
        client = HttpTestSupport.openAi(chat, "unused");
    }

    @AfterAll
    static void stop() {
        client.close();
        chat.close();
        plain.close();
        chatPipe.close();
        plainPipe.close();
    }

    /** The demo model's files (weights linked, not copied) with a chat template in tokenizer_config.json. */
    static Path chatModel(Path to) throws IOException {
        Path from = HttpTestSupport.demoModel();
        Files.createDirectories(to);
        for (String f : List.of("config.json", "generation_config.json", "tokenizer.json")) {
            Files.copy(from.resolve(f), to.resolve(f));
        }
        Files.createSymbolicLink(to.resolve("model.safetensors"), from.resolve("model.safetensors"));
        ObjectNode config = (ObjectNode) HttpTestSupport.JSON.readTree(from.resolve("tokenizer_config.json").toFile());
        config.put("chat_template", ChatTemplateTest.CHATML);
        HttpTestSupport.JSON.writeValue(to.resolve("tokenizer_config.json").toFile(), config);
        return to;
    }

    static ChatCompletionCreateParams.Builder params(long maxTokens) {
        return ChatCompletionCreateParams.builder().model("kjv-chat").addSystemMessage(SYSTEM).addUserMessage(USER)
                .maxCompletionTokens(maxTokens).temperature(0.0);
    }

    static Response greedy(int maxTokens) {
        return chatPipe.generate(RENDERED, GenerationOptions.builder().maxLength(Integer.MAX_VALUE)
                .maxNewTokens(maxTokens).doSample(false).build());
    }

    @Test
    void greedyChatEqualsThePipelineOnTheRenderedPromptWithOneBos() {
        ChatCompletion c = client.chat().completions().create(params(20).build());
        Response expected = greedy(20);
        assertEquals(1, c.choices().size());
        var choice = c.choices().getFirst();
        assertEquals(expected.generatedText(), choice.message().content().orElseThrow());
        assertEquals(expected.finishReason().wireName(), choice.finishReason().asString());
        assertTrue(c.id().startsWith("chatcmpl-"), c.id());
        var usage = c.usage().orElseThrow();
        // One BOS: the template's was dropped because the engine adds its own.
        assertEquals(chatPipe.encode(RENDERED).length, usage.promptTokens());
        assertEquals(chatPipe.tokenizer().encode("<|endoftext|>" + RENDERED, false).length, usage.promptTokens());
        assertEquals(expected.generatedLength(), usage.completionTokens());
    }

    @Test
    void streamedDeltasConcatenateAndEndWithUsage() {
        ChatCompletionCreateParams p = params(24).streamOptions(
                ChatCompletionStreamOptions.builder().includeUsage(true).build()).build();
        StringBuilder text = new StringBuilder();
        List<ChatCompletionChunk> chunks = new ArrayList<>();
        try (StreamResponse<ChatCompletionChunk> stream = client.chat().completions().createStreaming(p)) {
            stream.stream().forEach(chunks::add);
        }
        assertEquals("assistant", chunks.getFirst().choices().getFirst().delta().role().orElseThrow().asString());
        String finish = null;
        for (ChatCompletionChunk chunk : chunks.subList(0, chunks.size() - 1)) {
            var choice = chunk.choices().getFirst();
            choice.delta().content().ifPresent(text::append);
            if (!choice._finishReason().isNull()) {
                finish = choice.finishReason().orElseThrow().asString();
            }
        }
        Response expected = greedy(24);
        assertEquals(expected.generatedText(), text.toString());
        assertEquals(expected.finishReason().wireName(), finish);
        ChatCompletionChunk last = chunks.getLast();
        assertTrue(last.choices().isEmpty());
        assertEquals(expected.generatedLength(), last.usage().orElseThrow().completionTokens());
        assertEquals(chatPipe.encode(RENDERED).length, last.usage().orElseThrow().promptTokens());
    }

    @Test
    void rawObjectsAreOpenAis() throws Exception {
        String body = "{\"messages\": [{\"role\": \"system\", \"content\": \"" + SYSTEM + "\"}, {\"role\": \"user\", "
                + "\"content\": [{\"type\": \"text\", \"text\": \"Tell of\"}, {\"type\": \"text\", \"text\": \"the beginning.\"}]}],"
                + " \"max_tokens\": 6, \"temperature\": 0";
        HttpResponse<String> r = post(chat, "/v1/chat/completions", body + "}");
        assertEquals(200, r.statusCode(), r.body());
        JsonNode o = json(r);
        assertEquals("chat.completion", o.get("object").asText());
        JsonNode message = o.get("choices").get(0).get("message");
        assertEquals("assistant", message.get("role").asText());
        assertTrue(message.get("refusal").isNull());
        // Text parts are joined by a line break.
        String rendered = RENDERED.replace(USER, "Tell of\nthe beginning.");
        assertEquals(chatPipe.generate(rendered, GenerationOptions.builder().maxLength(Integer.MAX_VALUE).maxNewTokens(6)
                .doSample(false).build()).generatedText(), message.get("content").asText());

        r = post(chat, "/v1/chat/completions", body + ", \"stream\": true}");
        List<HttpTestSupport.Event> events = events(r.body());
        assertEquals("chat.completion.chunk", events.getFirst().json().get("object").asText());
        assertEquals("[DONE]", events.getLast().data());
    }

    @Test
    void seededChoicesDiffer() {
        ChatCompletion c = client.chat().completions().create(params(10).temperature(1.0).n(2).seed(7).build());
        assertEquals(2, c.choices().size());
        for (var choice : c.choices()) {
            Response expected = chatPipe.generate(RENDERED, GenerationOptions.builder().maxLength(Integer.MAX_VALUE)
                    .maxNewTokens(10).doSample(true).temperature(1.0).topP(1.0).seed(7L + choice.index()).build());
            assertEquals(expected.generatedText(), choice.message().content().orElseThrow());
        }
    }

    @Test
    void theTemplatesRaiseExceptionIsA400() {
        BadRequestException e = assertThrows(BadRequestException.class, () -> client.chat().completions().create(
                ChatCompletionCreateParams.builder().model("kjv-chat").addUserMessage("a").addUserMessage("b").build()));
        assertTrue(e.getMessage().contains("Conversation roles must alternate"), e.getMessage());
        assertEquals("messages", e.param().orElseThrow());
    }

    @Test
    void aModelWithoutChatTemplateAnswers400SayingSo() throws Exception {
        HttpResponse<String> r = post(plain, "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": \"Hi\"}]}");
        assertEquals(400, r.statusCode());
        assertTrue(json(r).get("error").get("message").asText().contains("no chat template"), r.body());
    }

    @Test
    void unsupportedMessagesAreRejectedByField() throws Exception {
        HttpResponse<String> r = post(chat, "/v1/chat/completions", "{\"messages\": [{\"role\": \"tool\", \"content\": \"x\"}]}");
        assertEquals(400, r.statusCode());
        assertTrue(json(r).get("error").get("message").asText().contains("messages[0].role"), r.body());
        r = post(chat, "/v1/chat/completions", "{\"messages\": [{\"role\": \"user\", \"content\": "
                + "[{\"type\": \"image_url\", \"image_url\": {\"url\": \"x\"}}]}]}");
        assertEquals(400, r.statusCode());
        assertTrue(json(r).get("error").get("message").asText().contains("messages[0].content[0].type"), r.body());
        r = post(chat, "/v1/chat/completions", "{\"messages\": []}");
        assertEquals(400, r.statusCode());
        assertEquals("messages", json(r).get("error").get("param").asText());
    }
}
