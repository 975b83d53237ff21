package dev.miij.engine;

import dev.miij.MiiException;
import dev.miij.arch.DecoderModel;
import java.util.Locale;

/**
 * How many KV blocks to allocate. An explicit count wins. Otherwise the cache holds what the configured
 * sequences can use: {@code min(max_ragged_sequence_count, max_tracked_sequences)} full contexts of the
 * model; it is capped by the memory budget ({@code kvCacheMemoryBytes}, or a quarter of the free heap when
 * that is 0) and by what one Java array per layer can index.
 */
final class KvSizing {

    /** The decision, and the words the engine logs it with. */
    record Plan(int blocks, long bytes, String why) {
        String describe(int blockSize) {
            return "KV cache: " + blocks + " blocks of " + blockSize + " tokens (" + (long) blocks * blockSize
                    + " tokens), " + mib(bytes) + "; " + why;
        }
    }

    private KvSizing() {
    }

    static Plan plan(DecoderModel model, EngineConfig config) {
        Plan onDevice = DeviceKvSizing.plan(model, config); // null where the cache lives on the Java heap
        if (onDevice != null) {
            return onDevice;
        }
        Runtime rt = Runtime.getRuntime();
        long freeHeap = rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
        return plan(model.kvBlockBytes(config.kvBlockSize()), model.spec().numLayers(), model.spec().maxPositions(),
                config, freeHeap);
    }

    /**
     * @param perBlock     bytes of one block across all layers (keys and values)
     * @param numLayers    layers (each holds its keys and its values in one array)
     * @param maxPositions the model's context length
     * @param freeHeap     bytes the JVM may still allocate (the automatic budget is a quarter of it)
     */
    static Plan plan(long perBlock, int numLayers, int maxPositions, EngineConfig config, long freeHeap) {
        if (config.numKvBlocks() > 0) {
            return new Plan(config.numKvBlocks(), config.numKvBlocks() * perBlock, "as configured (num_kv_blocks)");
        }
        int sequences = Math.min(config.maxRaggedSequenceCount(), config.maxTrackedSequences());
        long perSequence = Scheduler.ceilDiv(maxPositions, config.kvBlockSize());
        long wanted = sequences * perSequence;
        boolean explicitBudget = config.kvCacheMemoryBytes() > 0;
        long budget = explicitBudget ? config.kvCacheMemoryBytes() : Math.max(0, freeHeap / 4);
        // Per-layer arrays are indexed by int.
        long perLayerFloatsPerBlock = Math.max(1, perBlock / 2 / numLayers / Float.BYTES);
        long indexable = (Integer.MAX_VALUE - 16) / perLayerFloatsPerBlock;
        long blocks = Math.min(wanted, Math.min(budget / perBlock, indexable));
        if (blocks < 1) {
            throw new MiiException(MiiException.Kind.RESOURCE_EXHAUSTED, "not enough memory for even one KV block of "
                    + perBlock + " bytes (budget " + budget + " bytes); raise -Xmx or --kv-cache-memory");
        }
        String why;
        if (blocks == wanted) {
            why = "enough for " + sequences + (sequences == 1 ? " sequence" : " sequences") + " of " + maxPositions + " tokens (max_ragged_sequence_count"
                    + (sequences == config.maxTrackedSequences() ? "/max_tracked_sequences" : "")
                    + " x the model's context)";
        } else if (blocks == indexable) {
            why = "the most one array per layer can hold";
        } else {
            why = "capped by the memory budget of " + mib(budget)
                    + (explicitBudget ? " (kv_cache_memory)" : " (a quarter of the free heap; set --kv-cache-memory or -Xmx)")
                    + "; " + sequences + " sequences of " + maxPositions + " tokens would need " + mib(wanted * perBlock);
        }
        return new Plan((int) blocks, blocks * perBlock, why);
    }

    static String mib(long bytes) {
        return String.format(Locale.ROOT, "%.1f MiB", bytes / (1024.0 * 1024.0));
    }
}
