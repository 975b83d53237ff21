package dev.miij.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.miij.MiiException;
import java.nio.file.Path;
import java.util.regex.Pattern;

/**
 * Typed access to the fields of tokenizer.json, with errors that name the file and the component
 * at fault, so that a user with a broken or exotic tokenizer knows exactly what to look at.
 */
final class JsonCtx {

    private final Path file;

    JsonCtx(Path file) {
        this.file = file;
    }

    Path file() {
        return file;
    }

    MiiException unsupported(String component, String type, String supported) {
        return MiiException.unsupported("unsupported " + component + " type '" + type + "' in " + file
                + "; supported: " + supported);
    }

    MiiException unsupportedFeature(String component, String what) {
        return MiiException.unsupported("unsupported " + component + " in " + file + ": " + what);
    }

    MiiException corrupt(String component, String problem) {
        return MiiException.corrupt("invalid " + component + " in " + file + ": " + problem);
    }

    /** The "type" field of a component object. */
    String type(JsonNode node, String component) {
        if (node == null || !node.isObject()) {
            throw corrupt(component, "expected an object, found " + describe(node));
        }
        JsonNode t = node.get("type");
        if (t == null || !t.isTextual()) {
            throw corrupt(component, "missing \"type\"");
        }
        return t.asText();
    }

    String string(JsonNode node, String field, String component) {
        JsonNode v = node.get(field);
        if (v == null || !v.isTextual()) {
            throw corrupt(component, "\"" + field + "\" must be a string, found " + describe(v));
        }
        return v.asText();
    }

    /** An optional string; JSON null and absence both give {@code def}. */
    String optString(JsonNode node, String field, String def) {
        JsonNode v = node.get(field);
        return v == null || v.isNull() ? def : v.asText();
    }

    boolean optBool(JsonNode node, String field, boolean def) {
        JsonNode v = node.get(field);
        return v == null || v.isNull() ? def : v.asBoolean();
    }

    int optInt(JsonNode node, String field, int def, String component) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            return def;
        }
        if (!v.canConvertToInt()) {
            throw corrupt(component, "\"" + field + "\" must be an integer, found " + describe(v));
        }
        return v.asInt();
    }

    /** A single character field such as Metaspace's "replacement". */
    int codePoint(JsonNode node, String field, int def, String component) {
        JsonNode v = node.get(field);
        if (v == null || v.isNull()) {
            return def;
        }
        String s = v.asText();
        if (s.isEmpty() || s.codePointCount(0, s.length()) != 1) {
            throw corrupt(component, "\"" + field + "\" must be a single character, found \"" + s + "\"");
        }
        return s.codePointAt(0);
    }

    /** A {"String": "..."} or {"Regex": "..."} pattern, compiled to a Java regex. */
    Pattern pattern(JsonNode node, String field, String component) {
        JsonNode p = node.get(field);
        if (p == null || !p.isObject()) {
            throw corrupt(component, "\"" + field + "\" must be {\"String\": ...} or {\"Regex\": ...}");
        }
        if (p.has("String")) {
            return Pattern.compile(Pattern.quote(p.get("String").asText()));
        }
        if (p.has("Regex")) {
            try {
                return OnigRegex.compile(p.get("Regex").asText(), component);
            } catch (IllegalArgumentException e) {
                throw MiiException.unsupported(e.getMessage() + " (in " + file + ")");
            }
        }
        throw corrupt(component, "\"" + field + "\" must be {\"String\": ...} or {\"Regex\": ...}");
    }

    /** The literal of a {"String": "..."} pattern, or null for a regex pattern. */
    static String literal(JsonNode node, String field) {
        JsonNode p = node.get(field);
        return p != null && p.has("String") ? p.get("String").asText() : null;
    }

    static String describe(JsonNode v) {
        if (v == null) {
            return "nothing";
        }
        String s = v.toString();
        return s.length() > 60 ? s.substring(0, 60) + "..." : s;
    }
}
