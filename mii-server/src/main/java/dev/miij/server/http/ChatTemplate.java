package dev.miij.server.http;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.interpret.RenderResult;
import com.hubspot.jinjava.interpret.TemplateError;
import com.hubspot.jinjava.lib.fn.ELFunctionDefinition;
import dev.miij.tokenizer.TokenizerConfig;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.logging.Logger;

/**
 * A model's chat template (tokenizer_config.json's Jinja {@code chat_template}), rendered as
 * transformers' {@code apply_chat_template(messages, add_generation_prompt=True)} does: the same
 * variables, {@code trim_blocks} and {@code lstrip_blocks}, and the helper functions templates call.
 */
final class ChatTemplate {

    private static final Logger LOG = Logger.getLogger(ChatTemplate.class.getName());

    /** The message of the template's {@code raise_exception(...)} call during the current render. */
    private static final ThreadLocal<String> RAISED = new ThreadLocal<>();

    private final String source;
    private final TokenizerConfig config;
    private final Jinjava jinjava;

    private ChatTemplate(String source, TokenizerConfig config) {
        this.source = JinjaDialect.rewrite(source);
        this.config = config;
        this.jinjava = JinjaDialect.newJinjava();
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "raise_exception",
                ChatTemplate.class, "raiseException", String.class));
        jinjava.getGlobalContext().registerFunction(new ELFunctionDefinition("", "strftime_now",
                ChatTemplate.class, "strftimeNow", String.class));
    }

    /** The model's template, or null when its tokenizer_config.json has none. */
    static ChatTemplate of(TokenizerConfig config) {
        String source = config.chatTemplate();
        return source == null || source.isBlank() ? null : new ChatTemplate(source, config);
    }

    /**
     * Renders a conversation ({@code role}, {@code content} and optional {@code name} per message) into
     * the prompt text. A {@code raise_exception} in the template (e.g. roles that do not alternate) is
     * the client's mistake, a 400; any other template failure is the model's, a 500.
     */
    String render(List<Map<String, Object>> messages) {
        Map<String, Object> context = new HashMap<>();
        context.put("messages", messages);
        context.put("add_generation_prompt", true);
        context.put("bos_token", nullToEmpty(config.bosToken()));
        context.put("eos_token", nullToEmpty(config.eosToken()));
        context.put("pad_token", nullToEmpty(config.padToken()));
        context.put("unk_token", nullToEmpty(config.unkToken()));
        RAISED.remove();
        RenderResult result = null;
        RuntimeException thrown = null;
        try {
            result = jinjava.renderForResult(source, context);
        } catch (RuntimeException e) {
            thrown = e;
        }
        String raised = RAISED.get();
        RAISED.remove();
        if (raised != null) {
            // Rendering goes on after the call; the first message is the one the template meant.
            throw HttpError.badRequest("messages", raised);
        }
        if (thrown != null) {
            throw failure(thrown.getMessage());
        }
        for (TemplateError error : result.getErrors()) {
            if (error.getSeverity() == TemplateError.ErrorType.FATAL) {
                throw failure(error.getMessage());
            }
        }
        return stripBos(result.getOutput());
    }

    /**
     * The engine adds the BOS token itself when it encodes a prompt, and many templates start with
     * {@code {{ bos_token }}}: keeping both would give the model two BOS tokens, which transformers
     * avoids by encoding chat prompts without special tokens. Tokenizers that say they add no BOS keep
     * the template's.
     */
    private String stripBos(String text) {
        String bos = config.bosToken();
        if (bos != null && !bos.isEmpty() && !Boolean.FALSE.equals(config.addBosToken()) && text.startsWith(bos)) {
            return text.substring(bos.length());
        }
        return text;
    }

    private static HttpError failure(String message) {
        LOG.warning("chat template failed: " + message);
        return new HttpError(500, null, "chat_template_error", "the model's chat template failed: " + message);
    }

    private static String nullToEmpty(String s) {
        return s == null ? "" : s;
    }

    /** transformers' {@code raise_exception}: ends the render with the template's message. */
    public static String raiseException(String message) {
        if (RAISED.get() == null) {
            RAISED.set(message == null ? "the chat template rejected the messages" : message);
        }
        throw new IllegalArgumentException(message);
    }

    /** transformers' {@code strftime_now}: the local time in a Python strftime format (Llama 3.1 uses it). */
    public static String strftimeNow(String format) {
        ZonedDateTime now = ZonedDateTime.now();
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < format.length(); i++) {
            char c = format.charAt(i);
            if (c != '%' || i + 1 == format.length()) {
                out.append(c);
                continue;
            }
            char d = format.charAt(++i);
            String pattern = switch (d) {
                case 'd' -> "dd";
                case 'm' -> "MM";
                case 'Y' -> "yyyy";
                case 'y' -> "yy";
                case 'b' -> "MMM";
                case 'B' -> "MMMM";
                case 'a' -> "EEE";
                case 'A' -> "EEEE";
                case 'H' -> "HH";
                case 'I' -> "hh";
                case 'M' -> "mm";
                case 'S' -> "ss";
                case 'p' -> "a";
                case 'j' -> "DDD";
                default -> null;
            };
            if (d == '%') {
                out.append('%');
            } else if (pattern == null) {
                out.append('%').append(d);
            } else {
                out.append(DateTimeFormatter.ofPattern(pattern, Locale.ENGLISH).format(now));
            }
        }
        return out.toString();
    }
}
