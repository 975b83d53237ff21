package dev.miij.server.http;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.miij.Response;
import dev.miij.TokenLogprob;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** Pieces of OpenAI's response objects shared by completions and chat completions. */
final class OpenAiJson {

    private OpenAiJson() {
    }

    /** The fields every completion object and chunk starts with, in OpenAI's order. */
    static ObjectNode header(String id, long created, String model, String object) {
        ObjectNode o = Json.MAPPER.createObjectNode();
        o.put("id", id);
        o.put("object", object);
        o.put("created", created);
        o.put("model", model);
        return o;
    }

    static ObjectNode usage(int promptTokens, int completionTokens) {
        ObjectNode u = Json.MAPPER.createObjectNode();
        u.put("prompt_tokens", promptTokens);
        u.put("completion_tokens", completionTokens);
        u.put("total_tokens", promptTokens + completionTokens);
        return u;
    }

    /**
     * OpenAI's finish reasons are MII's wire names: "stop" (end of sequence or a stop string) and
     * "length". A cancelled request only reaches a client while the server shuts down; it reads
     * "cancelled".
     */
    static String finishReason(Response r) {
        return r.finishReason().wireName();
    }

    /** vLLM's stand-in for a log-probability of minus infinity, which JSON cannot carry. */
    static final float FLOOR = -9999.0f;

    private static float clamp(float logprob) {
        return Math.max(logprob, FLOOR);
    }

    /**
     * The completions API's {@code logprobs} object for some tokens, as vLLM writes it: {@code tokens},
     * {@code token_logprobs}, {@code top_logprobs} (per token, the chosen token then the
     * {@code logprobs} most likely, keyed by text, so n or n + 1 entries) and {@code text_offset}
     * (code points from the start of the choice's text, beginning at {@code textOffset}).
     */
    static ObjectNode completionLogprobs(List<TokenLogprob> logprobs, int textOffset) {
        ObjectNode o = Json.MAPPER.createObjectNode();
        ArrayNode offsets = o.putArray("text_offset");
        ArrayNode tokenLogprobs = o.putArray("token_logprobs");
        ArrayNode tokens = o.putArray("tokens");
        ArrayNode tops = o.putArray("top_logprobs");
        int offset = textOffset;
        for (TokenLogprob t : logprobs) {
            offsets.add(offset);
            offset += t.token().codePointCount(0, t.token().length());
            tokenLogprobs.add(clamp(t.logprob()));
            tokens.add(t.token());
            ObjectNode top = tops.addObject();
            top.put(t.token(), clamp(t.logprob()));
            for (TokenLogprob.Alternative a : t.top()) {
                if (!top.has(a.token())) {
                    top.put(a.token(), clamp(a.logprob()));
                }
            }
        }
        return o;
    }

    /** Code points the tokens of {@code logprobs} cover: where the next piece's text_offset starts. */
    static int textLength(List<TokenLogprob> logprobs) {
        int n = 0;
        for (TokenLogprob t : logprobs) {
            n += t.token().codePointCount(0, t.token().length());
        }
        return n;
    }

    /**
     * The chat API's {@code logprobs} object: {@code content}, one entry per token with its text,
     * log-probability, UTF-8 bytes and its {@code top_logprobs} (the {@code top} most likely tokens).
     */
    static ObjectNode chatLogprobs(List<TokenLogprob> logprobs, int top) {
        ObjectNode o = Json.MAPPER.createObjectNode();
        ArrayNode content = o.putArray("content");
        for (TokenLogprob t : logprobs) {
            ObjectNode entry = logprob(content.addObject(), t.token(), t.logprob());
            ArrayNode alternatives = entry.putArray("top_logprobs");
            for (int k = 0; k < Math.min(top, t.top().size()); k++) {
                TokenLogprob.Alternative a = t.top().get(k);
                logprob(alternatives.addObject(), a.token(), a.logprob());
            }
        }
        return o;
    }

    private static ObjectNode logprob(ObjectNode o, String token, float logprob) {
        o.put("token", token);
        o.put("logprob", clamp(logprob));
        ArrayNode bytes = o.putArray("bytes");
        for (byte b : token.getBytes(StandardCharsets.UTF_8)) {
            bytes.add(b & 0xFF);
        }
        return o;
    }
}
