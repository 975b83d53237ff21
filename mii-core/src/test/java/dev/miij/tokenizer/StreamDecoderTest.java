package dev.miij.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class StreamDecoderTest {

    private static List<String> pushAll(Tokenizer tok, int[] ids, boolean skip) {
        StreamDecoder stream = tok.newStreamDecoder(skip);
        List<String> out = new ArrayList<>();
        for (int id : ids) {
            String piece = stream.push(id);
            assertFalse(piece.contains("\uFFFD"), "emitted an incomplete character: " + out + " + " + piece);
            out.add(piece);
        }
        out.add(stream.flush());
        return out;
    }

    @Test
    void holdsByteFallbackTokensUntilTheCharacterIsComplete() {
        Tokenizer tok = ComponentsTest.fromJson(ComponentsTest.byteFallbackJson());
        int[] ids = tok.encode("a日b", false);
        assertEquals(List.of("a", "", "", "日", "b", ""), pushAll(tok, ids, false));
    }

    @Test
    void flushReturnsWhatCanNeverBeCompleted() {
        Tokenizer tok = ComponentsTest.fromJson(ComponentsTest.byteFallbackJson());
        int e6 = tok.tokenToId("<0xE6>").orElseThrow();
        StreamDecoder stream = tok.newStreamDecoder(false);
        assertEquals("a", stream.push(tok.tokenToId("a").orElseThrow()));
        assertEquals("", stream.push(e6));
        assertEquals("\uFFFD", stream.flush());
    }

    @Test
    void emojiAndCjkSplitAcrossByteLevelTokens() {
        Path gpt2 = TestData.tokenizer("gpt2").resolve("tokenizer.json");
        assumeTrue(Files.isRegularFile(gpt2), "GPT-2 tokenizer not fetched");
        Tokenizer tok = Tokenizer.fromFile(gpt2);
        int[] ids = tok.encode("😀 日本語", false);
        assertEquals(9, ids.length);
        assertEquals(List.of("", "😀", "", "", " 日", "", "本", "", "語", ""), pushAll(tok, ids, false));
    }

    @Test
    void leadingSpaceAndSpecialTokensMatchFullDecoding() {
        Path llama2 = TestData.tokenizer("llama2").resolve("tokenizer.json");
        assumeTrue(Files.isRegularFile(llama2), "Llama-2 tokenizer not fetched");
        Tokenizer tok = Tokenizer.fromFile(llama2);
        int[] ids = tok.encode("𝔾x Hello 👨‍👩‍👧 world", true);
        for (boolean skip : new boolean[] {false, true}) {
            assertEquals(tok.decode(ids, skip), String.join("", pushAll(tok, ids, skip)));
        }
    }
}
