package dev.miij.server.http;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/** The shared JSON mapper, and strict decoding of request bodies. */
final class Json {

    /**
     * Trailing tokens after the document are an error, so {@code {"a":1} junk} is not silently accepted;
     * floats stay doubles and big integers stay exact, so range checks see the value the client sent.
     */
    static final ObjectMapper MAPPER = new ObjectMapper(com.fasterxml.jackson.core.JsonFactory.builder()
            // Bounds a hostile body's cost: deep nesting recurses, and huge numbers parse slowly.
            .streamReadConstraints(com.fasterxml.jackson.core.StreamReadConstraints.builder()
                    .maxNestingDepth(HttpLimits.MAX_JSON_DEPTH)
                    .maxStringLength(HttpLimits.MAX_JSON_STRING)
                    .maxNumberLength(100)
                    .build())
            .build())
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS);

    private Json() {
    }

    /** Decodes a request body that must be one JSON object, in UTF-8. */
    static ObjectNode parseObject(byte[] body) {
        String text;
        try {
            // Replacing bad bytes with U+FFFD would change prompts behind the client's back: reject instead.
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(body)).toString();
        } catch (CharacterCodingException e) {
            throw HttpError.badRequest(null, "the request body is not valid UTF-8");
        }
        if (text.isBlank()) {
            throw HttpError.badRequest(null, "the request body is empty; expected a JSON object");
        }
        JsonNode node;
        try {
            node = MAPPER.readTree(text);
        } catch (JsonProcessingException e) {
            throw HttpError.badRequest(null, "the request body is not valid JSON: " + e.getOriginalMessage());
        }
        if (!(node instanceof ObjectNode object)) {
            throw HttpError.badRequest(null, "the request body must be a JSON object, got " + kind(node));
        }
        checkText(object, "");
        return object;
    }

    /**
     * Rejects a lone UTF-16 surrogate anywhere in the document (a JSON escape like {@code "\ud800"} decodes
     * to one): it encodes no character, and passing it on would turn it into '?' behind the client's back.
     */
    static void checkText(JsonNode node, String path) {
        if (node.isTextual()) {
            int at = loneSurrogate(node.textValue());
            if (at >= 0) {
                String where = path.isEmpty() ? "the request" : path;
                throw HttpError.badRequest(path.isEmpty() ? null : path, where + " has a lone UTF-16 surrogate (\\u"
                        + Integer.toHexString(node.textValue().charAt(at)) + ") at index " + at
                        + "; send well-formed Unicode text");
            }
        } else if (node.isArray()) {
            for (int i = 0; i < node.size(); i++) {
                checkText(node.get(i), path + "[" + i + "]");
            }
        } else if (node.isObject()) {
            for (var e : node.properties()) {
                if (loneSurrogate(e.getKey()) >= 0) {
                    throw HttpError.badRequest(null, "a field name has a lone UTF-16 surrogate; send well-formed Unicode text");
                }
                checkText(e.getValue(), path.isEmpty() ? e.getKey() : path + "." + e.getKey());
            }
        }
    }

    /** The index of the first unpaired surrogate in {@code s}, or -1. */
    static int loneSurrogate(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c)) {
                if (i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                    i++;
                    continue;
                }
                return i;
            }
            if (Character.isLowSurrogate(c)) {
                return i;
            }
        }
        return -1;
    }

    static String write(JsonNode node) {
        try {
            return MAPPER.writeValueAsString(node);
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** How a value reads in an error message: its JSON type, and short values themselves. */
    static String kind(JsonNode v) {
        if (v == null || v.isNull()) {
            return "null";
        }
        if (v.isTextual()) {
            String s = v.asText();
            return "the string \"" + (s.length() > 40 ? s.substring(0, 40) + "..." : s) + "\"";
        }
        if (v.isArray()) {
            return "an array";
        }
        if (v.isObject()) {
            return "an object";
        }
        String s = v.toString();
        return s.length() > 40 ? s.substring(0, 40) + "..." : s;
    }
}
