package dev.miij.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.miij.MiiException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * SentencePiece's unigram language model: the segmentation of a word that maximises the sum of
 * piece log-probabilities, found by Viterbi over all vocabulary pieces that start at each
 * position. Characters no piece covers score as the unknown token, with a penalty.
 */
final class Unigram implements Model {

    private static final double UNK_PENALTY = 10.0;

    private final Vocab vocab;
    private final double[] scores;
    private final int unkId;
    private final boolean byteFallback;
    private final double unkScore;
    private final Node trie = new Node();

    private static final class Node {
        final Map<Character, Node> children = new HashMap<>(2);
        int id = -1;
    }

    private Unigram(String[] pieces, double[] scores, int unkId, boolean byteFallback) {
        this.vocab = Vocab.fromList(pieces);
        this.scores = scores;
        this.unkId = unkId;
        this.byteFallback = byteFallback;
        double min = Double.POSITIVE_INFINITY;
        for (double s : scores) {
            min = Math.min(min, s);
        }
        this.unkScore = (scores.length == 0 ? 0 : min) - UNK_PENALTY;
        for (int id = 0; id < pieces.length; id++) {
            Node node = trie;
            String p = pieces[id];
            for (int i = 0; i < p.length(); i++) {
                node = node.children.computeIfAbsent(p.charAt(i), c -> new Node());
            }
            // A piece listed twice resolves to its last id, as upstream's map does.
            node.id = vocab.get(p);
        }
    }

    static Unigram fromJson(JsonNode node, JsonCtx ctx) {
        String component = "Unigram model";
        JsonNode list = node.get("vocab");
        if (list == null || !list.isArray()) {
            throw ctx.corrupt(component, "\"vocab\" must be a list of [piece, score]");
        }
        String[] pieces = new String[list.size()];
        double[] scores = new double[list.size()];
        int i = 0;
        for (JsonNode entry : list) {
            if (!entry.isArray() || entry.size() != 2 || !entry.get(0).isTextual() || !entry.get(1).isNumber()) {
                throw ctx.corrupt(component, "vocabulary entry " + i + " must be [piece, score], found "
                        + JsonCtx.describe(entry));
            }
            pieces[i] = entry.get(0).asText();
            scores[i] = SerdeFloat.value(entry.get(1));
            i++;
        }
        int unkId = node.hasNonNull("unk_id") ? node.get("unk_id").asInt() : -1;
        if (unkId >= pieces.length) {
            throw ctx.corrupt(component, "unk_id " + unkId + " is outside the vocabulary of " + pieces.length);
        }
        return new Unigram(pieces, scores, unkId, ctx.optBool(node, "byte_fallback", false));
    }

    @Override
    public void tokenize(String word, TokenSeq out) {
        for (String piece : segment(word)) {
            int id = vocab.get(piece);
            if (id >= 0) {
                out.add(id, piece);
                continue;
            }
            if (byteFallback && addBytes(piece, out)) {
                continue;
            }
            if (unkId < 0) {
                throw MiiException.corrupt("Unigram model has no unk_id but \"" + piece + "\" is not in its vocabulary");
            }
            out.add(unkId, piece);
        }
    }

    private boolean addBytes(String piece, TokenSeq out) {
        byte[] bytes = piece.getBytes(StandardCharsets.UTF_8);
        int[] ids = new int[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            ids[i] = vocab.get(String.format("<0x%02X>", bytes[i] & 0xFF));
            if (ids[i] < 0) {
                return false;
            }
        }
        for (int i = 0; i < bytes.length; i++) {
            out.add(ids[i], String.format("<0x%02X>", bytes[i] & 0xFF));
        }
        return true;
    }

    /** The best segmentation; consecutive unknown characters come out fused into one piece. */
    private List<String> segment(String s) {
        int n = s.length();
        double[] best = new double[n + 1];
        int[] from = new int[n + 1];
        int[] ids = new int[n + 1];
        java.util.Arrays.fill(from, -1);
        for (int start = 0; start < n; start = start + Character.charCount(s.codePointAt(start))) {
            double base = best[start];
            int charLen = Character.charCount(s.codePointAt(start));
            boolean singleChar = false;
            Node node = trie;
            for (int end = start; end < n; end++) {
                node = node.children.get(s.charAt(end));
                if (node == null) {
                    break;
                }
                if (node.id >= 0) {
                    double score = base + scores[node.id];
                    if (from[end + 1] < 0 || score > best[end + 1]) {
                        best[end + 1] = score;
                        from[end + 1] = start;
                        ids[end + 1] = node.id;
                    }
                    if (end + 1 - start == charLen) {
                        singleChar = true;
                    }
                }
            }
            if (!singleChar) {
                int end = start + charLen;
                double score = base + unkScore;
                if (from[end] < 0 || score > best[end]) {
                    if (unkId < 0) {
                        throw MiiException.corrupt("Unigram model has no unk_id but cannot segment \"" + s + "\"");
                    }
                    best[end] = score;
                    from[end] = start;
                    ids[end] = unkId;
                }
            }
        }
        List<String> reversed = new ArrayList<>();
        StringBuilder unknown = new StringBuilder();
        for (int end = n; end > 0; end = from[end]) {
            String piece = s.substring(from[end], end);
            if (ids[end] == unkId) {
                unknown.insert(0, piece);
                continue;
            }
            if (!unknown.isEmpty()) {
                reversed.add(unknown.toString());
                unknown.setLength(0);
            }
            reversed.add(piece);
        }
        if (!unknown.isEmpty()) {
            reversed.add(unknown.toString());
        }
        return reversed.reversed();
    }

    @Override
    public int tokenToId(String token) {
        return vocab.get(token);
    }

    @Override
    public String idToToken(int id) {
        return vocab.token(id);
    }

    @Override
    public int idBound() {
        return vocab.idBound();
    }
}
