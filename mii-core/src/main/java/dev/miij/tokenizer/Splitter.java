package dev.miij.tokenizer;

import java.util.List;
import java.util.function.IntPredicate;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Cuts a piece of text at the matches of a pattern and decides, per {@link Behavior}, what
 * becomes of the delimiters. This is the one splitting primitive all pre-tokenizers share, with
 * the same rules as the reference implementation, including its handling of adjacent matches.
 */
final class Splitter {

    /** What to do with the matched delimiters. */
    enum Behavior {
        REMOVED, ISOLATED, MERGED_WITH_PREVIOUS, MERGED_WITH_NEXT, CONTIGUOUS;

        static Behavior fromJson(String name) {
            return switch (name) {
                case "Removed" -> REMOVED;
                case "Isolated" -> ISOLATED;
                case "MergedWithPrevious" -> MERGED_WITH_PREVIOUS;
                case "MergedWithNext" -> MERGED_WITH_NEXT;
                case "Contiguous" -> CONTIGUOUS;
                default -> null;
            };
        }
    }

    /**
     * Segments of a string: {@code start[i], end[i]} with a match flag, covering the whole string
     * in order. Kept as parallel arrays because a long input yields one segment per word.
     */
    static final class Segments {
        int[] start = new int[16];
        int[] end = new int[16];
        boolean[] match = new boolean[16];
        int size;

        void add(int s, int e, boolean m) {
            if (size == start.length) {
                start = java.util.Arrays.copyOf(start, size * 2);
                end = java.util.Arrays.copyOf(end, size * 2);
                match = java.util.Arrays.copyOf(match, size * 2);
            }
            start[size] = s;
            end[size] = e;
            match[size] = m;
            size++;
        }

        void invert() {
            for (int i = 0; i < size; i++) {
                match[i] = !match[i];
            }
        }
    }

    private Splitter() {}

    static Segments findRegex(Pattern pattern, String s) {
        Segments seg = new Segments();
        if (s.isEmpty()) {
            seg.add(0, 0, false);
            return seg;
        }
        Matcher m = pattern.matcher(s);
        int prev = 0;
        while (m.find()) {
            if (prev != m.start()) {
                seg.add(prev, m.start(), false);
            }
            seg.add(m.start(), m.end(), true);
            prev = m.end();
        }
        if (prev != s.length()) {
            seg.add(prev, s.length(), false);
        }
        return seg;
    }

    static Segments findLiteral(String literal, String s) {
        Segments seg = new Segments();
        if (s.isEmpty() || literal.isEmpty()) {
            seg.add(0, s.length(), false);
            return seg;
        }
        int prev = 0;
        int at;
        while ((at = s.indexOf(literal, prev)) >= 0) {
            if (prev != at) {
                seg.add(prev, at, false);
            }
            seg.add(at, at + literal.length(), true);
            prev = at + literal.length();
        }
        if (prev != s.length()) {
            seg.add(prev, s.length(), false);
        }
        return seg;
    }

    /** Every code point for which {@code isDelimiter} holds is a match of its own. */
    static Segments findChars(IntPredicate isDelimiter, String s) {
        Segments seg = new Segments();
        if (s.isEmpty()) {
            seg.add(0, 0, false);
            return seg;
        }
        int last = 0;
        for (int i = 0; i < s.length(); ) {
            int c = s.codePointAt(i);
            int next = i + Character.charCount(c);
            if (isDelimiter.test(c)) {
                if (last < i) {
                    seg.add(last, i, false);
                }
                seg.add(i, next, true);
                last = next;
            }
            i = next;
        }
        if (last < s.length()) {
            seg.add(last, s.length(), false);
        }
        return seg;
    }

    /** Applies {@code behavior} to the segments of {@code piece} and appends the non-empty results. */
    static void split(Piece piece, Segments seg, Behavior behavior, List<Piece> out) {
        int n = seg.size;
        switch (behavior) {
            case ISOLATED -> {
                for (int i = 0; i < n; i++) {
                    emit(piece, seg.start[i], seg.end[i], out);
                }
            }
            case REMOVED -> {
                for (int i = 0; i < n; i++) {
                    if (!seg.match[i]) {
                        emit(piece, seg.start[i], seg.end[i], out);
                    }
                }
            }
            case CONTIGUOUS -> {
                // Runs of equal flags merge; the first segment always opens a run.
                int runStart = -1;
                int runEnd = -1;
                boolean previous = false;
                for (int i = 0; i < n; i++) {
                    if (runStart >= 0 && seg.match[i] == previous) {
                        runEnd = seg.end[i];
                    } else {
                        if (runStart >= 0) {
                            emit(piece, runStart, runEnd, out);
                        }
                        runStart = seg.start[i];
                        runEnd = seg.end[i];
                    }
                    previous = seg.match[i];
                }
                if (runStart >= 0) {
                    emit(piece, runStart, runEnd, out);
                }
            }
            case MERGED_WITH_PREVIOUS -> {
                int curStart = -1;
                int curEnd = -1;
                boolean previous = false;
                for (int i = 0; i < n; i++) {
                    if (seg.match[i] && !previous && curStart >= 0) {
                        curEnd = seg.end[i];
                    } else {
                        if (curStart >= 0) {
                            emit(piece, curStart, curEnd, out);
                        }
                        curStart = seg.start[i];
                        curEnd = seg.end[i];
                    }
                    previous = seg.match[i];
                }
                if (curStart >= 0) {
                    emit(piece, curStart, curEnd, out);
                }
            }
            case MERGED_WITH_NEXT -> {
                // Walk backwards: a match joins the segment after it, unless that one is a match too.
                int[] starts = new int[n];
                int[] ends = new int[n];
                int k = 0;
                boolean next = false;
                for (int i = n - 1; i >= 0; i--) {
                    if (seg.match[i] && !next && k > 0) {
                        starts[k - 1] = seg.start[i];
                    } else {
                        starts[k] = seg.start[i];
                        ends[k] = seg.end[i];
                        k++;
                    }
                    next = seg.match[i];
                }
                for (int i = k - 1; i >= 0; i--) {
                    emit(piece, starts[i], ends[i], out);
                }
            }
        }
    }

    private static void emit(Piece piece, int from, int to, List<Piece> out) {
        if (to > from) {
            out.add(piece.slice(from, to));
        }
    }
}
