package dev.miij.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.miij.MiiException;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The settings of a tokenizer_config.json that matter to inference: the special tokens by role,
 * whether BOS/EOS are added, the chat template and the maximum length.
 *
 * @param bosToken beginning-of-sequence token text, or null
 * @param eosToken end-of-sequence token text, or null
 * @param padToken padding token text, or null
 * @param unkToken unknown token text, or null
 * @param addBosToken whether a BOS token is added when encoding; null when the file does not say
 * @param addEosToken whether an EOS token is added when encoding; null when the file does not say
 * @param chatTemplate the Jinja chat template (the "default" one when the file has several), or null
 * @param modelMaxLength the longest input the model accepts, or null when the file does not say;
 *     the huge placeholder values some files use are clamped to {@link Long#MAX_VALUE}
 */
public record TokenizerConfig(String bosToken, String eosToken, String padToken, String unkToken, Boolean addBosToken,
        Boolean addEosToken, String chatTemplate, Long modelMaxLength) {

    /** A configuration that states nothing, for tokenizers without tokenizer_config.json. */
    public static final TokenizerConfig EMPTY = new TokenizerConfig(null, null, null, null, null, null, null, null);

    /** Reads tokenizer_config.json. */
    public static TokenizerConfig fromFile(Path file) {
        return fromJson(read(file), file);
    }

    /** The parsed tokenizer_config.json, checked to be a JSON object. */
    static JsonNode read(Path file) {
        JsonNode root;
        try {
            root = new ObjectMapper().readTree(Files.readString(file));
        } catch (IOException e) {
            throw MiiException.corrupt("cannot read tokenizer config " + file + ": " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw MiiException.corrupt("tokenizer config " + file + " is not a JSON object");
        }
        return root;
    }

    static TokenizerConfig fromJson(JsonNode root, Path file) {
        return new TokenizerConfig(token(root, "bos_token"), token(root, "eos_token"), token(root, "pad_token"),
                token(root, "unk_token"), bool(root, "add_bos_token"), bool(root, "add_eos_token"),
                chatTemplate(root, file), maxLength(root));
    }

    /** A special token given as "text" or as {"content": "text", ...}. */
    private static String token(JsonNode root, String field) {
        JsonNode v = root.get(field);
        if (v == null || v.isNull()) {
            return null;
        }
        if (v.isObject()) {
            JsonNode content = v.get("content");
            return content == null || content.isNull() ? null : content.asText();
        }
        return v.asText();
    }

    private static Boolean bool(JsonNode root, String field) {
        JsonNode v = root.get(field);
        return v == null || v.isNull() ? null : v.asBoolean();
    }

    private static String chatTemplate(JsonNode root, Path file) {
        JsonNode v = root.get("chat_template");
        if (v == null || v.isNull()) {
            return null;
        }
        if (v.isTextual()) {
            return v.asText();
        }
        if (v.isArray()) {
            // Several named templates: the one called "default" is the chat template proper.
            for (JsonNode entry : v) {
                if ("default".equals(entry.path("name").asText(null))) {
                    return entry.path("template").asText(null);
                }
            }
            return null;
        }
        throw MiiException.corrupt("chat_template in " + file + " must be a string or a list of {name, template}");
    }

    private static Long maxLength(JsonNode root) {
        JsonNode v = root.get("model_max_length");
        if (v == null || !v.isNumber()) {
            return null;
        }
        if (v.isIntegralNumber()) {
            BigInteger big = v.bigIntegerValue();
            return big.bitLength() < 64 ? big.longValue() : Long.MAX_VALUE;
        }
        double d = v.asDouble();
        return d >= Long.MAX_VALUE ? Long.MAX_VALUE : (long) d;
    }
}
