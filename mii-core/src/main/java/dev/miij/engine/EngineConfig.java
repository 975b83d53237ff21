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
 * @param gpuMemoryUtilization   on a GPU, the fraction of device memory this engine may use (weights,
 *                               activations and the KV cache, which gets what is left), default 0.9;
 *                               unused on the CPU
 * @param warmup                 run the forward pass on a scratch sequence at start-up until the JIT has
 *                               compiled the kernels (backends that need it: the CPU); default true unless
 *                               the system property {@code mii.warmup} is {@code false}
 */
public record EngineConfig(int maxRaggedBatchSize, int maxRaggedSequenceCount, int maxTrackedSequences,
                           int kvBlockSize, int numKvBlocks, long kvCacheMemoryBytes, boolean prefixCaching,
                           double gpuMemoryUtilization, boolean warmup) {

    public static final double DEFAULT_GPU_MEMORY_UTILIZATION = 0.9;

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
        if (!(gpuMemoryUtilization > 0 && gpuMemoryUtilization <= 1)) {
            throw MiiException.invalid("gpu_memory_utilization must be in (0, 1], got " + gpuMemoryUtilization);
        }
    }

    /** The default warm-up (on unless {@code -Dmii.warmup=false}). */
    public EngineConfig(int maxRaggedBatchSize, int maxRaggedSequenceCount, int maxTrackedSequences,
                        int kvBlockSize, int numKvBlocks, long kvCacheMemoryBytes, boolean prefixCaching,
                        double gpuMemoryUtilization) {
        this(maxRaggedBatchSize, maxRaggedSequenceCount, maxTrackedSequences, kvBlockSize, numKvBlocks,
                kvCacheMemoryBytes, prefixCaching, gpuMemoryUtilization, defaultWarmup());
    }

    /** The default gpu_memory_utilization (0.9) and warm-up. */
    public EngineConfig(int maxRaggedBatchSize, int maxRaggedSequenceCount, int maxTrackedSequences,
                        int kvBlockSize, int numKvBlocks, long kvCacheMemoryBytes, boolean prefixCaching) {
        this(maxRaggedBatchSize, maxRaggedSequenceCount, maxTrackedSequences, kvBlockSize, numKvBlocks,
                kvCacheMemoryBytes, prefixCaching, DEFAULT_GPU_MEMORY_UTILIZATION);
    }

    public static EngineConfig defaults() {
        return new EngineConfig(768, 512, 2048, 64, 0, 0, true);
    }

    /** Whether the engine warms up unless told otherwise: yes, unless the system property mii.warmup is false. */
    public static boolean defaultWarmup() {
        return !"false".equalsIgnoreCase(System.getProperty("mii.warmup", "true").trim());
    }

    public EngineConfig withMaxRaggedBatchSize(int v) {
        return new EngineConfig(v, maxRaggedSequenceCount, maxTrackedSequences, kvBlockSize, numKvBlocks, kvCacheMemoryBytes, prefixCaching, gpuMemoryUtilization, warmup);
    }

    public EngineConfig withKvBlockSize(int v) {
        return new EngineConfig(maxRaggedBatchSize, maxRaggedSequenceCount, maxTrackedSequences, v, numKvBlocks, kvCacheMemoryBytes, prefixCaching, gpuMemoryUtilization, warmup);
    }

    public EngineConfig withNumKvBlocks(int v) {
        return new EngineConfig(maxRaggedBatchSize, maxRaggedSequenceCount, maxTrackedSequences, kvBlockSize, v, kvCacheMemoryBytes, prefixCaching, gpuMemoryUtilization, warmup);
    }

    public EngineConfig withKvCacheMemoryBytes(long v) {
        return new EngineConfig(maxRaggedBatchSize, maxRaggedSequenceCount, maxTrackedSequences, kvBlockSize, numKvBlocks, v, prefixCaching, gpuMemoryUtilization, warmup);
    }

    public EngineConfig withPrefixCaching(boolean v) {
        return new EngineConfig(maxRaggedBatchSize, maxRaggedSequenceCount, maxTrackedSequences, kvBlockSize, numKvBlocks, kvCacheMemoryBytes, v, gpuMemoryUtilization, warmup);
    }

    public EngineConfig withMaxRaggedSequenceCount(int v) {
        return new EngineConfig(maxRaggedBatchSize, v, maxTrackedSequences, kvBlockSize, numKvBlocks, kvCacheMemoryBytes, prefixCaching, gpuMemoryUtilization, warmup);
    }

    public EngineConfig withGpuMemoryUtilization(double v) {
        return new EngineConfig(maxRaggedBatchSize, maxRaggedSequenceCount, maxTrackedSequences, kvBlockSize, numKvBlocks, kvCacheMemoryBytes, prefixCaching, v, warmup);
    }

    public EngineConfig withWarmup(boolean v) {
        return new EngineConfig(maxRaggedBatchSize, maxRaggedSequenceCount, maxTrackedSequences, kvBlockSize, numKvBlocks, kvCacheMemoryBytes, prefixCaching, gpuMemoryUtilization, v);
    }
}
