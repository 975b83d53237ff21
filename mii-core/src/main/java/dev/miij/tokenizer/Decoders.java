package dev.miij.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The decoders of tokenizer.json. Each one rewrites the list of token strings; chained in a
 * Sequence, and finally concatenated, they turn tokens back into text.
 */
final class Decoders {

    /** Rewrites a list of token strings. */
    @FunctionalInterface
    interface Decoder {
        List<String> decodeChain(List<String> tokens);
    }

    static final String SUPPORTED = "Sequence, ByteLevel, ByteFallback, Fuse, Strip, Replace, Metaspace, "
            + "WordPiece, BPEDecoder, CTC";

    private static final String COMPONENT = "decoder";

    private Decoders() {}

    /** Decodes tokens to text; without a decoder, tokens are joined with spaces. */
    static String decode(Decoder decoder, List<String> tokens) {
        if (decoder == null) {
            return String.join(" ", tokens);
        }
        return String.join("", decoder.decodeChain(tokens));
    }

    static Decoder fromJson(JsonNode node, JsonCtx ctx) {
        if (node == null || node.isNull()) {
            return null;
        }
        String type = ctx.type(node, COMPONENT);
        return switch (type) {
            case "Sequence" -> {
                JsonNode list = node.get("decoders");
                if (list == null || !list.isArray()) {
                    throw ctx.corrupt("Sequence decoder", "\"decoders\" must be a list");
                }
                List<Decoder> parts = new ArrayList<>();
                for (JsonNode child : list) {
                    Decoder d = fromJson(child, ctx);
                    if (d != null) {
                        parts.add(d);
                    }
                }
                Decoder[] array = parts.toArray(Decoder[]::new);
                yield tokens -> {
                    for (Decoder d : array) {
                        tokens = d.decodeChain(tokens);
                    }
                    return tokens;
                };
            }
            case "ByteLevel" -> Decoders::byteLevel;
            case "ByteFallback" -> Decoders::byteFallback;
            case "Fuse" -> tokens -> List.of(String.join("", tokens));
            case "Strip" -> strip(ctx.codePoint(node, "content", ' ', "Strip decoder"),
                    ctx.optInt(node, "start", 0, "Strip decoder"), ctx.optInt(node, "stop", 0, "Strip decoder"));
            case "Replace" -> replace(ctx.pattern(node, "pattern", "Replace decoder"),
                    ctx.string(node, "content", "Replace decoder"));
            case "Metaspace" -> metaspace(ctx.codePoint(node, "replacement", '\u2581', "Metaspace decoder"),
                    PreTokenizers.prependScheme(node, ctx) != PreTokenizers.PrependScheme.NEVER);
            case "WordPiece" -> wordPiece(ctx.optString(node, "prefix", "##"), ctx.optBool(node, "cleanup", true));
            case "BPEDecoder" -> bpe(ctx.optString(node, "suffix", "</w>"));
            case "CTC" -> ctc(ctx.optString(node, "pad_token", "<pad>"),
                    ctx.optString(node, "word_delimiter_token", "|"), ctx.optBool(node, "cleanup", true));
            default -> throw ctx.unsupported(COMPONENT, type, SUPPORTED);
        };
    }

    /** Maps byte-level characters back to bytes and decodes all tokens as one UTF-8 string. */
    static List<String> byteLevel(List<String> tokens) {
        ByteLevel.ByteSink sink = new ByteLevel.ByteSink();
        for (String t : tokens) {
            ByteLevel.appendBytes(t, sink);
        }
        return List.of(sink.decodeLossy());
    }

    /**
     * Turns runs of "<0xAB>" tokens into the text they spell. A run that is not valid UTF-8
     * becomes one U+FFFD per byte, as the reference does.
     */
    static List<String> byteFallback(List<String> tokens) {
        List<String> out = new ArrayList<>(tokens.size());
        ByteLevel.ByteSink bytes = new ByteLevel.ByteSink();
        for (String t : tokens) {
            int b = byteToken(t);
            if (b >= 0) {
                bytes.add((byte) b);
                continue;
            }
            flushBytes(bytes, out);
            out.add(t);
        }
        flushBytes(bytes, out);
        return out;
    }

