package dev.miij.server.http;

import java.beans.FeatureDescriptor;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import jinjava.javax.el.ELContext;
import jinjava.javax.el.ELResolver;

/**
 * Python's {@code str} methods for Jinja templates. Chat templates are written for Python's jinja2, where
 * strings are Python strings: {@code content.lstrip('\n')}, {@code role.startswith('sys')},
 * {@code text.split('</think>')}. jinjava calls Java's methods instead, which lack most of these and
 * give {@code split} regex semantics; this resolver answers those calls as Python would.
 */
final class PythonStrings extends ELResolver {

    @Override
    public Object invoke(ELContext context, Object base, Object method, Class<?>[] paramTypes, Object[] params) {
        if (!(base instanceof String s) || !(method instanceof String name)) {
            return null;
        }
        Object[] p = params == null ? new Object[0] : params;
        Object result = call(s, name, p);
        if (result != NOT_HANDLED) {
            context.setPropertyResolved(true);
            return result;
        }
        return null;
    }

    private static final Object NOT_HANDLED = new Object();

    private static Object call(String s, String name, Object[] p) {
        return switch (name) {
            case "strip" -> p.length <= 1 ? rstrip(lstrip(s, chars(p)), chars(p)) : NOT_HANDLED;
            case "lstrip" -> p.length <= 1 ? lstrip(s, chars(p)) : NOT_HANDLED;
            case "rstrip" -> p.length <= 1 ? rstrip(s, chars(p)) : NOT_HANDLED;
            case "startswith" -> p.length == 1 ? affix(s, p[0], true) : NOT_HANDLED;
            case "endswith" -> p.length == 1 ? affix(s, p[0], false) : NOT_HANDLED;
            case "lower" -> p.length == 0 ? s.toLowerCase(Locale.ROOT) : NOT_HANDLED;
            case "upper" -> p.length == 0 ? s.toUpperCase(Locale.ROOT) : NOT_HANDLED;
            case "capitalize" -> p.length == 0 ? capitalize(s) : NOT_HANDLED;
            case "title" -> p.length == 0 ? title(s) : NOT_HANDLED;
            case "split" -> p.length <= 2 ? split(s, p) : NOT_HANDLED;
            case "replace" -> p.length == 2 ? s.replace(String.valueOf(p[0]), String.valueOf(p[1])) : NOT_HANDLED;
            case "find" -> p.length == 1 ? (Object) (long) s.indexOf(String.valueOf(p[0])) : NOT_HANDLED;
            case "count" -> p.length == 1 ? (Object) count(s, String.valueOf(p[0])) : NOT_HANDLED;
            case "join" -> p.length == 1 && p[0] instanceof Iterable<?> items ? join(s, items) : NOT_HANDLED;
            default -> NOT_HANDLED;
        };
    }

    /** The characters to strip, or null for whitespace (Python's default). */
    private static String chars(Object[] p) {
        return p.length == 0 || p[0] == null ? null : String.valueOf(p[0]);
    }

    private static boolean strippable(char c, String chars) {
        return chars == null ? Character.isWhitespace(c) : chars.indexOf(c) >= 0;
    }

    private static String lstrip(String s, String chars) {
        int i = 0;
        while (i < s.length() && strippable(s.charAt(i), chars)) {
            i++;
        }
        return s.substring(i);
    }

    private static String rstrip(String s, String chars) {
        int i = s.length();
        while (i > 0 && strippable(s.charAt(i - 1), chars)) {
            i--;
        }
        return s.substring(0, i);
    }

    /** Python accepts a tuple of affixes; templates pass lists. */
    private static boolean affix(String s, Object what, boolean start) {
        if (what instanceof Iterable<?> several) {
            for (Object o : several) {
                if (affix(s, o, start)) {
                    return true;
                }
            }
            return false;
        }
        String a = String.valueOf(what);
        return start ? s.startsWith(a) : s.endsWith(a);
    }

    private static String capitalize(String s) {
        return s.isEmpty() ? s : s.substring(0, 1).toUpperCase(Locale.ROOT) + s.substring(1).toLowerCase(Locale.ROOT);
    }

    private static String title(String s) {
        StringBuilder out = new StringBuilder(s.length());
        boolean previousLetter = false;
        for (char c : s.toCharArray()) {
            out.append(previousLetter ? Character.toLowerCase(c) : Character.toUpperCase(c));
            previousLetter = Character.isLetter(c);
        }
        return out.toString();
    }

    /** Python's split: a literal separator, or runs of whitespace (dropping empty ends) when none. */
    private static List<String> split(String s, Object[] p) {
        String sep = p.length == 0 || p[0] == null ? null : String.valueOf(p[0]);
        long max = p.length == 2 && p[1] instanceof Number n ? n.longValue() : -1;
        List<String> out = new ArrayList<>();
        if (sep == null) {
            String rest = s.strip();
            while (!rest.isEmpty()) {
                int end = 0;
                while (end < rest.length() && !Character.isWhitespace(rest.charAt(end))) {
                    end++;
                }
                if (max >= 0 && out.size() == max) {
                    out.add(rest);
                    return out;
                }
                out.add(rest.substring(0, end));
                rest = rest.substring(end).stripLeading();
            }
            return out;
        }
        if (sep.isEmpty()) {
            throw new IllegalArgumentException("empty separator");
        }
        int from = 0;
        int at;
        while ((max < 0 || out.size() < max) && (at = s.indexOf(sep, from)) >= 0) {
            out.add(s.substring(from, at));
            from = at + sep.length();
        }
        out.add(s.substring(from));
        return out;
    }

    private static long count(String s, String sub) {
        if (sub.isEmpty()) {
            return s.length() + 1L;
        }
        long n = 0;
        for (int i = s.indexOf(sub); i >= 0; i = s.indexOf(sub, i + sub.length())) {
            n++;
        }
        return n;
    }

    private static String join(String separator, Iterable<?> items) {
        StringBuilder out = new StringBuilder();
        boolean first = true;
        for (Object o : items) {
            if (!first) {
                out.append(separator);
            }
            out.append(o);
            first = false;
        }
        return out.toString();
    }

    // Property access is left to jinjava's own resolvers.

    @Override
    public Object getValue(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public Class<?> getType(ELContext context, Object base, Object property) {
        return null;
    }

    @Override
    public void setValue(ELContext context, Object base, Object property, Object value) {
    }

    @Override
    public boolean isReadOnly(ELContext context, Object base, Object property) {
        return true;
    }

    @Override
    public Iterator<FeatureDescriptor> getFeatureDescriptors(ELContext context, Object base) {
        return null;
    }

    @Override
    public Class<?> getCommonPropertyType(ELContext context, Object base) {
        return null;
    }
}
