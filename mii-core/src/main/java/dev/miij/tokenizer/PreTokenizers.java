package dev.miij.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.miij.tokenizer.Splitter.Behavior;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The pre-tokenizers of tokenizer.json: they cut normalized text into the words the model
 * tokenizes one by one. Pieces that are already added tokens are never touched.
 */
final class PreTokenizers {

    /** Splits one ordinary piece, appending its parts (empty parts are dropped by the caller). */
    @FunctionalInterface
    interface PreTokenizer {
        void split(Piece piece, List<Piece> out);
    }

    static final String SUPPORTED = "Sequence, ByteLevel, Split, Metaspace, Whitespace, WhitespaceSplit, "
            + "BertPreTokenizer, Punctuation, Digits, CharDelimiterSplit";

    /** GPT-2's word pattern, used by the ByteLevel pre-tokenizer when use_regex is on. */
    static final String GPT2_PATTERN =
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    private static final Pattern GPT2 = OnigRegex.compile(GPT2_PATTERN, "ByteLevel pre_tokenizer");
    private static final Pattern WHITESPACE_WORDS =
            Pattern.compile("[\\p{IsAlphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{IsJoin_Control}]+"
                    + "|[^\\p{IsAlphabetic}\\p{M}\\p{Nd}\\p{Pc}\\p{IsJoin_Control}\\p{IsWhite_Space}]+");

    private static final String COMPONENT = "pre_tokenizer";

    private PreTokenizers() {}

    /** Runs {@code pre} over every ordinary piece of {@code pieces}. */
    static List<Piece> apply(PreTokenizer pre, List<Piece> pieces) {
        List<Piece> out = new ArrayList<>(pieces.size() * 4);
        List<Piece> parts = new ArrayList<>();
        for (Piece p : pieces) {
            if (p.isAdded()) {
                out.add(p);
                continue;
            }
            parts.clear();
            pre.split(p, parts);
            for (Piece part : parts) {
                if (!part.text().isEmpty()) {
                    out.add(part);
                }
            }
        }
        return out;
    }

    static PreTokenizer fromJson(JsonNode node, JsonCtx ctx) {
        if (node == null || node.isNull()) {
            return null;
        }
        String type = ctx.type(node, COMPONENT);
        return switch (type) {
            case "Sequence" -> {
                JsonNode list = node.get("pretokenizers");
                if (list == null || !list.isArray()) {
                    throw ctx.corrupt("Sequence pre_tokenizer", "\"pretokenizers\" must be a list");
                }
                List<PreTokenizer> parts = new ArrayList<>();
                for (JsonNode child : list) {
                    PreTokenizer p = fromJson(child, ctx);
                    if (p != null) {
                        parts.add(p);
                    }
                }
                yield sequence(parts);
            }
            case "ByteLevel" -> byteLevel(ctx.optBool(node, "add_prefix_space", true),
                    ctx.optBool(node, "use_regex", true));
            case "Split" -> {
                Pattern pattern = ctx.pattern(node, "pattern", "Split pre_tokenizer");
                String literal = JsonCtx.literal(node, "pattern");
                yield split(literal, pattern, behavior(node, ctx, "Split pre_tokenizer", null),
                        ctx.optBool(node, "invert", false));
            }
            case "Metaspace" -> metaspace(ctx.codePoint(node, "replacement", '\u2581', "Metaspace pre_tokenizer"),
                    prependScheme(node, ctx), ctx.optBool(node, "split", true));
            case "Whitespace" -> (p, out) ->
                    Splitter.split(p, invert(Splitter.findRegex(WHITESPACE_WORDS, p.text())), Behavior.REMOVED, out);
            case "WhitespaceSplit" -> (p, out) ->
                    Splitter.split(p, Splitter.findChars(Chars::isWhitespace, p.text()), Behavior.REMOVED, out);
            case "BertPreTokenizer" -> PreTokenizers::bert;
            case "Punctuation" -> {
                Behavior b = behavior(node, ctx, "Punctuation pre_tokenizer", Behavior.ISOLATED);
                yield (p, out) -> Splitter.split(p, Splitter.findChars(Chars::isBertPunctuation, p.text()), b, out);
            }
            case "Digits" -> {
                Behavior b = ctx.optBool(node, "individual_digits", false) ? Behavior.ISOLATED : Behavior.CONTIGUOUS;
                yield (p, out) -> Splitter.split(p, Splitter.findChars(Chars::isNumeric, p.text()), b, out);
            }
            case "CharDelimiterSplit" -> {
                int delimiter = ctx.codePoint(node, "delimiter", -1, "CharDelimiterSplit pre_tokenizer");
                if (delimiter < 0) {
                    throw ctx.corrupt("CharDelimiterSplit pre_tokenizer", "missing \"delimiter\"");
                }
                yield (p, out) -> Splitter.split(p, Splitter.findChars(c -> c == delimiter, p.text()),
                        Behavior.REMOVED, out);
            }
            default -> throw ctx.unsupported(COMPONENT, type, SUPPORTED);
        };
    }

