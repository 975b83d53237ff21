package dev.miij.engine;

import dev.miij.MiiException;

/**
 * The engine's knobs, with DeepSpeed-FastGen's names and defaults.
 *
 * @param maxRaggedBatchSize     token budget of one forward step (prompt chunks + decodes), default 768
 * @param maxRaggedSequenceCount sequences in one step at most, default 512
 * @param maxTrackedSequences    sequences admitted (holding KV blocks) at once at most, default 2048
 * @param kvBlockSize            tokens per KV block, default 64
 * @param numKvBlocks            KV blocks to allocate; 0 = size from {@code kvCacheMemoryBytes}
 * @param kvCacheMemoryBytes     memory budget of the KV cache when numKvBlocks is 0; 0 = automatic
 * @param prefixCaching          reuse the KV blocks of identical prompt prefixes, default true
 */
public record EngineConfig(int maxRaggedBatchSize, int maxRaggedSequenceCount, int maxTrackedSequences,
                           int kvBlockSize, int numKvBlocks, long kvCacheMemoryBytes, boolean prefixCaching) {

    public EngineConfig {
        if (maxRaggedBatchSize <= 0) {
            throw MiiException.invalid("max_ragged_batch_size must be positive, got " + maxRaggedBatchSize);
        }
        if (maxRaggedSequenceCount <= 0) {
            throw MiiException.invalid("max_ragged_sequence_count must be positive, got " + maxRaggedSequenceCount);
        }
        if (maxTrackedSequences <= 0) {
            throw MiiException.invalid("max_tracked_sequences must be positive, got " + maxTrackedSequences);
        }
        if (kvBlockSize <= 0 || kvBlockSize > 4096) {
            throw MiiException.invalid("kv block size must be in 1..4096, got " + kvBlockSize);
        }
        if (numKvBlocks < 0) {
            throw MiiException.invalid("number of KV blocks must not be negative, got " + numKvBlocks);
        }
        if (kvCacheMemoryBytes < 0) {
            throw MiiException.invalid("KV cache memory must not be negative, got " + kvCacheMemoryBytes);
        }
    }

    public static EngineConfig defaults() {
        return new EngineConfig(768, 512, 2048, 64, 0, 0, true);
    }

    public EngineConfig withMaxRaggedBatchSize(int v) {
        return new EngineConfig(v, maxRaggedSequenceCount, maxTrackedSequences, kvBlockSize, numKvBlocks, kvCacheMemoryBytes, prefixCaching);
    }

    public EngineConfig withKvBlockSize(int v) {
        return new EngineConfig(maxRaggedBatchSize, maxRaggedSequenceCount, maxTrackedSequences, v, numKvBlocks, kvCacheMemoryBytes, prefixCaching);
    }

    public EngineConfig withNumKvBlocks(int v) {
        return new EngineConfig(maxRaggedBatchSize, maxRaggedSequenceCount, maxTrackedSequences, kvBlockSize, v, kvCacheMemoryBytes, prefixCaching);
    }

    public EngineConfig withKvCacheMemoryBytes(long v) {
        return new EngineConfig(maxRaggedBatchSize, maxRaggedSequenceCount, maxTrackedSequences, kvBlockSize, numKvBlocks, v, prefixCaching);
    }

    public EngineConfig withPrefixCaching(boolean v) {
        return new EngineConfig(maxRaggedBatchSize, maxRaggedSequenceCount, maxTrackedSequences, kvBlockSize, numKvBlocks, kvCacheMemoryBytes, v);
    }

    public EngineConfig withMaxRaggedSequenceCount(int v) {
        return new EngineConfig(maxRaggedBatchSize, v, maxTrackedSequences, kvBlockSize, numKvBlocks, kvCacheMemoryBytes, prefixCaching);
    }
}
