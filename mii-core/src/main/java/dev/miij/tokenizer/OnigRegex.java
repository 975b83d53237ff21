package dev.miij.tokenizer;

import java.util.Map;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

/**
 * Compiles a regular expression written for Oniguruma (Ruby syntax, UTF-8, Unicode classes),
 * which is the engine tokenizer.json patterns are written for, into an equivalent
 * {@link java.util.regex.Pattern}.
 *
 * <p>The two engines agree on alternation, backtracking, look-around and {@code \p{L}}-style
 * categories, but not on the shorthand classes: Oniguruma's {@code \s} is the Unicode White_Space
 * set (U+0085 and U+00A0 included) whereas Java's is ASCII unless asked otherwise; Ruby's
 * {@code \h} is a hex digit; {@code (?m)} means "dot matches newline"; and {@code ^ $} always
 * match at line breaks. Those constructs are rewritten here, everything else is passed through.
 */
final class OnigRegex {

    private static final String SPACE = "\\p{IsWhite_Space}";
    private static final String NOT_SPACE = "\\P{IsWhite_Space}";
    /**
     * Oniguruma's {@code \w}: Alphabetic, marks, decimal digits, connector punctuation, plus the
     * Latin-1 superscripts and fractions, which its single-byte table counts as word characters.
     */
    private static final String WORD_ITEMS = "\\p{IsAlphabetic}\\p{M}\\p{Nd}\\p{Pc}\\u00B2\\u00B3\\u00B9\\u00BC-\\u00BE";
    /** {@code \w} inside a bracket class, and POSIX {@code [:word:]}: no Latin-1 extras. */
    private static final String POSIX_WORD_ITEMS = "\\p{IsAlphabetic}\\p{M}\\p{Nd}\\p{Pc}";
    private static final String WORD = "[" + WORD_ITEMS + "]";
    private static final String WORD_BOUNDARY =
            "(?:(?<=" + WORD + ")(?!" + WORD + ")|(?<!" + WORD + ")(?=" + WORD + "))";
    private static final String NOT_WORD_BOUNDARY =
            "(?:(?<=" + WORD + ")(?=" + WORD + ")|(?<!" + WORD + ")(?!" + WORD + "))";
    private static final String HEX_ITEMS = "0-9a-fA-F";

    private static final Map<String, String> PROPERTY_ALIASES = Map.ofEntries(
            Map.entry("alpha", "IsAlphabetic"), Map.entry("alphabetic", "IsAlphabetic"),
            Map.entry("digit", "Nd"), Map.entry("space", "IsWhite_Space"), Map.entry("white_space", "IsWhite_Space"),
            Map.entry("upper", "IsUppercase"), Map.entry("uppercase", "IsUppercase"),
            Map.entry("lower", "IsLowercase"), Map.entry("lowercase", "IsLowercase"),
            Map.entry("punct", "P"), Map.entry("cntrl", "Cc"),
            Map.entry("letter", "L"), Map.entry("mark", "M"), Map.entry("number", "N"),
            Map.entry("punctuation", "P"), Map.entry("symbol", "S"), Map.entry("separator", "Z"),
            Map.entry("other", "C"));

    private OnigRegex() {}

    /** Compiles {@code onigPattern}; {@code where} names its place in the file for error messages. */
    static Pattern compile(String onigPattern, String where) {
        String java = translate(onigPattern, where);
        try {
            return Pattern.compile(java, Pattern.MULTILINE | Pattern.UNIX_LINES | Pattern.UNICODE_CASE);
        } catch (PatternSyntaxException e) {
            throw new IllegalArgumentException("cannot compile regex /" + onigPattern + "/ of " + where + ": "
                    + e.getDescription(), e);
        }
    }

    static String translate(String p, String where) {
        StringBuilder out = new StringBuilder(p.length() + 32);
        int classDepth = 0;
        int i = 0;
        int n = p.length();
        while (i < n) {
            char c = p.charAt(i);
            if (c == '\\' && i + 1 < n) {
                i = escape(p, i, classDepth > 0, out, where);
                continue;
            }
            if (c == '[') {
                if (classDepth > 0 && p.startsWith("[:", i)) {
                    int end = p.indexOf(":]", i + 2);
                    if (end > 0) {
                        posixClass(p.substring(i + 2, end), out, where);
                        i = end + 2;
                        continue;
                    }
                }
                classDepth++;
                out.append(c);
                i++;
                // A ']' right after '[' or '[^' is a literal in both engines; keep it from closing.
                if (i < n && p.charAt(i) == '^') {
                    out.append('^');
                    i++;
                }
                if (i < n && p.charAt(i) == ']') {
                    out.append("\\]");
                    i++;
                }
                continue;
            }
            if (c == ']' && classDepth > 0) {
                classDepth--;
                out.append(c);
                i++;
                continue;
            }
            if (c == '(' && classDepth == 0 && p.startsWith("(?", i)) {
                i = groupFlags(p, i, out);
                continue;
            }
            out.append(c);
            i++;
        }
        return out.toString();
    }

