package dev.miij.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The normalizers of tokenizer.json. Normalization runs on each stretch of text between added
 * tokens, before pre-tokenization. Only the text matters here: offsets into the original input
 * are not tracked, because MII-J never needs them.
 */
final class Normalizers {

    /** Rewrites a piece of input text. */
    @FunctionalInterface
    interface Normalizer {
        String normalize(String s);
    }

    static final String SUPPORTED = "Sequence, NFC, NFD, NFKC, NFKD, Lowercase, Strip, StripAccents, Replace, "
            + "Prepend, BertNormalizer, Nmt, ByteLevel, Precompiled";

    private static final String COMPONENT = "normalizer";

    private Normalizers() {}

    /** Builds the normalizer described by {@code node}; null for JSON null. */
    static Normalizer fromJson(JsonNode node, JsonCtx ctx) {
        if (node == null || node.isNull()) {
            return null;
        }
        String type = ctx.type(node, COMPONENT);
        return switch (type) {
            case "Sequence" -> {
                JsonNode list = node.get("normalizers");
                if (list == null || !list.isArray()) {
                    throw ctx.corrupt("Sequence normalizer", "\"normalizers\" must be a list");
                }
                List<Normalizer> parts = new ArrayList<>();
                for (JsonNode child : list) {
                    Normalizer n = fromJson(child, ctx);
                    if (n != null) {
                        parts.add(n);
                    }
                }
                yield sequence(parts);
            }
            case "NFC" -> s -> Chars.normalize(s, java.text.Normalizer.Form.NFC);
            case "NFD" -> s -> Chars.normalize(s, java.text.Normalizer.Form.NFD);
            case "NFKC" -> s -> Chars.normalize(s, java.text.Normalizer.Form.NFKC);
            case "NFKD" -> s -> Chars.normalize(s, java.text.Normalizer.Form.NFKD);
            case "Lowercase" -> Chars::lowercase;
            case "Strip" -> strip(ctx.optBool(node, "strip_left", true), ctx.optBool(node, "strip_right", true));
            case "StripAccents" -> s -> filter(s, c -> !Chars.isMark(c));
            case "Replace" -> replace(ctx.pattern(node, "pattern", "Replace normalizer"),
                    ctx.string(node, "content", "Replace normalizer"));
            case "Prepend" -> {
                String prefix = ctx.string(node, "prepend", "Prepend normalizer");
                yield s -> s.isEmpty() ? s : prefix + s;
            }
            case "BertNormalizer" -> bert(ctx.optBool(node, "clean_text", true),
                    ctx.optBool(node, "handle_chinese_chars", true),
                    node.hasNonNull("strip_accents") ? node.get("strip_accents").asBoolean() : null,
                    ctx.optBool(node, "lowercase", true));
            case "Nmt" -> Normalizers::nmt;
            case "ByteLevel" -> ByteLevel::encode;
            case "Precompiled" -> {
                String charsmap = ctx.optString(node, "precompiled_charsmap", "");
                if (charsmap.isEmpty()) {
                    yield s -> s;
                }
                try {
                    yield Precompiled.fromBase64(charsmap);
                } catch (IllegalArgumentException e) {
                    throw ctx.corrupt("Precompiled normalizer", e.getMessage());
                }
            }
            default -> throw ctx.unsupported(COMPONENT, type, SUPPORTED);
        };
    }

    static Normalizer sequence(List<Normalizer> parts) {
        Normalizer[] array = parts.toArray(Normalizer[]::new);
        return s -> {
            for (Normalizer n : array) {
                s = n.normalize(s);
            }
            return s;
        };
    }

    static Normalizer strip(boolean left, boolean right) {
        return s -> {
            int from = 0;
            int to = s.length();
            while (left && from < to && Chars.isWhitespace(s.codePointAt(from))) {
                from += Character.charCount(s.codePointAt(from));
            }
            while (right && to > from && Chars.isWhitespace(s.codePointBefore(to))) {
                to -= Character.charCount(s.codePointBefore(to));
            }
            return s.substring(from, to);
        };
    }

    static Normalizer replace(Pattern pattern, String content) {
        String replacement = Matcher.quoteReplacement(content);
        return s -> pattern.matcher(s).replaceAll(replacement);
    }

    /**
     * BERT's normalizer: drop control characters and turn whitespace into spaces, put spaces
     * around CJK ideographs, strip accents (by default whenever lowercasing), lowercase.
     */
    static Normalizer bert(boolean cleanText, boolean handleChinese, Boolean stripAccents, boolean lowercase) {
        boolean strip = stripAccents != null ? stripAccents : lowercase;
        return s -> {
            if (cleanText) {
                StringBuilder b = new StringBuilder(s.length());
                s.codePoints().forEach(c -> {
                    if (c == 0 || c == 0xFFFD || Chars.isBertControl(c)) {
                        return;
                    }
                    b.appendCodePoint(c == '\t' || c == '\n' || c == '\r' || Chars.isWhitespace(c) ? ' ' : c);
                });
                s = b.toString();
            }
            if (handleChinese) {
                StringBuilder b = new StringBuilder(s.length() + 8);
                s.codePoints().forEach(c -> {
                    if (Chars.isChineseChar(c)) {
                        b.append(' ').appendCodePoint(c).append(' ');
                    } else {
                        b.appendCodePoint(c);
                    }
                });
                s = b.toString();
            }
            if (strip) {
                s = filter(Chars.normalize(s, java.text.Normalizer.Form.NFD),
                        c -> !Chars.isNonSpacingMark(c));
            }
            if (lowercase) {
                s = Chars.lowercase(s);
            }
            return s;
        };
    }

    /** The NMT normalizer of SentencePiece: drops ASCII controls, maps other spacing to ' '. */
    static String nmt(String s) {
        StringBuilder b = new StringBuilder(s.length());
        s.codePoints().forEach(c -> {
            if ((c >= 1 && c <= 8) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || c == 0x8F || c == 0x9F) {
                return;
            }
            boolean space = c == 0x09 || c == 0x0A || c == 0x0C || c == 0x0D || c == 0x1680
                    || (c >= 0x200B && c <= 0x200F) || c == 0x2028 || c == 0x2029 || c == 0x2581
                    || c == 0xFEFF || c == 0xFFFD;
            b.appendCodePoint(space ? ' ' : c);
        });
        return b.toString();
    }

    static String filter(String s, java.util.function.IntPredicate keep) {
        StringBuilder b = new StringBuilder(s.length());
        s.codePoints().filter(keep).forEach(b::appendCodePoint);
        return b.toString();
    }
}
