package dev.miij.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

class GenerationFlagsTest {

    @Test
    void stopStringsReadShellEscapes() {
        assertEquals("\n\n", GenerationFlags.unescape("\\n\\n"));
        assertEquals("a\tb\r\\", GenerationFlags.unescape("a\\tb\\r\\\\"));
        assertEquals("\u00e9", GenerationFlags.unescape("\\u00e9"));
        assertEquals("\\x \\u12 end\\", GenerationFlags.unescape("\\x \\u12 end\\"));
        assertEquals("plain", GenerationFlags.unescape("plain"));
    }
}
