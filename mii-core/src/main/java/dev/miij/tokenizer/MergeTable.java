package dev.miij.tokenizer;

/**
 * BPE merge rules: a pair of token ids to the merge's rank and the id of the merged token. An
 * open-addressing table of primitive longs, because a Llama-3 vocabulary has 280,000 merges and
 * a boxed map would cost more memory than the vocabulary itself.
 */
final class MergeTable {

    private static final long EMPTY = -1L;

    private final long[] keys;
    private final int[] ranks;
    private final int[] newIds;
    private final int mask;

    MergeTable(int expected) {
        int capacity = Integer.highestOneBit(Math.max(4, expected * 2 - 1)) << 1;
        keys = new long[capacity];
        java.util.Arrays.fill(keys, EMPTY);
        ranks = new int[capacity];
        newIds = new int[capacity];
        mask = capacity - 1;
    }

    private static long key(int a, int b) {
        return ((long) a << 32) | (b & 0xFFFFFFFFL);
    }

    private int slot(long key) {
        long h = key * 0x9E3779B97F4A7C15L;
        int i = (int) (h ^ (h >>> 29)) & mask;
        while (keys[i] != EMPTY && keys[i] != key) {
            i = (i + 1) & mask;
        }
        return i;
    }

    /** Adds or replaces the rule for (a, b); a later duplicate wins, as in the reference. */
    void put(int a, int b, int rank, int newId) {
        long k = key(a, b);
        int i = slot(k);
        keys[i] = k;
        ranks[i] = rank;
        newIds[i] = newId;
    }

    /** The table slot of the rule for (a, b), or -1 when there is none. */
    int find(int a, int b) {
        long k = key(a, b);
        int i = slot(k);
        return keys[i] == EMPTY ? -1 : i;
    }

    int rank(int slot) {
        return ranks[slot];
    }

    int newId(int slot) {
        return newIds[slot];
    }
}
