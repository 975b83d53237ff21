package dev.miij.server.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Typed reads of a request object's fields. Every failure is a 400 whose message and {@code param}
 * name the field, and the fields read are remembered so that whatever is left can be rejected as
 * unknown: a misspelt option must not be silently ignored.
 */
final class Fields {

    private final ObjectNode node;
    private final Set<String> read = new HashSet<>();

    Fields(ObjectNode node) {
        this.node = node;
    }

    /** The field's value, or null when absent or JSON null (OpenAI treats both as "not given"). */
    JsonNode raw(String key) {
        read.add(key);
        JsonNode v = node.get(key);
        return v == null || v.isNull() ? null : v;
    }

    String string(String key) {
        JsonNode v = raw(key);
        if (v == null) {
            return null;
        }
        if (!v.isTextual()) {
            throw wrongType(key, "a string", v);
        }
        return v.asText();
    }

    Boolean bool(String key) {
        JsonNode v = raw(key);
        if (v == null) {
            return null;
        }
        if (!v.isBoolean()) {
            throw wrongType(key, "true or false", v);
        }
        return v.asBoolean();
    }

    boolean bool(String key, boolean orElse) {
        Boolean b = bool(key);
        return b == null ? orElse : b;
    }

    /** An integer in [min, max]; 10.0 counts as 10, as in Python's json and MII. */
    Long integer(String key, long min, long max) {
        JsonNode v = raw(key);
        if (v == null) {
            return null;
        }
        long value;
        if (v.isIntegralNumber() && v.canConvertToLong()) {
            value = v.asLong();
        } else if (v.isIntegralNumber()) {
            throw HttpError.badRequest(key, key + " is out of range: " + Json.kind(v));
        } else if (v.isFloatingPointNumber() && v.asDouble() == Math.rint(v.asDouble())
                && Math.abs(v.asDouble()) < 9.0e15) {
            value = (long) v.asDouble();
        } else {
            throw wrongType(key, "an integer", v);
        }
        if (value < min || value > max) {
            throw HttpError.badRequest(key, key + " must be " + (max == Long.MAX_VALUE ? "at least " + min
                    : "between " + min + " and " + max) + ", got " + value);
        }
        return value;
    }

    /** A finite number in [min, max]. */
    Double number(String key, double min, double max) {
        JsonNode v = raw(key);
        if (v == null) {
            return null;
        }
        if (!v.isNumber() || !Double.isFinite(v.asDouble())) {
            throw wrongType(key, "a number", v);
        }
        double d = v.asDouble();
        if (d < min || d > max) {
            throw HttpError.badRequest(key, key + " must be between " + min + " and " + max + ", got " + d);
        }
        return d;
    }

    /** A string or a list of strings (OpenAI's {@code stop}, MII's {@code prompts}); null when absent. */
    List<String> strings(String key) {
        JsonNode v = raw(key);
        if (v == null) {
            return null;
        }
        if (v.isTextual()) {
            return List.of(v.asText());
        }
        if (!v.isArray()) {
            throw wrongType(key, "a string or a list of strings", v);
        }
        List<String> out = new ArrayList<>();
        for (int i = 0; i < v.size(); i++) {
            if (!v.get(i).isTextual()) {
                throw HttpError.badRequest(key, key + "[" + i + "] must be a string, got " + Json.kind(v.get(i)));
            }
            out.add(v.get(i).asText());
        }
        return out;
    }

    /**
     * OpenAI parameters MII-J does not implement are accepted only at their neutral value (what the
     * client would get by leaving them out), so that clients that always send defaults keep working
     * and no client believes a penalty or logit bias was applied when it was not.
     */
    void neutral(String key) {
        JsonNode v = raw(key);
        if (v == null) {
            return;
        }
        boolean isNeutral = (v.isNumber() && v.asDouble() == 0) || (v.isBoolean() && !v.asBoolean())
                || (v.isContainerNode() && v.isEmpty());
        if (!isNeutral) {
            throw HttpError.badRequest(key, key + " is not supported by this server (got " + Json.kind(v) + ")");
        }
    }

    /** Fields accepted and ignored because they do not change the output (e.g. OpenAI's {@code user}). */
    void ignore(String... keys) {
        read.addAll(List.of(keys));
    }

    /** Fields not read so far, as plain Java values (numbers, strings, booleans, lists, maps). */
    Map<String, Object> rest() {
        Map<String, Object> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            if (!read.contains(e.getKey())) {
                out.put(e.getKey(), Json.MAPPER.convertValue(e.getValue(), Object.class));
            }
        }
        return out;
    }

    /** Rejects the first field that no reader asked for. */
    void rejectUnknown() {
        for (Map.Entry<String, JsonNode> e : node.properties()) {
            String key = e.getKey();
            if (!read.contains(key)) {
                throw HttpError.badRequest(key, "unknown field '" + key + "'");
            }
        }
    }

    static HttpError wrongType(String key, String expected, JsonNode got) {
        return HttpError.badRequest(key, key + " must be " + expected + ", got " + Json.kind(got));
    }
}
