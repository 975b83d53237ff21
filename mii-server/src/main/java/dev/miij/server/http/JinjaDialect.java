package dev.miij.server.http;

import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.LegacyOverrides;
import com.hubspot.jinjava.el.JinjavaInterpreterResolver;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import jinjava.javax.el.CompositeELResolver;

/**
 * Makes jinjava read chat templates as Python's jinja2 does in transformers: trim_blocks and
 * lstrip_blocks, whitespace control on expressions ({@code {{- x }}}), Python's operator precedence,
 * Python's string methods, and rewrites of the two idioms of popular templates that jinjava cannot parse
 * (reversed slices and {@code namespace(...)} arguments holding expressions).
 */
final class JinjaDialect {

    /** Output larger than this is a runaway template, not a prompt. */
    private static final long MAX_OUTPUT = 64L << 20;

    /** {@code messages[::-1]}: an operand (name, attributes, indexes) followed by a reversing slice. */
    private static final Pattern REVERSED = Pattern.compile(
            "([A-Za-z_]\\w*(?:\\.[A-Za-z_]\\w*|\\[[^\\[\\]]*\\])*)\\[\\s*:\\s*:\\s*-1\\s*\\]");
    private static final Pattern KEYWORD_ARGUMENT = Pattern.compile("(?s)\\s*([A-Za-z_]\\w*)\\s*=(?!=)(.*)");

    private JinjaDialect() {
    }

    static Jinjava newJinjava() {
        LegacyOverrides python = LegacyOverrides.newBuilder()
                .withUseTrimmingForNotesAndExpressions(true)
                .withUseNaturalOperatorPrecedence(true)
                .withParseWhitespaceControlStrictly(true)
                .withEvaluateMapKeys(true)
                .withIterateOverMapKeys(true)
                .withUsePyishObjectMapper(true)
                .withKeepNullableLoopValues(true)
                .withAllowAdjacentTextNodes(true)
                .build();
        CompositeELResolver resolver = new CompositeELResolver();
        resolver.add(new PythonStrings());
        resolver.add(JinjavaInterpreterResolver.DEFAULT_RESOLVER_READ_ONLY);
        return new Jinjava(JinjavaConfig.newBuilder()
                .withTrimBlocks(true)
                .withLstripBlocks(true)
                .withLegacyOverrides(python)
                .withElResolver(resolver)
                .withMaxOutputSize(MAX_OUTPUT)
                .build());
    }

    /** Rewrites what jinjava cannot parse into what it can, with the same meaning. */
    static String rewrite(String template) {
        return parenthesizeNamespaceArguments(REVERSED.matcher(template).replaceAll("($1|reverse|list)"));
    }

    /**
     * jinjava binds {@code =} of a keyword argument tighter than arithmetic, so
     * {@code namespace(last=messages|length - 1)} fails; {@code namespace(last=(messages|length - 1))} works.
     */
    private static String parenthesizeNamespaceArguments(String t) {
        StringBuilder out = new StringBuilder(t.length() + 16);
        int from = 0;
        int at;
        while ((at = t.indexOf("namespace(", from)) >= 0) {
            int open = at + "namespace".length();
            int close = matchingParen(t, open);
            if (close < 0) {
                break;
            }
            out.append(t, from, open + 1);
            List<String> args = splitTopLevel(t.substring(open + 1, close));
            for (int i = 0; i < args.size(); i++) {
                Matcher m = KEYWORD_ARGUMENT.matcher(args.get(i));
                out.append(i == 0 ? "" : ", ")
                        .append(m.matches() ? m.group(1) + "=(" + m.group(2).strip() + ")" : args.get(i).strip());
            }
            out.append(')');
            from = close + 1;
        }
        return out.append(t, from, t.length()).toString();
    }

    /** Index of the parenthesis closing the one at {@code open}, skipping quoted strings; -1 if none. */
    private static int matchingParen(String t, int open) {
        int depth = 0;
        for (int i = open; i < t.length(); i++) {
            i = skipString(t, i);
            if (i >= t.length()) {
                break;
            }
            char c = t.charAt(i);
            if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if (c == ')' || c == ']' || c == '}') {
                if (--depth == 0) {
                    return c == ')' ? i : -1;
                }
            }
        }
        return -1;
    }

    /** Splits at commas outside brackets and quoted strings. */
    private static List<String> splitTopLevel(String s) {
        List<String> out = new ArrayList<>();
        int depth = 0;
        int start = 0;
        for (int i = 0; i < s.length(); i++) {
            i = skipString(s, i);
            if (i >= s.length()) {
                break;
            }
            char c = s.charAt(i);
            if (c == '(' || c == '[' || c == '{') {
                depth++;
            } else if (c == ')' || c == ']' || c == '}') {
                depth--;
            } else if (c == ',' && depth == 0) {
                out.add(s.substring(start, i));
                start = i + 1;
            }
        }
        if (!s.substring(start).isBlank() || !out.isEmpty()) {
            out.add(s.substring(start));
        }
        return out;
    }

    /**
     * If {@code s[i]} opens a quoted string, the index of its closing quote (backslash escapes
     * skipped), or {@code s.length()} when it is unterminated; otherwise {@code i} itself.
     */
    private static int skipString(String s, int i) {
        char quote = s.charAt(i);
        if (quote != '\'' && quote != '"') {
            return i;
        }
        for (int j = i + 1; j < s.length(); j++) {
            char c = s.charAt(j);
            if (c == '\\') {
                j++;
            } else if (c == quote) {
                return j;
            }
        }
        return s.length();
    }
}
