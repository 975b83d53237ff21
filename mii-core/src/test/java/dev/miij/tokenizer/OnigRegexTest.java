package dev.miij.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/** Expected splits below come from Hugging Face tokenizers (Oniguruma) on the same inputs. */
class OnigRegexTest {

    private static final String LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    @Test
    void whitespaceClassIsUnicodeWhiteSpace() {
        Pattern s = OnigRegex.compile("\\s", "test");
        for (char c : new char[] {' ', '\t', '\n', '\u000B', '\u0085', '\u00A0', '\u2009', '\u3000', '\u2028'}) {
            assertTrue(s.matcher(String.valueOf(c)).matches(), "\\s should match U+" + Integer.toHexString(c));
        }
        for (char c : new char[] {'\u200B', 'a', '\uFEFF', '\u180E'}) {
            assertFalse(s.matcher(String.valueOf(c)).matches(), "\\s should not match U+" + Integer.toHexString(c));
        }
        assertTrue(OnigRegex.compile("[^\\s]", "test").matcher("\u200B").matches());
        assertFalse(OnigRegex.compile("[^\\s]", "test").matcher("\u00A0").matches());
    }

    @Test
    void rubySpecificsAreRewritten() {
        assertTrue(OnigRegex.compile("\\h+", "test").matcher("09afAF").matches());
        assertFalse(OnigRegex.compile("\\h", "test").matcher(" ").matches());
        assertTrue(OnigRegex.compile("(?m:a.b)", "test").matcher("a\nb").matches());
        assertTrue(OnigRegex.compile("^b", "test").matcher("a\nb").find());
        assertTrue(OnigRegex.compile("\\p{Han}+", "test").matcher("日本").matches());
        assertTrue(OnigRegex.compile("[[:alpha:]]+", "test").matcher("aé").matches());
        assertThrows(IllegalArgumentException.class, () -> OnigRegex.compile("a\\Kb", "test"));
    }

    @Test
    void caseInsensitiveContractionsFoldLongS() {
        assertEquals(List.of("He", "'S", " DON", "'ſ", " ", "123", "456", "7", " x"), split(LLAMA3, "He'S DON'ſ 1234567 x"));
    }

    @Test
    void llama3PatternMatchesOniguruma() {
        assertEquals(List.of("a", "\u00A0", "\u00A0b", "\u0085", "\u0085c"), split(LLAMA3, "a\u00A0\u00A0b\u0085\u0085c"));
        assertEquals(List.of("  \n\n", " ", " x", "  "), split(LLAMA3, "  \n\n  x  "));
        assertEquals(List.of("😀😃", " 👍🏽", "abc"), split(LLAMA3, "😀😃 👍🏽abc"));
        assertEquals(List.of("é", " (", "decomposed", ")", " 日本語", "。"), split(LLAMA3, "é (decomposed) 日本語。"));
        assertEquals(List.of("tab", "\t", "\tend", "\r\n"), split(LLAMA3, "tab\t\tend\r\n"));
    }

    @Test
    void wordClassesAndBoundariesFollowOniguruma() {
        // Outside a bracket class \w includes Latin-1 superscripts and fractions; inside one it does not.
        assertEquals(List.of("c²E", "'²½…", "x"), split("\\s+|\\w+|[^\\w\\s]+", "c²E'²½…x"));
        // Word boundaries are Unicode-aware.
        assertEquals(List.of("文World ", "world", " ", "HELLO"), split("(?i)hello|\\bworld\\b", "文World world HELLO"));
        // POSIX punct covers symbols too.
        assertEquals(List.of("1", ">", "é", "™(", "x"), split("[[:alpha:]]+|[[:punct:]]+", "1>é™(x"));
    }

    private static List<String> split(String onig, String text) {
        Splitter.Segments seg = Splitter.findRegex(OnigRegex.compile(onig, "test"), text);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < seg.size; i++) {
            out.add(text.substring(seg.start[i], seg.end[i]));
        }
        return out;
    }
}