    /** Rewrites Ruby's inline flags: its {@code m} is Java's {@code s}. */
    private static int groupFlags(String p, int i, StringBuilder out) {
        out.append("(?");
        int j = i + 2;
        while (j < p.length()) {
            char f = p.charAt(j);
            if (f == 'm') {
                out.append('s');
            } else if (f == 'i' || f == 'x' || f == '-') {
                out.append(f);
            } else {
                break;
            }
            j++;
        }
        return j;
    }

    private static int escape(String p, int i, boolean inClass, StringBuilder out, String where) {
        char e = p.charAt(i + 1);
        switch (e) {
            case 's' -> out.append(SPACE);
            case 'S' -> out.append(NOT_SPACE);
            case 'd' -> out.append("\\p{Nd}");
            case 'D' -> out.append("\\P{Nd}");
            // Inside a class Oniguruma builds \w from the Unicode tables alone, without the Latin-1 extras.
            case 'w' -> out.append(inClass ? POSIX_WORD_ITEMS : WORD);
            case 'W' -> out.append("[^" + WORD_ITEMS + "]");
            // Java's word boundary only knows ASCII words; spell out Oniguruma's.
            case 'b' -> out.append(inClass ? "\\x{8}" : WORD_BOUNDARY);
            case 'B' -> out.append(inClass ? "\\B" : NOT_WORD_BOUNDARY);
            case 'h' -> out.append(inClass ? HEX_ITEMS : "[" + HEX_ITEMS + "]");
            case 'H' -> out.append("[^" + HEX_ITEMS + "]");
            case 'K' -> throw new IllegalArgumentException("regex /" + p + "/ of " + where
                    + " uses \\K, which is not supported");
            case 'p', 'P' -> {
                if (i + 2 < p.length() && p.charAt(i + 2) == '{') {
                    int end = p.indexOf('}', i + 3);
                    if (end < 0) {
                        throw new IllegalArgumentException("unterminated \\p{ in regex /" + p + "/ of " + where);
                    }
                    property(p.substring(i + 3, end), e == 'P', out);
                    return end + 1;
                }
                out.append('\\').append(e);
            }
            default -> out.append('\\').append(e);
        }
        return i + 2;
    }

    private static void property(String name, boolean negated, StringBuilder out) {
        if (name.startsWith("^")) {
            negated = !negated;
            name = name.substring(1);
        }
        String key = name.replace(" ", "").replace("-", "_").toLowerCase(java.util.Locale.ROOT);
        String javaName;
        if (key.equals("alnum")) {
            out.append(negated ? "[^\\p{IsAlphabetic}\\p{Nd}]" : "[\\p{IsAlphabetic}\\p{Nd}]");
            return;
        } else if (key.equals("word")) {
            out.append(negated ? "[^" + WORD_ITEMS + "]" : WORD);
            return;
        } else if (key.equals("any")) {
            out.append(negated ? "[^\\x{0}-\\x{10FFFF}]" : "[\\x{0}-\\x{10FFFF}]");
            return;
        } else if (key.equals("xdigit")) {
            out.append(negated ? "[^" + HEX_ITEMS + "]" : "[" + HEX_ITEMS + "]");
            return;
        } else if (PROPERTY_ALIASES.containsKey(key)) {
            javaName = PROPERTY_ALIASES.get(key);
        } else if (isGeneralCategory(name)) {
            javaName = name;
        } else {
            // Scripts (Han, Hiragana, Latin, ...) and binary properties take the "Is" prefix in Java.
            javaName = "Is" + name;
        }
        out.append(negated ? "\\P{" : "\\p{").append(javaName).append('}');
    }

    private static boolean isGeneralCategory(String name) {
        return name.matches("[LMNPSZC][a-z&]?");
    }

    private static void posixClass(String name, StringBuilder out, String where) {
        boolean negated = name.startsWith("^");
        String key = negated ? name.substring(1) : name;
        String items = switch (key) {
            case "alpha" -> "\\p{IsAlphabetic}";
            case "digit" -> "\\p{Nd}";
            case "alnum" -> "\\p{IsAlphabetic}\\p{Nd}";
            case "space" -> SPACE;
            case "upper" -> "\\p{IsUppercase}";
            case "lower" -> "\\p{IsLowercase}";
            case "punct" -> "\\p{P}\\p{S}";
            case "cntrl" -> "\\p{Cc}";
            case "xdigit" -> HEX_ITEMS;
            case "word" -> POSIX_WORD_ITEMS;
            case "blank" -> "\\p{Zs}\\t";
            default -> throw new IllegalArgumentException("unsupported POSIX class [:" + name + ":] in " + where);
        };
        out.append(negated ? "[^" : "[").append(items).append(']');
    }
}
