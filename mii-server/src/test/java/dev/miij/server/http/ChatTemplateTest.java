package dev.miij.server.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.tokenizer.TokenizerConfig;
import java.time.Year;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Rendering of Hugging Face chat templates, as transformers' apply_chat_template does. */
class ChatTemplateTest {

    /** ChatML, laid out as HF templates are: block tags on their own lines, whitespace control on each. */
    static final String CHATML = """
            {{- bos_token }}
            {%- for message in messages %}
                {%- if message['role'] == 'user' and loop.index0 > 0 and messages[loop.index0 - 1]['role'] == 'user' %}
                    {{- raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}
                {%- endif %}
                {{- '<|im_start|>' + message['role'] + '\\n' + message['content'] | trim + '<|im_end|>' + '\\n' }}
            {%- endfor %}
            {%- if add_generation_prompt %}
                {{- '<|im_start|>assistant\\n' }}
            {%- endif %}
            """;

    static TokenizerConfig config(String template, Boolean addBos) {
        return new TokenizerConfig("<s>", "</s>", null, null, addBos, null, template, null);
    }

    static List<Map<String, Object>> messages(String... roleContent) {
        List<Map<String, Object>> out = new java.util.ArrayList<>();
        for (int i = 0; i < roleContent.length; i += 2) {
            out.add(Map.of("role", roleContent[i], "content", roleContent[i + 1]));
        }
        return out;
    }

    @Test
    void rendersLikeTransformersAndLeavesTheBosToTheEngine() {
        String out = ChatTemplate.of(config(CHATML, true)).render(messages("system", "Be brief.", "user", "Hi"));
        assertEquals("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", out);
    }

    @Test
    void keepsTheBosOfTokenizersThatAddNone() {
        String out = ChatTemplate.of(config(CHATML, false)).render(messages("user", "Hi"));
        assertEquals("<s><|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", out);
    }

    @Test
    void raiseExceptionIsTheClientsMistake() {
        HttpError e = assertThrows(HttpError.class,
                () -> ChatTemplate.of(config(CHATML, true)).render(messages("user", "a", "user", "b")));
        assertEquals(400, e.status());
        assertEquals("messages", e.param());
        assertEquals("Conversation roles must alternate user/assistant/user/assistant/...", e.getMessage());
        // The thread is clean for the next request.
        assertTrue(ChatTemplate.of(config(CHATML, true)).render(messages("user", "a")).endsWith("assistant\n"));
    }

    @Test
    void aBrokenTemplateIsTheServersFault() {
        HttpError e = assertThrows(HttpError.class,
                () -> ChatTemplate.of(config("{% for m in messages %}{{ m.content }}", true)).render(messages("user", "a")));
        assertEquals(500, e.status());
        assertTrue(e.getMessage().contains("chat template"), e.getMessage());
    }

    @Test
    void providesStrftimeNowAndTheSpecialTokens() {
        String template = "{{ strftime_now('%Y') }}|{{ eos_token }}|{{ messages[0].name }}";
        String out = ChatTemplate.of(config(template, true))
                .render(List.of(Map.of("role", "user", "content", "x", "name", "ann")));
        assertEquals(Year.now().getValue() + "|</s>|ann", out);
        // Llama 3.1's date line; "now" changes, its shape does not.
        String date = ChatTemplate.strftimeNow("%d %b %Y, 100%%");
        assertTrue(date.matches("\\d\\d [A-Z][a-z]{2} \\d{4}, 100%"), date);
    }

    @Test
    void noTemplateMeansNone() {
        assertNull(ChatTemplate.of(config(null, true)));
        assertNull(ChatTemplate.of(config("  ", true)));
    }
}
