package dev.miij.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.miij.MiiException;
import java.util.Arrays;
import java.util.Objects;

/**
 * The sampling defaults a model ships in {@code generation_config.json}. Boxed fields are
 * {@code null} when the file does not state them, so callers can tell "absent" from a value.
 *
 * <pre>{@code
 * GenerationConfig gc = ModelFolder.open(dir).generationConfig();
 * double temperature = gc.temperature() != null ? gc.temperature() : 1.0;
 * boolean stop = gc.isEos(token);
 * }</pre>
 *
 * @param eosTokenIds token ids that end generation; empty when none is stated ({@code eos_token_id}
 *     may be one int or a list)
 */
public record GenerationConfig(
        int[] eosTokenIds,
        Integer bosTokenId,
        Integer padTokenId,
        Integer maxLength,
        Integer maxNewTokens,
        Boolean doSample,
        Double temperature,
        Double topP,
        Integer topK) {

    /** A configuration stating nothing. */
    public static final GenerationConfig EMPTY = new GenerationConfig(new int[0], null, null, null, null, null, null, null, null);

    public GenerationConfig {
        eosTokenIds = eosTokenIds == null ? new int[0] : eosTokenIds.clone();
    }

    @Override
    public int[] eosTokenIds() {
        return eosTokenIds.clone();
    }

    /** Whether {@code token} is one of the end-of-sequence ids. */
    public boolean isEos(int token) {
        for (int id : eosTokenIds) {
            if (id == token) {
                return true;
            }
        }
        return false;
    }

    /**
     * Reads the fields MII-J uses from a {@code generation_config.json} (or {@code config.json})
     * tree; other fields are ignored. {@code source} names the file in error messages.
     */
    public static GenerationConfig fromJson(JsonNode json, String source) {
        Reader r = new Reader(json, source);
        return new GenerationConfig(
                r.intList("eos_token_id"),
                r.integer("bos_token_id"),
                r.integer("pad_token_id"),
                r.integer("max_length"),
                r.integer("max_new_tokens"),
                r.bool("do_sample"),
                r.number("temperature"),
                r.number("top_p"),
                r.integer("top_k"));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GenerationConfig g && Arrays.equals(eosTokenIds, g.eosTokenIds)
                && Objects.equals(bosTokenId, g.bosTokenId) && Objects.equals(padTokenId, g.padTokenId)
                && Objects.equals(maxLength, g.maxLength) && Objects.equals(maxNewTokens, g.maxNewTokens)
                && Objects.equals(doSample, g.doSample) && Objects.equals(temperature, g.temperature)
                && Objects.equals(topP, g.topP) && Objects.equals(topK, g.topK);
    }

    @Override
    public int hashCode() {
        return Objects.hash(Arrays.hashCode(eosTokenIds), bosTokenId, padTokenId, maxLength, maxNewTokens, doSample,
                temperature, topP, topK);
    }

    @Override
    public String toString() {
        return "GenerationConfig[eos=" + Arrays.toString(eosTokenIds) + ", bos=" + bosTokenId + ", pad=" + padTokenId
                + ", maxLength=" + maxLength + ", maxNewTokens=" + maxNewTokens + ", doSample=" + doSample
                + ", temperature=" + temperature + ", topP=" + topP + ", topK=" + topK + "]";
    }

    /** Typed field access where JSON null and absence both mean "not stated" and a wrong type is CORRUPT. */
    private record Reader(JsonNode json, String source) {

        private JsonNode field(String name) {
            JsonNode v = json.get(name);
            return v == null || v.isNull() ? null : v;
        }

        private MiiException wrongType(String name, String expected) {
            return MiiException.corrupt(name + " in " + source + " must be " + expected + ", found " + json.get(name));
        }

        Integer integer(String name) {
            JsonNode v = field(name);
            if (v == null) {
                return null;
            }
            if (!v.isIntegralNumber() || !v.canConvertToInt()) {
                throw wrongType(name, "an integer");
            }
            return v.intValue();
        }

        Double number(String name) {
            JsonNode v = field(name);
            if (v == null) {
                return null;
            }
            if (!v.isNumber()) {
                throw wrongType(name, "a number");
            }
            return v.doubleValue();
        }

        Boolean bool(String name) {
            JsonNode v = field(name);
            if (v == null) {
                return null;
            }
            if (!v.isBoolean()) {
                throw wrongType(name, "true or false");
            }
            return v.booleanValue();
        }

        int[] intList(String name) {
            JsonNode v = field(name);
            if (v == null) {
                return new int[0];
            }
            if (v.isIntegralNumber() && v.canConvertToInt()) {
                return new int[] {v.intValue()};
            }
            if (!v.isArray()) {
                throw wrongType(name, "an integer or a list of integers");
            }
            int[] out = new int[v.size()];
            for (int i = 0; i < out.length; i++) {
                JsonNode e = v.get(i);
                if (!e.isIntegralNumber() || !e.canConvertToInt()) {
                    throw wrongType(name, "an integer or a list of integers");
                }
                out[i] = e.intValue();
            }
            return out;
        }
    }
}
