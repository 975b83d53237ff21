package dev.miij.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.miij.tokenizer.PreTokenizers.PrependScheme;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Behaviour of individual components, on small hand-written tokenizers. */
class ComponentsTest {

    static Tokenizer fromJson(String json) {
        try {
            return TokenizerJson.fromJson(new ObjectMapper().readTree(json), Path.of("inline", "tokenizer.json"),
                    TokenizerConfig.EMPTY);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static List<String> texts(List<Piece> pieces) {
        List<String> out = new ArrayList<>();
        pieces.forEach(p -> out.add(p.text()));
        return out;
    }

    @Test
    void metaspacePrependSchemes() {
        var always = PreTokenizers.metaspace('▁', PrependScheme.ALWAYS, true);
        assertEquals(List.of("▁Hey", "▁", "▁", "▁friend!"),
                texts(PreTokenizers.apply(always, List.of(Piece.text("Hey   friend!", true)))));
        var first = PreTokenizers.metaspace('▁', PrependScheme.FIRST, false);
        assertEquals(List.of("▁Hey▁friend"), texts(PreTokenizers.apply(first, List.of(Piece.text("Hey friend", true)))));
        // Not at the start of the input (it follows an added token): nothing is prepended.
        assertEquals(List.of("how▁are"), texts(PreTokenizers.apply(first, List.of(Piece.text("how are", false)))));
        var never = PreTokenizers.metaspace('▁', PrependScheme.NEVER, true);
        assertEquals(List.of("Hey", "▁friend"), texts(PreTokenizers.apply(never, List.of(Piece.text("Hey friend", true)))));
    }

    @Test
    void metaspaceDecoderDropsReplacementsOfTheFirstTokenOnly() {
        assertEquals(List.of("Hey", " friend!"),
                Decoders.metaspace('▁', true).decodeChain(List.of("▁Hey", "▁friend!")));
        assertEquals(List.of(" Hey", " friend!"),
                Decoders.metaspace('▁', false).decodeChain(List.of("▁Hey", "▁friend!")));
    }

    @Test
    void splitBehaviours() {
        Piece p = Piece.text("the-final--countdown", true);
        assertEquals(List.of("the", "-", "final", "-", "-", "countdown"), split(p, Splitter.Behavior.ISOLATED));
        assertEquals(List.of("the", "final", "countdown"), split(p, Splitter.Behavior.REMOVED));
        assertEquals(List.of("the-", "final-", "-", "countdown"), split(p, Splitter.Behavior.MERGED_WITH_PREVIOUS));
        assertEquals(List.of("the", "-final", "-", "-countdown"), split(p, Splitter.Behavior.MERGED_WITH_NEXT));
        assertEquals(List.of("the", "-", "final", "--", "countdown"), split(p, Splitter.Behavior.CONTIGUOUS));
    }

    private static List<String> split(Piece p, Splitter.Behavior b) {
        List<Piece> out = new ArrayList<>();
        Splitter.split(p, Splitter.findLiteral("-", p.text()), b, out);
        return texts(out);
    }

    @Test
    void wordPieceUsesContinuationPrefix() {
        Tokenizer tok = fromJson("""
                {"normalizer": {"type": "BertNormalizer", "lowercase": true},
                 "pre_tokenizer": {"type": "BertPreTokenizer"},
                 "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": true},
                 "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                           "max_input_chars_per_word": 100,
                           "vocab": {"[UNK]": 0, "un": 1, "##aff": 2, "##able": 3, "a": 4, "!": 5}}}
                """);
        Encoding e = tok.encodeDetailed("Unaffable affable!", false);
        assertEquals(List.of("un", "##aff", "##able", "[UNK]", "!"), e.tokens());
        assertArrayEquals(new int[] {1, 2, 3, 0, 5}, e.ids());
        assertEquals("unaffable [UNK]!", tok.decode(e.ids(), false));
    }

    @Test
    void byteFallbackSpellsUnknownCharactersAsBytes() {
        Tokenizer tok = fromJson(byteFallbackJson());
        Encoding e = tok.encodeDetailed("a日b", false);
        assertEquals(List.of("a", "<0xE6>", "<0x97>", "<0xA5>", "b"), e.tokens());
        assertEquals("a日b", tok.decode(e.ids(), false));
        assertEquals(List.of("日", "a"), Decoders.byteFallback(List.of("<0xE6>", "<0x97>", "<0xA5>", "a")));
        // Bytes that are not valid UTF-8 become one replacement character each.
        assertEquals(List.of("\uFFFD", "\uFFFD", "b"), Decoders.byteFallback(List.of("<0xE6>", "<0x97>", "b")));
    }

    static String byteFallbackJson() {
        StringBuilder vocab = new StringBuilder("{\"<unk>\": 0, \"a\": 1, \"b\": 2");
        for (int b = 0; b < 256; b++) {
            vocab.append(String.format(", \"<0x%02X>\": %d", b, 3 + b));
        }
        vocab.append('}');
        return """
                {"decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, {"type": "Fuse"}]},
                 "model": {"type": "BPE", "unk_token": "<unk>", "byte_fallback": true, "fuse_unk": true,
                           "vocab": %s, "merges": []}}
                """.formatted(vocab);
    }

    @Test
    void addedTokensStripWhitespaceAndRespectWordBoundaries() {
        Tokenizer tok = fromJson("""
                {"pre_tokenizer": {"type": "WhitespaceSplit"},
                 "model": {"type": "WordLevel", "unk_token": "<unk>",
                           "vocab": {"<unk>": 0, "hello": 1, "world": 2, "abc": 3}},
                 "added_tokens": [
                   {"id": 4, "content": "<mask>", "lstrip": true, "rstrip": true, "special": true, "normalized": false},
                   {"id": 5, "content": "<sep>", "lstrip": true, "rstrip": false, "special": true, "normalized": false},
                   {"id": 6, "content": "ab", "single_word": true, "special": false, "normalized": false}]}
                """);
        assertEquals(List.of("hello", " <mask> ", "world"), tok.encodeDetailed("hello <mask> world", false).tokens());
        assertEquals(List.of("hello", "  <sep>", "world"), tok.encodeDetailed("hello  <sep> world", false).tokens());
        assertEquals(List.of("ab", "abc", "<unk>"), tok.encodeDetailed("ab abc xab", false).tokens());
        assertEquals("hello <mask> world", tok.decode(new int[] {1, 4, 2}, false));
        assertEquals("hello world", tok.decode(new int[] {1, 4, 2}, true));
        assertEquals(java.util.OptionalInt.of(4), tok.tokenToId("<mask>"));
        assertEquals(true, tok.isSpecial(4));
        assertEquals(false, tok.isSpecial(6));
        assertEquals(7, tok.vocabSize());
    }

    @Test
    void decoderStripAndWordPieceCleanup() {
        assertEquals(List.of("ab", "b"), Decoders.strip(' ', 1, 0).decodeChain(List.of(" ab", "b")));
        assertEquals(List.of("a", "ya"), Decoders.strip('x', 1, 1).decodeChain(List.of("xax", "yax")));
        assertEquals("I don't know, it's here.", Decoders.cleanup("I do not know , it 's here ."));
    }

    @Test
    void lowercaseIsContextFree() {
        // No final-sigma rule, and the one multi-character mapping.
        assertEquals("σσ i\u0307", Chars.lowercase("ΣΣ İ"));
    }
}
