package dev.miij.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import dev.miij.MiiException;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Byte-pair encoding. A word starts as one symbol per character and the applicable merge with
 * the lowest rank is applied until none is left; a min-heap of candidate merges over a linked
 * list of symbols makes this O(n log n) in the word length instead of quadratic.
 */
final class Bpe implements Model {

    private static final int CACHE_CAPACITY = 10_000;
    private static final int CACHE_MAX_WORD = 256;

    private final Vocab vocab;
    private final MergeTable merges;
    private final String unkToken;
    private final boolean fuseUnk;
    private final boolean ignoreMerges;
    private final String prefix;
    private final String suffix;
    /** Ids of the "<0xAB>" byte tokens when byte_fallback is on, else null. */
    private final int[] byteIds;
    private final ConcurrentHashMap<String, int[]> cache = new ConcurrentHashMap<>();

    private Bpe(Vocab vocab, MergeTable merges, String unkToken, boolean fuseUnk, boolean byteFallback,
            boolean ignoreMerges, String prefix, String suffix) {
        this.vocab = vocab;
        this.merges = merges;
        this.unkToken = unkToken;
        this.fuseUnk = fuseUnk;
        this.ignoreMerges = ignoreMerges;
        this.prefix = prefix == null || prefix.isEmpty() ? null : prefix;
        this.suffix = suffix == null || suffix.isEmpty() ? null : suffix;
        if (byteFallback) {
            byteIds = new int[256];
            for (int b = 0; b < 256; b++) {
                byteIds[b] = vocab.get(String.format("<0x%02X>", b));
            }
        } else {
            byteIds = null;
        }
    }

    static Bpe fromJson(JsonNode node, JsonCtx ctx) {
        String component = "BPE model";
        if (node.hasNonNull("dropout") && node.get("dropout").asDouble() > 0) {
            throw ctx.unsupportedFeature(component, "BPE dropout (only deterministic tokenization is supported)");
        }
        Vocab vocab = Vocab.fromObject(node.get("vocab"), ctx, component);
        String prefix = ctx.optString(node, "continuing_subword_prefix", null);
        JsonNode list = node.get("merges");
        if (list == null || !list.isArray()) {
            throw ctx.corrupt(component, "\"merges\" must be a list");
        }
        MergeTable merges = new MergeTable(list.size());
        int prefixLen = prefix == null ? 0 : prefix.length();
        int rank = 0;
        for (JsonNode m : list) {
            String a;
            String b;
            if (m.isTextual()) {
                String[] parts = m.asText().split(" ", -1);
                if (parts.length != 2) {
                    throw ctx.corrupt(component, "merge " + (rank + 1) + " \"" + m.asText()
                            + "\" is not two tokens separated by one space");
                }
                a = parts[0];
                b = parts[1];
            } else if (m.isArray() && m.size() == 2) {
                a = m.get(0).asText();
                b = m.get(1).asText();
            } else {
                throw ctx.corrupt(component, "merge " + (rank + 1) + " must be \"a b\" or [\"a\", \"b\"], found "
                        + JsonCtx.describe(m));
            }
            int aId = vocab.get(a);
            int bId = vocab.get(b);
            String merged = a + (prefixLen > 0 && b.startsWith(prefix) ? b.substring(prefixLen) : b);
            int newId = vocab.get(merged);
            if (aId < 0 || bId < 0 || newId < 0) {
                String missing = aId < 0 ? a : bId < 0 ? b : merged;
                throw ctx.corrupt(component, "merge " + (rank + 1) + " (\"" + a + "\", \"" + b + "\") uses \""
                        + missing + "\", which is not in the vocabulary");
            }
            merges.put(aId, bId, rank, newId);
            rank++;
        }
        return new Bpe(vocab, merges, ctx.optString(node, "unk_token", null), ctx.optBool(node, "fuse_unk", false),
                ctx.optBool(node, "byte_fallback", false), ctx.optBool(node, "ignore_merges", false), prefix,
                ctx.optString(node, "end_of_word_suffix", null));
    }

    @Override
    public void tokenize(String word, TokenSeq out) {
        if (word.isEmpty()) {
            return;
        }
        if (ignoreMerges) {
            int id = vocab.get(word);
            if (id >= 0) {
                out.add(id, word);
                return;
            }
        }
        int[] ids = cache.get(word);
        if (ids == null) {
            ids = mergeWord(word);
            if (word.length() < CACHE_MAX_WORD && cache.size() < CACHE_CAPACITY) {
                cache.put(word, ids);
            }
        }
        for (int id : ids) {
            out.add(id, vocab.token(id));
        }
    }

