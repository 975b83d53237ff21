package dev.miij.engine;

import java.util.Arrays;

/** One sequence's KV blocks in order, with the content hash of each full block (0 while not full). */
final class BlockTable {

    private int[] blocks = new int[8];
    private long[] hashes = new long[8];
    private int size;

    void add(int block, long hash) {
        if (size == blocks.length) {
            blocks = Arrays.copyOf(blocks, size * 2);
            hashes = Arrays.copyOf(hashes, size * 2);
        }
        blocks[size] = block;
        hashes[size++] = hash;
    }

    int size() {
        return size;
    }

    int block(int i) {
        return blocks[i];
    }

    long hash(int i) {
        return hashes[i];
    }

    void setHash(int i, long hash) {
        hashes[i] = hash;
    }

    int[] toArray() {
        return Arrays.copyOf(blocks, size);
    }

    void clear() {
        size = 0;
    }
}
