package dev.miij.tokenizer;

import dev.miij.tokenizer.Normalizers.Normalizer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * SentencePiece's compiled normalization rules ("precompiled_charsmap"), used by T5, XLM-R,
 * ALBERT and other SentencePiece models converted to tokenizer.json.
 *
 * <p>The blob is a little-endian u32 trie size, that many bytes of Darts double-array trie over
 * UTF-8 bytes, then NUL-terminated replacement strings the trie's values point into. Like the
 * reference, each extended grapheme cluster shorter than 6 bytes is first looked up as a whole
 * (taking the shortest rule that matches its start), and otherwise each character on its own.
 */
final class Precompiled implements Normalizer {

    private static final Pattern GRAPHEME = Pattern.compile("\\X");

    private final long[] units;
    private final byte[] replacements;

    private Precompiled(long[] units, byte[] replacements) {
        this.units = units;
        this.replacements = replacements;
    }

    /** Parses the base64 charsmap; throws IllegalArgumentException when it is malformed. */
    static Precompiled fromBase64(String base64) {
        byte[] blob = Base64.getDecoder().decode(base64);
        if (blob.length < 4) {
            throw new IllegalArgumentException("precompiled_charsmap is shorter than its header");
        }
        ByteBuffer buf = ByteBuffer.wrap(blob).order(ByteOrder.LITTLE_ENDIAN);
        long trieBytes = Integer.toUnsignedLong(buf.getInt());
        if (trieBytes % 4 != 0 || trieBytes > blob.length - 4L || trieBytes == 0) {
            throw new IllegalArgumentException("precompiled_charsmap declares a trie of " + trieBytes
                    + " bytes in a blob of " + blob.length);
        }
        long[] units = new long[(int) (trieBytes / 4)];
        for (int i = 0; i < units.length; i++) {
            units[i] = Integer.toUnsignedLong(buf.getInt());
        }
        byte[] replacements = new byte[buf.remaining()];
        buf.get(replacements);
        return new Precompiled(units, replacements);
    }

    @Override
    public String normalize(String s) {
        StringBuilder out = new StringBuilder(s.length() + 8);
        Matcher m = GRAPHEME.matcher(s);
        while (m.find()) {
            String g = m.group();
            byte[] bytes = g.getBytes(StandardCharsets.UTF_8);
            if (bytes.length < 6) {
                String whole = replacement(bytes);
                if (whole != null) {
                    out.append(whole);
                    continue;
                }
            }
            for (int i = 0; i < g.length(); ) {
                int c = g.codePointAt(i);
                String r = replacement(Character.toString(c).getBytes(StandardCharsets.UTF_8));
                if (r != null) {
                    out.append(r);
                } else {
                    out.appendCodePoint(c);
                }
                i += Character.charCount(c);
            }
        }
        return out.toString();
    }

    /** The replacement of the shortest rule matching a prefix of {@code key}, or null. */
    private String replacement(byte[] key) {
        int value = firstPrefixValue(key);
        if (value < 0 || value >= replacements.length) {
            return value < 0 ? null : "";
        }
        int end = value;
        while (end < replacements.length && replacements[end] != 0) {
            end++;
        }
        return new String(replacements, value, end - value, StandardCharsets.UTF_8);
    }

    private int firstPrefixValue(byte[] key) {
        int pos = (int) offset(units[0]);
        for (byte b : key) {
            int c = b & 0xFF;
            if (c == 0) {
                break;
            }
            pos ^= c;
            if (pos < 0 || pos >= units.length) {
                return -1;
            }
            long unit = units[pos];
            if ((unit & ((1L << 31) | 0xFF)) != c) {
                return -1;
            }
            pos ^= (int) offset(unit);
            if (((unit >>> 8) & 1) == 1) {
                return pos >= 0 && pos < units.length ? (int) (units[pos] & ((1L << 31) - 1)) : -1;
            }
        }
        return -1;
    }

    private static long offset(long unit) {
        return (unit >>> 10) << ((unit & (1L << 9)) >>> 6);
    }
}