    private static void flushBytes(ByteLevel.ByteSink bytes, List<String> out) {
        if (bytes.size() == 0) {
            return;
        }
        if (bytes.isValidUtf8()) {
            out.add(bytes.decodeLossy());
        } else {
            for (int i = 0; i < bytes.size(); i++) {
                out.add("\uFFFD");
            }
        }
        bytes.clear();
    }

    /** The byte a "<0xAB>" token stands for, or -1. */
    static int byteToken(String t) {
        if (t.length() != 6 || !t.startsWith("<0x") || t.charAt(5) != '>') {
            return -1;
        }
        String hex = t.substring(3, 5);
        if (hex.charAt(0) == '+') {
            // Rust's integer parsing accepts a leading plus sign.
            hex = hex.substring(1);
        }
        for (int i = 0; i < hex.length(); i++) {
            if (Character.digit(hex.charAt(i), 16) < 0) {
                return -1;
            }
        }
        return Integer.parseInt(hex, 16);
    }

    /** Removes up to {@code start} leading and {@code stop} trailing {@code content} characters per token. */
    static Decoder strip(int content, int start, int stop) {
        return tokens -> {
            List<String> out = new ArrayList<>(tokens.size());
            for (String t : tokens) {
                int[] cps = t.codePoints().toArray();
                int from = 0;
                while (from < start && from < cps.length && cps[from] == content) {
                    from++;
                }
                int to = cps.length;
                for (int i = 0; i < stop && to > 0 && cps[to - 1] == content; i++) {
                    to--;
                }
                out.add(from >= to ? "" : new String(cps, from, to - from));
            }
            return out;
        };
    }

    static Decoder replace(Pattern pattern, String content) {
        String replacement = Matcher.quoteReplacement(content);
        return tokens -> {
            List<String> out = new ArrayList<>(tokens.size());
            for (String t : tokens) {
                out.add(pattern.matcher(t).replaceAll(replacement));
            }
            return out;
        };
    }

    /**
     * Replacement characters become spaces, except in the first token when a prefix was
     * prepended at encoding time: those are dropped.
     */
    static Decoder metaspace(int replacement, boolean prepended) {
        String rep = Character.toString(replacement);
        return tokens -> {
            List<String> out = new ArrayList<>(tokens.size());
            for (int i = 0; i < tokens.size(); i++) {
                out.add(tokens.get(i).replace(rep, i == 0 && prepended ? "" : " "));
            }
            return out;
        };
    }

    static Decoder wordPiece(String prefix, boolean cleanup) {
        return tokens -> {
            List<String> out = new ArrayList<>(tokens.size());
            for (int i = 0; i < tokens.size(); i++) {
                String t = tokens.get(i);
                if (i != 0) {
                    t = t.startsWith(prefix) ? t.substring(prefix.length()) : " " + t;
                }
                out.add(cleanup ? cleanup(t) : t);
            }
            return out;
        };
    }

    /** Undoes the spaces that BERT-style tokenization puts before punctuation and contractions. */
    static String cleanup(String s) {
        return s.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",")
                .replace(" ' ", "'").replace(" n't", "n't").replace(" 'm", "'m").replace(" do not", " don't")
                .replace(" 's", "'s").replace(" 've", "'ve").replace(" 're", "'re");
    }

    static Decoder bpe(String suffix) {
        return tokens -> {
            List<String> out = new ArrayList<>(tokens.size());
            for (int i = 0; i < tokens.size(); i++) {
                out.add(tokens.get(i).replace(suffix, i == tokens.size() - 1 ? "" : " "));
            }
            return out;
        };
    }

    static Decoder ctc(String padToken, String wordDelimiter, boolean cleanup) {
        return tokens -> {
            List<String> out = new ArrayList<>(tokens.size());
            String previous = null;
            for (String t : tokens) {
                if (t.equals(previous)) {
                    continue;
                }
                previous = t;
                String r = t.replace(padToken, "");
                if (cleanup) {
                    r = cleanup(r).replace(wordDelimiter, " ");
                }
                if (!r.isEmpty()) {
                    out.add(r);
                }
            }
            return out;
        };
    }
}
