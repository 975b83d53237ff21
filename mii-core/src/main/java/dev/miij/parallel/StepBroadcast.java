package dev.miij.parallel;

import dev.miij.backend.RaggedBatch;

/**
 * How rank 0 of a tensor-parallel group, which runs the engine, makes the other ranks run the same
 * forward steps: every step's batch, and the KV cache they write into, are announced before rank 0
 * runs the step itself (the other ranks then meet it in the step's collectives). {@link #NONE} for a
 * single rank. In one process {@link FollowerThreads} does it; across processes {@link ProcessGroup}
 * sends the batch over its connections to the other ranks.
 */
public interface StepBroadcast {

    StepBroadcast NONE = new StepBroadcast() {
        @Override
        public void kvCache(int numBlocks, int blockSize) {
        }

        @Override
        public void step(RaggedBatch batch) {
        }
    };

    /** Rank 0 allocated a KV cache of this size: each other rank allocates its own, and writes into it from now on. */
    void kvCache(int numBlocks, int blockSize);

    /** Rank 0 is about to run a step over {@code batch}: each other rank runs it too. */
    void step(RaggedBatch batch);
}
