package dev.miij.cli;

import dev.miij.engine.EngineConfig;
import picocli.CommandLine.Option;

/** Engine flags shared by the commands that run a model. */
final class EngineFlags {

    @Option(names = "--max-ragged-batch-size", paramLabel = "N", description = "Token budget of one forward step (default: ${DEFAULT-VALUE}).")
    int maxRaggedBatchSize = 768;

    static final int DEFAULT_MAX_RAGGED_SEQUENCE_COUNT = 512;

    @Option(names = "--max-ragged-sequence-count", paramLabel = "N",
            description = "Sequences in one step at most; the KV cache is sized for this many full contexts (default: 512).")
    Integer maxRaggedSequenceCount;

    @Option(names = "--kv-block-size", paramLabel = "N", description = "Tokens per KV-cache block (default: ${DEFAULT-VALUE}).")
    int kvBlockSize = 64;

    @Option(names = "--num-kv-blocks", paramLabel = "N", description = "KV-cache blocks; 0 sizes the cache automatically (default: ${DEFAULT-VALUE}).")
    int numKvBlocks = 0;

    @Option(names = "--kv-cache-memory", paramLabel = "SIZE", description = "Memory for the KV cache when --num-kv-blocks is 0, e.g. 2g, 512m.")
    String kvCacheMemory;

    @Option(names = "--no-prefix-caching", description = "Do not reuse KV blocks of identical prompt prefixes.")
    boolean noPrefixCaching;

    @Option(names = "--no-warmup", description = "Skip the start-up warm-up (on the CPU: the forward pass on a scratch"
            + " sequence until the JIT has compiled the kernels), e.g. for a one-off short run; the first request is then"
            + " slower. Also -Dmii.warmup=false.")
    boolean noWarmup;

    EngineConfig toConfig() {
        return toConfig(DEFAULT_MAX_RAGGED_SEQUENCE_COUNT);
    }

    /** The engine's configuration; {@code sequences} is the sequence count when the flag was not given. */
    EngineConfig toConfig(int sequences) {
        int count = maxRaggedSequenceCount != null ? maxRaggedSequenceCount : sequences;
        return new EngineConfig(maxRaggedBatchSize, count, 2048, kvBlockSize, numKvBlocks,
                kvCacheMemory == null ? 0 : Sizes.parseBytes("--kv-cache-memory", kvCacheMemory), !noPrefixCaching)
                .withWarmup(!noWarmup && EngineConfig.defaultWarmup());
    }
}
