package dev.miij.server.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.fasterxml.jackson.databind.JsonNode;
import dev.miij.tokenizer.TokenizerConfig;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Chat templates written in the idioms of popular models' templates ({@code {{- }}} whitespace control,
 * {@code messages[1:]}, {@code messages[::-1]}, {@code namespace(...)} with expressions, Python string
 * methods, raise_exception) render exactly as Python's jinja2 renders them in transformers. The expected
 * outputs come from src/test/resources/http/make_chat_template_golden.py.
 */
class ChatTemplateGoldenTest {

    static Stream<Arguments> cases() throws IOException {
        JsonNode root;
        try (InputStream in = ChatTemplateGoldenTest.class.getResourceAsStream("/http/chat_template_cases.json")) {
            root = HttpTestSupport.JSON.readTree(in);
        }
        List<Arguments> out = new ArrayList<>();
        int i = 0;
        for (JsonNode c : root.get("cases")) {
            String name = c.get("template").asText();
            out.add(Arguments.of(name + " #" + (i++ % 6), root.get("templates").get(name).asText(), c));
        }
        return out.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("cases")
    void rendersAsPythonsJinja2(String label, String template, JsonNode c) {
        // add_bos_token false: the template's BOS stays, so the whole output is compared.
        ChatTemplate t = ChatTemplate.of(new TokenizerConfig("<s>", "</s>", null, null, false, null, template, null));
        List<Map<String, Object>> messages = OpenAiChat.messages(c.get("messages"));
        if (c.has("error")) {
            HttpError e = assertThrows(HttpError.class, () -> t.render(messages));
            assertEquals(400, e.status());
            assertEquals(c.get("error").asText(), e.getMessage());
        } else {
            assertEquals(c.get("expected").asText(), t.render(messages));
        }
    }
}
