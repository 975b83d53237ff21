package dev.miij.engine;

import dev.miij.arch.DecoderModel;

/** Works out how many KV blocks to allocate when the user gave no explicit count. */
final class KvSizing {

    private KvSizing() {
    }

    static int blocks(DecoderModel model, EngineConfig config) {
        long perBlock = model.kvBlockBytes(config.kvBlockSize());
        long budget = config.kvCacheMemoryBytes();
        if (budget == 0) {
            // Automatic on the heap: a quarter of what the JVM may still allocate, but never more
            // than enough for max_tracked_sequences full contexts.
            Runtime rt = Runtime.getRuntime();
            long freeHeap = rt.maxMemory() - (rt.totalMemory() - rt.freeMemory());
            budget = freeHeap / 4;
        }
        long blocks = budget / perBlock;
        long maxUseful = (long) config.maxTrackedSequences() * Scheduler.ceilDiv(model.spec().maxPositions(), config.kvBlockSize());
        blocks = Math.min(blocks, maxUseful);
        // Per-layer arrays are indexed by int.
        long perLayerFloatsPerBlock = perBlock / 2 / model.spec().numLayers() / Float.BYTES;
        blocks = Math.min(blocks, (Integer.MAX_VALUE - 16) / perLayerFloatsPerBlock);
        if (blocks < 1) {
            throw new dev.miij.MiiException(dev.miij.MiiException.Kind.RESOURCE_EXHAUSTED,
                    "not enough memory for even one KV block of " + perBlock + " bytes; raise -Xmx or the KV cache memory");
        }
        return (int) blocks;
    }
}
