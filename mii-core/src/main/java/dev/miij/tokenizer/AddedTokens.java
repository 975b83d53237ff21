package dev.miij.tokenizer;

import dev.miij.tokenizer.Normalizers.Normalizer;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Tokens added on top of the model vocabulary (special tokens such as "<|im_start|>", and any
 * others). They are cut out of the input before anything else runs: first those matched against
 * the raw text ({@code normalized: false}), then, once the rest is normalized, those matched
 * against normalized text. Matching is leftmost-longest, like the Aho-Corasick automaton the
 * reference uses.
 */
final class AddedTokens {

    /** One entry of the "added_tokens" list. */
    record AddedToken(int id, String content, boolean singleWord, boolean lstrip, boolean rstrip,
            boolean normalized, boolean special) {}

    private final Map<String, AddedToken> byContent = new HashMap<>();
    private final Map<Integer, AddedToken> byId = new LinkedHashMap<>();
    /** How each added token is spelled when decoding: normalized tokens in their normalized form. */
    private final Map<Integer, String> decodeForms = new HashMap<>();
    private final Set<String> specialContents = new HashSet<>();
    private final Trie raw = new Trie();
    private final Trie normalizedTrie = new Trie();

    AddedTokens(List<AddedToken> tokens, Normalizer normalizer) {
        for (AddedToken t : tokens) {
            if (t.content().isEmpty()) {
                continue;
            }
            byContent.put(t.content(), t);
            byId.put(t.id(), t);
        }
        // Special tokens take precedence when two patterns coincide, as upstream.
        List<AddedToken> ordered = new ArrayList<>(byId.values());
        ordered.sort((a, b) -> Boolean.compare(b.special(), a.special()));
        for (AddedToken t : ordered) {
            if (t.special()) {
                specialContents.add(t.content());
            }
            if (t.normalized()) {
                String pattern = normalizer == null ? t.content() : normalizer.normalize(t.content());
                decodeForms.put(t.id(), pattern);
                if (!pattern.isEmpty()) {
                    normalizedTrie.add(pattern, t);
                }
            } else {
                decodeForms.put(t.id(), t.content());
                raw.add(t.content(), t);
            }
        }
    }

    AddedToken byId(int id) {
        return byId.get(id);
    }

    /**
     * The string an added token id decodes to, or null. A token matched against normalized text is
     * spelled the way the normalizer wrote it (for instance in byte-level characters), so that the
     * decoder can undo the normalization.
     */
    String decodeForm(int id) {
        return decodeForms.get(id);
    }

    /** Whether a decoded token string is the content of a special token. */
    boolean isSpecialContent(String token) {
        return specialContents.contains(token);
    }

    AddedToken byContent(String content) {
        return byContent.get(content);
    }

    Iterable<AddedToken> all() {
        return byId.values();
    }

    /**
     * Splits {@code text} into added tokens and normalized ordinary text, in order. Ordinary pieces
     * are normalized as a whole, each on its own, between the raw and the normalized matching.
     */
    List<Piece> extract(String text, Normalizer normalizer) {
        List<Piece> first = new ArrayList<>();
        split(Piece.text(text, true), raw, first);
        List<Piece> out = new ArrayList<>(first.size() + 4);
        for (Piece p : first) {
            if (p.isAdded()) {
                out.add(p);
                continue;
            }
            Piece normalized = normalizer == null ? p : p.withText(normalizer.normalize(p.text()));
            split(normalized, normalizedTrie, out);
        }
        return out;
    }

    private void split(Piece piece, Trie trie, List<Piece> out) {
        String s = piece.text();
        if (trie.isEmpty() || s.isEmpty()) {
            if (!s.isEmpty()) {
                out.add(piece);
            }
            return;
        }
        int startOffset = 0;
        int searchFrom = 0;
        while (true) {
            Trie.Match m = trie.findLeftmostLongest(s, searchFrom);
            if (m == null) {
                break;
            }
            searchFrom = m.end();
            AddedToken token = m.token();
            int start = m.start();
            int stop = m.end();
            if (token.singleWord()) {
                boolean spaceBefore = start == 0 || !Chars.isWordChar(s.codePointBefore(start));
                boolean spaceAfter = stop == s.length() || !Chars.isWordChar(s.codePointAt(stop));
                if (!spaceBefore || !spaceAfter) {
                    continue;
                }
            }
            if (token.lstrip()) {
                int newStart = start;
                while (newStart > 0 && Chars.isWhitespace(s.codePointBefore(newStart))) {
                    newStart -= Character.charCount(s.codePointBefore(newStart));
                }
                // Whitespace already consumed by the previous match stays with it.
                start = Math.max(newStart, startOffset);
            }
            if (token.rstrip()) {
                while (stop < s.length() && Chars.isWhitespace(s.codePointAt(stop))) {
                    stop += Character.charCount(s.codePointAt(stop));
                }
            }
            if (startOffset < start) {
                out.add(piece.slice(startOffset, start));
            }
            out.add(new Piece(s.substring(start, stop), piece.atStart() && start == 0, token.id()));
            startOffset = stop;
        }
        if (startOffset < s.length()) {
            out.add(piece.slice(startOffset, s.length()));
        }
    }

    /** A character trie over token contents. */
    private static final class Trie {

        record Match(int start, int end, AddedToken token) {}

        private static final class Node {
            final Map<Character, Node> children = new HashMap<>(4);
            AddedToken token;
        }

        private final Node root = new Node();
        /** First characters of all patterns, to skip most positions without a map lookup. */
        private final BitSet firstChars = new BitSet();
        private boolean empty = true;

        void add(String content, AddedToken token) {
            firstChars.set(content.charAt(0));
            Node node = root;
            for (int i = 0; i < content.length(); i++) {
                node = node.children.computeIfAbsent(content.charAt(i), c -> new Node());
            }
            if (node.token == null) {
                node.token = token;
            }
            empty = false;
        }

        boolean isEmpty() {
            return empty;
        }

        /** The longest match at the leftmost position at or after {@code from}, or null. */
        Match findLeftmostLongest(String s, int from) {
            for (int i = from; i < s.length(); i++) {
                if (!firstChars.get(s.charAt(i))) {
                    continue;
                }
                Node node = root.children.get(s.charAt(i));
                if (node == null) {
                    continue;
                }
                Match best = null;
                int j = i + 1;
                while (true) {
                    if (node.token != null) {
                        best = new Match(i, j, node.token);
                    }
                    if (j >= s.length()) {
                        break;
                    }
                    node = node.children.get(s.charAt(j));
                    if (node == null) {
                        break;
                    }
                    j++;
                }
                if (best != null) {
                    return best;
                }
            }
            return null;
        }
    }
}
