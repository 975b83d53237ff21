package dev.miij.tokenizer;

import java.nio.charset.StandardCharsets;

/**
 * GPT-2's reversible byte-to-character mapping, and UTF-8 decoding with Rust's replacement rules.
 *
 * <p>Byte-level BPE vocabularies spell every byte as a printable character: printable Latin-1
 * bytes stand for themselves and the rest are moved to U+0100 and up, so that a token never
 * contains whitespace or control characters.
 */
final class ByteLevel {

    private static final char[] BYTE_TO_CHAR = new char[256];
    private static final int[] CHAR_TO_BYTE = new int[512];

    static {
        java.util.Arrays.fill(CHAR_TO_BYTE, -1);
        int next = 256;
        for (int b = 0; b < 256; b++) {
            boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            char c = printable ? (char) b : (char) next++;
            BYTE_TO_CHAR[b] = c;
            CHAR_TO_BYTE[c] = b;
        }
    }

    private ByteLevel() {}

    static char byteChar(int b) {
        return BYTE_TO_CHAR[b & 0xFF];
    }

    /** The byte a mapped character stands for, or -1 if it is not one of the 256. */
    static int charByte(int c) {
        return c >= 0 && c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c] : -1;
    }

    /** Spells the UTF-8 bytes of {@code s} with one mapped character each. */
    static String encode(String s) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        char[] out = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            out[i] = BYTE_TO_CHAR[bytes[i] & 0xFF];
        }
        return new String(out);
    }

    /**
     * Appends the bytes a token stands for. A token with any character outside the mapping (an
     * added token such as "<|im_start|>" written in plain text) contributes its own UTF-8 bytes.
     */
    static void appendBytes(String token, ByteSink sink) {
        int n = token.length();
        for (int i = 0; i < n; i++) {
            if (charByte(token.charAt(i)) < 0) {
                sink.add(token.getBytes(StandardCharsets.UTF_8));
                return;
            }
        }
        for (int i = 0; i < n; i++) {
            sink.add((byte) CHAR_TO_BYTE[token.charAt(i)]);
        }
    }

    /** A growable byte buffer. */
    static final class ByteSink {
        private byte[] buf = new byte[64];
        private int size;

        void add(byte b) {
            if (size == buf.length) {
                buf = java.util.Arrays.copyOf(buf, size * 2);
            }
            buf[size++] = b;
        }

        void add(byte[] bytes) {
            for (byte b : bytes) {
                add(b);
            }
        }

        int size() {
            return size;
        }

        void clear() {
            size = 0;
        }

        String decodeLossy() {
            return ByteLevel.decodeLossy(buf, 0, size);
        }

        boolean isValidUtf8() {
            return ByteLevel.isValidUtf8(buf, 0, size);
        }
    }

    static boolean isValidUtf8(byte[] b, int from, int to) {
        for (int i = from; i < to; ) {
            int len = validSequenceLength(b, i, to);
            if (len <= 0) {
                return false;
            }
            i += len;
        }
        return true;
    }

    /**
     * Decodes UTF-8 the way Rust's {@code String::from_utf8_lossy} does: each maximal prefix of a
     * valid sequence that is cut short becomes a single U+FFFD, and every other bad byte its own.
     * Java's decoder groups some invalid bytes differently (for instance an encoded surrogate), so
     * it cannot be used where the output must match byte for byte.
     */
    static String decodeLossy(byte[] b, int from, int to) {
        StringBuilder out = new StringBuilder(to - from);
        int i = from;
        while (i < to) {
            int b0 = b[i] & 0xFF;
            if (b0 < 0x80) {
                out.append((char) b0);
                i++;
                continue;
            }
            int len = validSequenceLength(b, i, to);
            if (len > 0) {
                out.append(new String(b, i, len, StandardCharsets.UTF_8));
                i += len;
            } else {
                out.append('\uFFFD');
                i += Math.max(1, -len);
            }
        }
        return out.toString();
    }

    /**
     * Length of the valid UTF-8 sequence at {@code i}, or minus the number of bytes that form the
     * longest valid-looking prefix (at least 1) when the sequence is invalid or truncated.
     */
    private static int validSequenceLength(byte[] b, int i, int to) {
        int b0 = b[i] & 0xFF;
        if (b0 < 0x80) {
            return 1;
        }
        int need;
        int lo = 0x80;
        int hi = 0xBF;
        if (b0 >= 0xC2 && b0 <= 0xDF) {
            need = 1;
        } else if (b0 >= 0xE0 && b0 <= 0xEF) {
            need = 2;
            if (b0 == 0xE0) {
                lo = 0xA0;
            } else if (b0 == 0xED) {
                hi = 0x9F;
            }
        } else if (b0 >= 0xF0 && b0 <= 0xF4) {
            need = 3;
            if (b0 == 0xF0) {
                lo = 0x90;
            } else if (b0 == 0xF4) {
                hi = 0x8F;
            }
        } else {
            return -1;
        }
        int j = 1;
        while (j <= need) {
            if (i + j >= to) {
                return -j;
            }
            int bj = b[i + j] & 0xFF;
            boolean ok = j == 1 ? (bj >= lo && bj <= hi) : (bj >= 0x80 && bj <= 0xBF);
            if (!ok) {
                return -j;
            }
            j++;
        }
        return need + 1;
    }
}
