package dev.miij.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** The hash finds a candidate block; only equal tokens after the same previous block make a hit. */
class PrefixCacheConfirmTest {

    static final int BS = 4;

    @Test
    void equalPrefixesHit() {
        BlockManager m = new BlockManager(8, BS, true);
        int[] prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        publishAll(m, prompt, 2);
        BlockTable t = new BlockTable();
        assertEquals(8, m.matchPrefix(prompt, prompt.length, t));
        assertEquals(2, m.prefixHits());
        assertEquals(0, m.hashCollisions());
    }

    @Test
    void aCandidateWithOtherTokensIsAMissNotAnotherPromptsKv() {
        BlockManager m = new BlockManager(8, BS, true);
        int[] mine = {1, 2, 3, 4, 5};
        int[] theirs = {9, 9, 9, 9, 5};
        // A block holding 'theirs' published under the hash of 'mine': what a 64-bit collision looks like.
        int block = m.allocate();
        m.publish(block, m.blockHash(0, mine, 0), theirs, 0, -1);
        BlockTable t = new BlockTable();
        assertEquals(0, m.matchPrefix(mine, mine.length, t), "no tokens reused");
        assertEquals(0, t.size());
        assertEquals(1, m.hashCollisions());
        assertEquals(1, m.prefixMisses());
    }

    @Test
    void aBlockAfterAnotherPrefixIsAMissEvenWithEqualTokens() {
        BlockManager m = new BlockManager(8, BS, true);
        int[] a = {1, 2, 3, 4, 5, 6, 7, 8, 0};
        int[] b = {4, 3, 2, 1, 5, 6, 7, 8, 0};
        int firstOfB = m.allocate();
        m.publish(firstOfB, m.blockHash(0, b, 0), b, 0, -1);
        int firstOfA = m.allocate();
        m.publish(firstOfA, m.blockHash(0, a, 0), a, 0, -1);
        // The second block holds a's tokens 5..8 but was written after b's first block, under a's chained hash.
        int second = m.allocate();
        m.publish(second, m.blockHash(m.blockHash(0, a, 0), a, BS), a, BS, firstOfB);
        BlockTable t = new BlockTable();
        assertEquals(BS, m.matchPrefix(a, a.length, t), "the first block hits, the second does not");
        assertEquals(1, m.hashCollisions());
    }

    @Test
    void aChildWrittenUnderAnEarlierAllocationOfItsParentIsNeverReused() {
        BlockManager m = new BlockManager(3, BS, true);
        int[] p = {1, 2, 3, 4, 5, 6, 7, 8, 9};
        BlockTable owner = new BlockTable();
        publishAll(m, p, 2, owner);
        int first = owner.block(0);
        m.release(owner); // both cached and evictable, the first block least recently freed
        assertEquals(2, m.allocate(), "the never-used block goes first");
        assertEquals(first, m.allocate(), "then the first block is evicted and handed out again");
        // Whatever it held in between, the child's KV was computed after another allocation of it.
        m.publish(first, m.blockHash(0, p, 0), p, 0, -1);
        BlockTable t = new BlockTable();
        assertEquals(BS, m.matchPrefix(p, p.length, t), "the parent hits; its old child does not");
        assertEquals(1, m.hashCollisions());
    }

    @Test
    void aDuplicateBlockIsFreedAfterTheIndexedOneWasReused() {
        // Two sequences computed the same first block side by side: the index keeps the first copy;
        // once that copy is evicted and reused, releasing the second must not look it up blindly.
        BlockManager m = new BlockManager(2, BS, true);
        int[] p = {1, 2, 3, 4, 5};
        long h = m.blockHash(0, p, 0);
        BlockTable first = new BlockTable();
        first.add(m.allocate(), h);
        m.publish(first.block(0), h, p, 0, -1);
        BlockTable second = new BlockTable();
        second.add(m.allocate(), h);
        m.publish(second.block(0), h, p, 0, -1);
        m.release(first);
        int reused = m.allocate(); // the only block available: the indexed copy, evicted
        m.release(second);
        assertEquals(1, m.available(), "the duplicate went back to the free list");
        assertEquals(1, m.refCounts()[reused]);
    }

    static void publishAll(BlockManager m, int[] tokens, int blocks) {
        publishAll(m, tokens, blocks, new BlockTable());
    }

    static void publishAll(BlockManager m, int[] tokens, int blocks, BlockTable table) {
        long h = 0;
        int previous = -1;
        for (int b = 0; b < blocks; b++) {
            int block = m.allocate();
            h = m.blockHash(h, tokens, b * BS);
            m.publish(block, h, tokens, b * BS, previous);
            table.add(block, h);
            previous = block;
        }
    }
}
