package dev.miij.server.http;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.miij.Response;

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
}
