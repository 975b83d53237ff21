package dev.miij.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class ByteLevelTest {

    @Test
    void printableBytesStandForThemselvesAndTheRestMoveAbove255() {
        assertEquals('A', ByteLevel.byteChar('A'));
        assertEquals('~', ByteLevel.byteChar('~'));
        assertEquals('\u0120', ByteLevel.byteChar(' '));  // Ġ
        assertEquals('\u010A', ByteLevel.byteChar('\n')); // Ċ
        assertEquals('\u0100', ByteLevel.byteChar(0));
        assertEquals('\u00A1', ByteLevel.byteChar(0xA1));
        assertEquals('\u0143', ByteLevel.byteChar(0xAD)); // soft hyphen is not printable
    }

    @Test
    void mappingIsABijectionOverAllBytes() {
        Set<Character> seen = new HashSet<>();
        for (int b = 0; b < 256; b++) {
            char c = ByteLevel.byteChar(b);
            assertTrue(seen.add(c), "duplicate character for byte " + b);
            assertEquals(b, ByteLevel.charByte(c));
        }
        assertEquals(-1, ByteLevel.charByte('\u0200'));
        assertEquals(-1, ByteLevel.charByte(' '));
    }

    @Test
    void encodesUtf8BytesOfEmojiAndCjk() {
        assertEquals("ĠðŁĺĢ", ByteLevel.encode(" 😀"));
        assertEquals("æĹ¥æľ¬", ByteLevel.encode("日本"));
        assertEquals("cafÃ©", ByteLevel.encode("café"));
    }

    @Test
    void decoderJoinsBytesAcrossTokensBeforeDecodingUtf8() {
        assertEquals(List.of(" 😀 日本"), Decoders.byteLevel(List.of("ĠðŁĺ", "Ģ", "Ġæ", "Ĺ¥", "æľ¬")));
        // A token with characters outside the alphabet stands for its own UTF-8 bytes.
        assertEquals(List.of("a<|im_end|>b"), Decoders.byteLevel(List.of("a", "<|im_end|>", "b")));
    }

    @Test
    void lossyDecodingFollowsRustReplacementRules() {
        // Truncated sequence: one U+FFFD for the valid prefix.
        assertEquals("\uFFFDa", decode(0xE6, 0x97, 'a'));
        assertEquals("\uFFFD", decode(0xF0, 0x9F, 0x98));
        // An encoded surrogate is three bad bytes, not one.
        assertEquals("\uFFFD\uFFFD\uFFFD", decode(0xED, 0xA0, 0x80));
        // Overlong encodings and bytes that never start a sequence.
        assertEquals("\uFFFD\uFFFD", decode(0xC0, 0x80));
        assertEquals("\uFFFDx", decode(0xFF, 'x'));
        assertEquals("\uFFFD\uFFFD", decode(0xE0, 0x80));
        assertEquals("😀", decode(0xF0, 0x9F, 0x98, 0x80));
    }

    @Test
    void validity() {
        assertTrue(ByteLevel.isValidUtf8(bytes(0xE6, 0x97, 0xA5), 0, 3));
        assertFalse(ByteLevel.isValidUtf8(bytes(0xE6, 0x97), 0, 2));
        assertFalse(ByteLevel.isValidUtf8(bytes(0xF4, 0x90, 0x80, 0x80), 0, 4)); // above U+10FFFF
    }

    private static String decode(int... values) {
        byte[] b = bytes(values);
        return ByteLevel.decodeLossy(b, 0, b.length);
    }

    private static byte[] bytes(int... values) {
        byte[] b = new byte[values.length];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) values[i];
        }
        return b;
    }
}