    static PreTokenizer sequence(List<PreTokenizer> parts) {
        PreTokenizer[] array = parts.toArray(PreTokenizer[]::new);
        return (p, out) -> {
            List<Piece> current = List.of(p);
            for (PreTokenizer pre : array) {
                current = apply(pre, current);
            }
            out.addAll(current);
        };
    }

    /**
     * Optionally prefixes a space, cuts at GPT-2's word pattern, then spells every part with the
     * byte-level alphabet.
     */
    static PreTokenizer byteLevel(boolean addPrefixSpace, boolean useRegex) {
        return (p, out) -> {
            Piece piece = p;
            if (addPrefixSpace && !piece.text().startsWith(" ")) {
                piece = piece.withText(" " + piece.text());
            }
            if (!useRegex) {
                out.add(piece.withText(ByteLevel.encode(piece.text())));
                return;
            }
            int from = out.size();
            Splitter.split(piece, Splitter.findRegex(GPT2, piece.text()), Behavior.ISOLATED, out);
            for (int i = from; i < out.size(); i++) {
                out.set(i, out.get(i).withText(ByteLevel.encode(out.get(i).text())));
            }
        };
    }

    static PreTokenizer split(String literal, Pattern pattern, Behavior behavior, boolean invert) {
        return (p, out) -> {
            Splitter.Segments seg = literal != null
                    ? Splitter.findLiteral(literal, p.text())
                    : Splitter.findRegex(pattern, p.text());
            if (invert) {
                seg.invert();
            }
            Splitter.split(p, seg, behavior, out);
        };
    }

    /** How Metaspace decides whether to put a replacement character in front of a piece. */
    enum PrependScheme { ALWAYS, FIRST, NEVER }

    static PrependScheme prependScheme(JsonNode node, JsonCtx ctx) {
        JsonNode scheme = node.get("prepend_scheme");
        if (scheme == null || scheme.isNull()) {
            // Files written before prepend_scheme existed only say add_prefix_space.
            return ctx.optBool(node, "add_prefix_space", true) ? PrependScheme.ALWAYS : PrependScheme.NEVER;
        }
        return switch (scheme.asText()) {
            case "always" -> PrependScheme.ALWAYS;
            case "first" -> PrependScheme.FIRST;
            case "never" -> PrependScheme.NEVER;
            default -> throw ctx.corrupt("Metaspace", "unknown prepend_scheme '" + scheme.asText()
                    + "'; expected always, first or never");
        };
    }

    static PreTokenizer metaspace(int replacement, PrependScheme scheme, boolean split) {
        String rep = Character.toString(replacement);
        return (p, out) -> {
            String s = p.text().replace(" ", rep);
            boolean prepend = switch (scheme) {
                case ALWAYS -> true;
                case FIRST -> p.atStart();
                case NEVER -> false;
            };
            if (prepend && !s.startsWith(rep)) {
                s = rep + s;
            }
            Piece piece = p.withText(s);
            if (split) {
                Splitter.split(piece, Splitter.findLiteral(rep, s), Behavior.MERGED_WITH_NEXT, out);
            } else {
                out.add(piece);
            }
        };
    }

    /** Whitespace removed, then every punctuation character on its own. */
    static void bert(Piece p, List<Piece> out) {
        List<Piece> words = new ArrayList<>();
        Splitter.split(p, Splitter.findChars(Chars::isWhitespace, p.text()), Behavior.REMOVED, words);
        for (Piece w : words) {
            Splitter.split(w, Splitter.findChars(Chars::isBertPunctuation, w.text()), Behavior.ISOLATED, out);
        }
    }

    private static Splitter.Segments invert(Splitter.Segments seg) {
        seg.invert();
        return seg;
    }

    private static Behavior behavior(JsonNode node, JsonCtx ctx, String component, Behavior def) {
        JsonNode b = node.get("behavior");
        if (b == null || b.isNull()) {
            if (def != null) {
                return def;
            }
            throw ctx.corrupt(component, "missing \"behavior\"");
        }
        Behavior parsed = Behavior.fromJson(b.asText());
        if (parsed == null) {
            throw ctx.corrupt(component, "unknown behavior '" + b.asText()
                    + "'; expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous");
        }
        return parsed;
    }
}