    private int[] mergeWord(String w) {
        IntList symbols = new IntList(w.length() + 4);
        boolean pendingUnk = false;
        int n = w.length();
        for (int i = 0; i < n; ) {
            int next = i + Character.charCount(w.codePointAt(i));
            String s = w.substring(i, next);
            if (i > 0 && prefix != null) {
                s = prefix + s;
            }
            if (next == n && suffix != null) {
                s = s + suffix;
            }
            i = next;
            int id = vocab.get(s);
            if (id >= 0) {
                if (pendingUnk) {
                    symbols.add(unkId());
                    pendingUnk = false;
                }
                symbols.add(id);
                continue;
            }
            if (byteIds != null && addBytes(s, symbols)) {
                // An unknown character still pending stays pending, after these bytes, as upstream.
                continue;
            }
            if (unkToken != null) {
                if (pendingUnk && !fuseUnk) {
                    symbols.add(unkId());
                }
                pendingUnk = true;
            }
        }
        if (pendingUnk) {
            symbols.add(unkId());
        }
        return applyMerges(symbols);
    }

    private boolean addBytes(String s, IntList symbols) {
        byte[] bytes = s.getBytes(StandardCharsets.UTF_8);
        for (byte b : bytes) {
            if (byteIds[b & 0xFF] < 0) {
                return false;
            }
        }
        for (byte b : bytes) {
            symbols.add(byteIds[b & 0xFF]);
        }
        return true;
    }

    private int unkId() {
        int id = vocab.get(unkToken);
        if (id < 0) {
            throw MiiException.corrupt("BPE unk_token '" + unkToken + "' is not in the vocabulary");
        }
        return id;
    }

    /** Applies merges lowest rank first (leftmost first among equals) over a linked list of symbols. */
    private int[] applyMerges(IntList initial) {
        int n = initial.size();
        if (n < 2) {
            return initial.toArray();
        }
        int[] sym = initial.toArray();
        int[] prev = new int[n];
        int[] next = new int[n];
        boolean[] removed = new boolean[n];
        for (int i = 0; i < n; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        MergeHeap heap = new MergeHeap(n);
        for (int i = 0; i + 1 < n; i++) {
            int slot = merges.find(sym[i], sym[i + 1]);
            if (slot >= 0) {
                heap.push(merges.rank(slot), i, merges.newId(slot));
            }
        }
        while (!heap.isEmpty()) {
            int pos = heap.topPos();
            int newId = heap.topNewId();
            heap.pop();
            if (removed[pos] || next[pos] < 0) {
                continue;
            }
            int right = next[pos];
            int slot = merges.find(sym[pos], sym[right]);
            if (slot < 0 || merges.newId(slot) != newId) {
                continue; // stale: one side was merged since this candidate was queued
            }
            sym[pos] = newId;
            removed[right] = true;
            next[pos] = next[right];
            if (next[pos] >= 0) {
                prev[next[pos]] = pos;
            }
            if (prev[pos] >= 0) {
                int s = merges.find(sym[prev[pos]], sym[pos]);
                if (s >= 0) {
                    heap.push(merges.rank(s), prev[pos], merges.newId(s));
                }
            }
            if (next[pos] >= 0) {
                int s = merges.find(sym[pos], sym[next[pos]]);
                if (s >= 0) {
                    heap.push(merges.rank(s), pos, merges.newId(s));
                }
            }
        }
        IntList out = new IntList(n);
        for (int i = 0; i >= 0; i = next[i]) {
            out.add(sym[i]);
        }
        return out.toArray();
    }

    /** Min-heap of merge candidates ordered by (rank, position). */
    private static final class MergeHeap {
        private long[] keys;
        private int[] ids;
        private int size;

        MergeHeap(int capacity) {
            keys = new long[Math.max(4, capacity)];
            ids = new int[keys.length];
        }

        boolean isEmpty() {
            return size == 0;
        }

        int topPos() {
            return (int) keys[0];
        }

        int topNewId() {
            return ids[0];
        }

        void push(int rank, int pos, int newId) {
            if (size == keys.length) {
                keys = java.util.Arrays.copyOf(keys, size * 2);
                ids = java.util.Arrays.copyOf(ids, size * 2);
            }
            long key = ((long) rank << 32) | pos;
            int i = size++;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (keys[parent] <= key) {
                    break;
                }
                keys[i] = keys[parent];
                ids[i] = ids[parent];
                i = parent;
            }
            keys[i] = key;
            ids[i] = newId;
        }

        void pop() {
            size--;
            if (size == 0) {
                return;
            }
            long key = keys[size];
            int id = ids[size];
            int i = 0;
            while (true) {
                int child = 2 * i + 1;
                if (child >= size) {
                    break;
                }
                if (child + 1 < size && keys[child + 1] < keys[child]) {
                    child++;
                }
                if (keys[child] >= key) {
                    break;
                }
                keys[i] = keys[child];
                ids[i] = ids[child];
                i = child;
            }
            keys[i] = key;
            ids[i] = id;
        }
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
