package dev.miij.engine;

import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Hands out fixed-size KV-cache blocks and caches full blocks by content for reuse across requests
 * (prefix caching).
 *
 * <p>A full block is found by a hash chained over every token from the start of its sequence to its
 * end. The hash only finds a candidate: a hit is confirmed by comparing the block's own tokens and
 * checking that the block before it is the one this prefix just matched (same block, same
 * allocation), so by induction the whole prefix is equal and a hash collision is a miss, never
 * another prompt's KV. A block whose last user leaves keeps its
 * contents and stays findable by hash until it is evicted, least recently freed first, when the
 * free list runs dry. Single-threaded: only the engine thread touches it.
 */
final class BlockManager {

    private static final long NO_HASH = 0;

    private final int numBlocks;
    private final int blockSize;
    private final boolean prefixCaching;
    private final int[] refCount;
    private final long[] blockHash;
    /** The tokens each published block holds, blockSize per block. */
    private final int[] blockTokens;
    /** The block before each published block in the sequence that published it (-1 for a first block). */
    private final int[] parent;
    /** Allocation count of each block, and of its parent when it was published. */
    private final int[] generation;
    private final int[] parentGeneration;
    private final ArrayDeque<Integer> free = new ArrayDeque<>();
    /** Cached blocks nobody uses, oldest first: evicted when {@link #free} is empty. */
    private final LinkedHashMap<Integer, Boolean> evictable = new LinkedHashMap<>();
    private final Map<Long, Integer> byHash = new HashMap<>();
    private long hits;
    private long misses;
    private long collisions;

    BlockManager(int numBlocks, int blockSize, boolean prefixCaching) {
        this.numBlocks = numBlocks;
        this.blockSize = blockSize;
        this.prefixCaching = prefixCaching;
        this.refCount = new int[numBlocks];
        this.blockHash = new long[numBlocks];
        this.blockTokens = prefixCaching ? new int[Math.multiplyExact(numBlocks, blockSize)] : new int[0];
        this.parent = new int[numBlocks];
        this.generation = new int[numBlocks];
        this.parentGeneration = new int[numBlocks];
        for (int i = 0; i < numBlocks; i++) {
            free.add(i);
        }
    }

    int blockSize() {
        return blockSize;
    }

    int numBlocks() {
        return numBlocks;
    }

    /** Blocks that can be handed out now (free plus evictable). */
    int available() {
        return free.size() + evictable.size();
    }

    int inUse() {
        return numBlocks - available();
    }

    long prefixHits() {
        return hits;
    }

    long prefixMisses() {
        return misses;
    }

    /** Candidates the hash found whose tokens or prefix differed. */
    long hashCollisions() {
        return collisions;
    }

    /** Chained content hash of the full block starting at {@code from}; never {@link #NO_HASH}. */
    long blockHash(long previous, int[] tokens, int from) {
        long h = previous ^ 0x9E3779B97F4A7C15L;
        for (int i = from; i < from + blockSize; i++) {
            h = (h ^ tokens[i]) * 0x100000001B3L;
            h ^= h >>> 29;
        }
        h = h * 0xBF58476D1CE4E5B9L;
        h ^= h >>> 31;
        return h == NO_HASH ? 1 : h;
    }

    /**
     * Finds the cached blocks holding a prefix of {@code tokens} (full blocks only, and never the
     * block holding the last token, whose logits must be computed), takes a reference on each and
     * appends them to {@code table}. Returns the number of tokens covered.
     */
    int matchPrefix(int[] tokens, int length, BlockTable table) {
        if (!prefixCaching) {
            return 0;
        }
        int matched = 0;
        long h = 0;
        int previous = -1;
        while (matched + blockSize < length) {
            h = blockHash(h, tokens, matched);
            Integer block = byHash.get(h);
            if (block != null && !holds(block, tokens, matched, previous)) {
                collisions++;
                block = null;
            }
            if (block == null) {
                misses++;
                break;
            }
            previous = block;
            hits++;
            if (refCount[block] == 0) {
                evictable.remove(block);
            }
            refCount[block]++;
            table.add(block, h);
            matched += blockSize;
        }
        return matched;
    }

    /** Whether cached {@code block} holds {@code tokens[from, from + blockSize)} after block {@code previous}. */
    private boolean holds(int block, int[] tokens, int from, int previous) {
        if (parent[block] != previous || (previous >= 0 && parentGeneration[block] != generation[previous])) {
            return false;
        }
        return Arrays.equals(blockTokens, block * blockSize, (block + 1) * blockSize, tokens, from, from + blockSize);
    }

    /** Takes one block, evicting the least recently used cached block if needed; -1 if none. */
    int allocate() {
        Integer block = free.poll();
        if (block == null) {
            var it = evictable.keySet().iterator();
            if (!it.hasNext()) {
                return -1;
            }
            block = it.next();
            it.remove();
            byHash.remove(blockHash[block], block);
            blockHash[block] = NO_HASH;
        }
        refCount[block] = 1;
        generation[block]++;
        return block;
    }

    /**
     * Records that {@code block} is now full with {@code tokens[from, from + blockSize)}, identified by
     * {@code hash}, and follows block {@code previous} (-1 for a sequence's first block).
     */
    void publish(int block, long hash, int[] tokens, int from, int previous) {
        if (!prefixCaching || blockHash[block] != NO_HASH) {
            return;
        }
        blockHash[block] = hash;
        System.arraycopy(tokens, from, blockTokens, block * blockSize, blockSize);
        parent[block] = previous;
        parentGeneration[block] = previous >= 0 ? generation[previous] : 0;
        Integer existing = byHash.get(hash);
        if (existing == null || !holds(existing, tokens, from, previous)) {
            // New, or replacing a stale or colliding entry that could never be confirmed again.
            byHash.put(hash, block);
        }
    }

    /** Drops one reference to each block of a table. */
    void release(BlockTable table) {
        for (int i = 0; i < table.size(); i++) {
            int block = table.block(i);
            if (--refCount[block] == 0) {
                // The hash may no longer be in the index (its entry went with another block holding
                // the same hash when that one was reused), or belong to another block.
                Integer indexed = blockHash[block] != NO_HASH ? byHash.get(blockHash[block]) : null;
                if (indexed != null && indexed == block) {
                    evictable.put(block, Boolean.TRUE);
                } else {
                    blockHash[block] = NO_HASH;
                    free.add(block);
                }
            } else if (refCount[block] < 0) {
                throw new IllegalStateException("block " + block + " released twice");
            }
        }
        table.clear();
    }

    /** For tests: reference counts of every block. */
    int[] refCounts() {
        return Arrays.copyOf(refCount, numBlocks);
    }
}
