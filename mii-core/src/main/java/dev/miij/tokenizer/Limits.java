package dev.miij.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.miij.MiiException;

/**
 * The "truncation" and "padding" sections of tokenizer.json. Some files (sentence-transformers
 * models, for instance) ship with both enabled, and the reference applies them on every encode;
 * so does {@link Tokenizer#encode}, unless the caller turns them off.
 */
final class Limits {

    private Limits() {}

    /** Truncation of a single sequence. */
    record Truncation(int maxLength, boolean fromLeft, boolean onlySecond) {

        static Truncation fromJson(JsonNode node, JsonCtx ctx) {
            if (node == null || node.isNull()) {
                return null;
            }
            String component = "truncation";
            int max = ctx.optInt(node, "max_length", 512, component);
            String direction = ctx.optString(node, "direction", "Right");
            String strategy = ctx.optString(node, "strategy", "LongestFirst");
            if (!direction.equals("Right") && !direction.equals("Left")) {
                throw ctx.corrupt(component, "unknown direction '" + direction + "'");
            }
            if (!strategy.equals("LongestFirst") && !strategy.equals("OnlyFirst") && !strategy.equals("OnlySecond")) {
                throw ctx.corrupt(component, "unknown strategy '" + strategy + "'");
            }
            return new Truncation(max, direction.equals("Left"), strategy.equals("OnlySecond"));
        }

        /** Cuts {@code seq} so that, with {@code added} special tokens to come, it fits max_length. */
        TokenSeq apply(TokenSeq seq, int added) {
            if (maxLength < added) {
                throw MiiException.invalid("truncation max_length " + maxLength + " leaves no room for the "
                        + added + " special tokens of the post-processor");
            }
            int max = maxLength - added;
            if (max == 0) {
                return seq.keep(0, fromLeft);
            }
            if (seq.size() <= max) {
                return seq;
            }
            if (onlySecond) {
                throw MiiException.invalid("truncation strategy OnlySecond needs a pair of sequences");
            }
            return seq.keep(max, fromLeft);
        }
    }

    /** Padding of a single sequence to a fixed length, or to a multiple of some length. */
    record Padding(int fixedLength, int multipleOf, boolean left, int padId, String padToken) {

        static Padding fromJson(JsonNode node, JsonCtx ctx) {
            if (node == null || node.isNull()) {
                return null;
            }
            String component = "padding";
            JsonNode strategy = node.get("strategy");
            int fixed = -1;
            if (strategy != null && strategy.isObject() && strategy.has("Fixed")) {
                fixed = strategy.get("Fixed").asInt();
            } else if (strategy != null && !strategy.isNull() && !"BatchLongest".equals(strategy.asText())) {
                throw ctx.corrupt(component, "unknown strategy " + JsonCtx.describe(strategy));
            }
            return new Padding(fixed, ctx.optInt(node, "pad_to_multiple_of", 0, component),
                    "Left".equals(ctx.optString(node, "direction", "Right")),
                    ctx.optInt(node, "pad_id", 0, component), ctx.optString(node, "pad_token", "[PAD]"));
        }

        TokenSeq apply(TokenSeq seq) {
            // A batch of one is its own longest member, so BatchLongest only rounds up.
            int length = fixedLength >= 0 ? fixedLength : seq.size();
            if (multipleOf > 0 && length % multipleOf != 0) {
                length += multipleOf - length % multipleOf;
            }
            return seq.pad(length, padId, padToken, left);
        }
    }
}
