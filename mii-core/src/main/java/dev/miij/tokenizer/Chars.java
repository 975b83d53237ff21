package dev.miij.tokenizer;

/**
 * Character predicates with the semantics of the Rust standard library and crates that Hugging
 * Face {@code tokenizers} is built on. Java's own predicates ({@link Character#isWhitespace},
 * {@code \s}) disagree with them on characters such as U+00A0 and U+0085, which would change token
 * boundaries, so every component asks here instead.
 */
final class Chars {

    private Chars() {}

    /** Rust {@code char::is_whitespace}: the Unicode White_Space property. */
    static boolean isWhitespace(int c) {
        if (c < 0x80) {
            return c == ' ' || (c >= 9 && c <= 13);
        }
        return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A)
                || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
    }

    /** Rust {@code char::is_numeric}: general categories Nd, Nl and No. */
    static boolean isNumeric(int c) {
        int t = Character.getType(c);
        return t == Character.DECIMAL_DIGIT_NUMBER || t == Character.LETTER_NUMBER || t == Character.OTHER_NUMBER;
    }

    /** Rust {@code regex} {@code \w}: Alphabetic, marks, decimal digits, connector punctuation, Join_Control. */
    static boolean isWordChar(int c) {
        if (c < 0x80) {
            return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        }
        if (Character.isAlphabetic(c) || c == 0x200C || c == 0x200D) {
            return true;
        }
        int t = Character.getType(c);
        return t == Character.NON_SPACING_MARK || t == Character.COMBINING_SPACING_MARK
                || t == Character.ENCLOSING_MARK || t == Character.DECIMAL_DIGIT_NUMBER
                || t == Character.CONNECTOR_PUNCTUATION;
    }

    /** Unicode punctuation categories (Pc, Pd, Ps, Pe, Pi, Pf, Po), per the reference's tables. */
    static boolean isPunctuation(int c) {
        boolean punct = switch (Character.getType(c)) {
            case Character.CONNECTOR_PUNCTUATION, Character.DASH_PUNCTUATION, Character.START_PUNCTUATION,
                    Character.END_PUNCTUATION, Character.INITIAL_QUOTE_PUNCTUATION,
                    Character.FINAL_QUOTE_PUNCTUATION, Character.OTHER_PUNCTUATION -> true;
            default -> false;
        };
        if (c < 0x600) {
            return punct;
        }
        return punct ? !LegacyUnicode.in(LegacyUnicode.PUNCTUATION_EXCLUDED, c)
                : LegacyUnicode.in(LegacyUnicode.PUNCTUATION_ADDED, c);
    }

    /** What BERT treats as punctuation: any ASCII symbol or punctuation, plus Unicode punctuation. */
    static boolean isBertPunctuation(int c) {
        return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126)
                || isPunctuation(c);
    }

    /**
     * The "other" characters that BERT's text cleaning drops: Cc, Cf, Co and Cs (not Cn), as
     * tabulated by the reference's older Unicode tables.
     */
    static boolean isBertControl(int c) {
        if (c == '\t' || c == '\n' || c == '\r') {
            return false;
        }
        int t = Character.getType(c);
        return (t == Character.CONTROL || t == Character.FORMAT || t == Character.PRIVATE_USE
                || t == Character.SURROGATE) && !LegacyUnicode.in(LegacyUnicode.CONTROL_EXCLUDED, c);
    }

    /** The CJK ideograph blocks that BERT surrounds with spaces. */
    static boolean isChineseChar(int c) {
        return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF)
                || (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF)
                || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
    }

    /** General category Mn, per the reference's tables (BERT's accent stripping). */
    static boolean isNonSpacingMark(int c) {
        return Character.getType(c) == Character.NON_SPACING_MARK
                ? !LegacyUnicode.in(LegacyUnicode.NONSPACING_MARK_EXCLUDED, c)
                : LegacyUnicode.in(LegacyUnicode.NONSPACING_MARK_ADDED, c);
    }

    /** General category Mark (Mn, Mc, Me), per the reference's tables (StripAccents). */
    static boolean isMark(int c) {
        int t = Character.getType(c);
        boolean mark = t == Character.NON_SPACING_MARK || t == Character.COMBINING_SPACING_MARK
                || t == Character.ENCLOSING_MARK;
        return mark ? !LegacyUnicode.in(LegacyUnicode.MARK_EXCLUDED, c) : LegacyUnicode.in(LegacyUnicode.MARK_ADDED, c);
    }

    /**
     * Lowercases code point by code point, as Rust's {@code char::to_lowercase} does. Unlike
     * {@link String#toLowerCase}, this never looks at context (no final-sigma rule), and it applies
     * the one unconditional multi-character mapping, U+0130 to "i̇".
     */
    static String lowercase(String s) {
        StringBuilder out = null;
        for (int i = 0; i < s.length(); ) {
            int c = s.codePointAt(i);
            int n = Character.charCount(c);
            int lower = c == 0x130 ? -1 : Character.toLowerCase(c);
            if (lower != c && out == null) {
                out = new StringBuilder(s.length() + 4).append(s, 0, i);
            }
            if (out != null) {
                if (lower == -1) {
                    out.append("i\u0307");
                } else {
                    out.appendCodePoint(lower);
                }
            }
            i += n;
        }
        return out == null ? s : out.toString();
    }

    /**
     * Unicode normalization as the reference does it: characters listed in
     * {@link LegacyUnicode#NORMALIZATION_UNCHANGED} are kept as they are, and the text around them is
     * normalized on its own.
     */
    static String normalize(String s, java.text.Normalizer.Form form) {
        int from = 0;
        StringBuilder out = null;
        for (int i = 0; i < s.length(); ) {
            int c = s.codePointAt(i);
            int n = Character.charCount(c);
            if (c >= 0x32FF && LegacyUnicode.in(LegacyUnicode.NORMALIZATION_UNCHANGED, c)) {
                if (out == null) {
                    out = new StringBuilder(s.length());
                }
                out.append(java.text.Normalizer.normalize(s.substring(from, i), form)).appendCodePoint(c);
                from = i + n;
            }
            i += n;
        }
        if (out == null) {
            return java.text.Normalizer.normalize(s, form);
        }
        return out.append(java.text.Normalizer.normalize(s.substring(from), form)).toString();
    }
}
