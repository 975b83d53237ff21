package dev.miij.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.MiiException;
import org.junit.jupiter.api.Test;

class KvSizingTest {

    // The demo model's shape: 6 layers, 2 KV heads of 64, float keys and values, 64-token blocks.
    static final int LAYERS = 6;
    static final long PER_BLOCK = 2L * LAYERS * 64 * 2 * 64 * Float.BYTES; // 393,216 bytes
    static final int CONTEXT = 512;
    static final long GIB = 1L << 30;

    static EngineConfig config() {
        return EngineConfig.defaults();
    }

    @Test
    void theConfiguredSequencesAtFullContextWhenMemoryAllows() {
        var plan = KvSizing.plan(PER_BLOCK, LAYERS, CONTEXT, config().withMaxRaggedSequenceCount(3), 16 * GIB);
        assertEquals(3 * 8, plan.blocks(), "3 sequences x 512/64 blocks");
        assertEquals(24 * PER_BLOCK, plan.bytes());
        assertTrue(plan.describe(64).contains("enough for 3 sequences of 512 tokens"), plan.describe(64));
        assertTrue(plan.describe(64).contains("24 blocks of 64 tokens (1536 tokens), 9.0 MiB"), plan.describe(64));
    }

    @Test
    void aPartialLastBlockCountsAsABlock() {
        var plan = KvSizing.plan(PER_BLOCK / 64 * 16, LAYERS, 100, config().withKvBlockSize(16).withMaxRaggedSequenceCount(2),
                16 * GIB);
        assertEquals(2 * 7, plan.blocks(), "100 tokens take 7 blocks of 16");
    }

    @Test
    void trackedSequencesBoundTheDemandToo() {
        EngineConfig c = new EngineConfig(768, 512, 4, 64, 0, 0, true);
        assertEquals(4 * 8, KvSizing.plan(PER_BLOCK, LAYERS, CONTEXT, c, 16 * GIB).blocks());
    }

    @Test
    void theAutomaticBudgetIsAQuarterOfTheFreeHeap() {
        long free = 400L * PER_BLOCK; // a quarter holds 100 blocks; 512 sequences would want 4096
        var plan = KvSizing.plan(PER_BLOCK, LAYERS, CONTEXT, config(), free);
        assertEquals(100, plan.blocks());
        assertTrue(plan.describe(64).contains("capped by the memory budget"), plan.describe(64));
    }

    @Test
    void anExplicitBudgetCapsButNeverInflates() {
        var capped = KvSizing.plan(PER_BLOCK, LAYERS, CONTEXT, config().withKvCacheMemoryBytes(10 * PER_BLOCK + 5), 16 * GIB);
        assertEquals(10, capped.blocks());
        assertTrue(capped.describe(64).contains("kv_cache_memory"), capped.describe(64));
        var small = KvSizing.plan(PER_BLOCK, LAYERS, CONTEXT,
                config().withMaxRaggedSequenceCount(1).withKvCacheMemoryBytes(GIB), 16 * GIB);
        assertEquals(8, small.blocks(), "a budget is a ceiling: one sequence still needs 8 blocks only");
    }

    @Test
    void anExplicitCountWinsOverEverything() {
        var plan = KvSizing.plan(PER_BLOCK, LAYERS, CONTEXT, config().withNumKvBlocks(7).withKvCacheMemoryBytes(1), 1);
        assertEquals(7, plan.blocks());
        assertEquals(7 * PER_BLOCK, plan.bytes());
    }

    @Test
    void noRoomForOneBlockIsAnActionableError() {
        MiiException e = assertThrows(MiiException.class,
                () -> KvSizing.plan(PER_BLOCK, LAYERS, CONTEXT, config().withKvCacheMemoryBytes(PER_BLOCK - 1), 16 * GIB));
        assertTrue(e.getMessage().contains("--kv-cache-memory"), e.getMessage());
    }

    @Test
    void oneArrayPerLayerLimitsHugeCaches() {
        long perBlock = 2L * 1 * 4096 * 8 * 128 * Float.BYTES; // 1 layer, 8 heads of 128, 4096-token blocks
        var plan = KvSizing.plan(perBlock, 1, 1 << 20, config().withKvBlockSize(4096), 1L << 50);
        long floatsPerBlock = perBlock / 2 / Float.BYTES;
        assertTrue(plan.blocks() * floatsPerBlock <= Integer.MAX_VALUE, "fits an int-indexed array");
        assertTrue((plan.blocks() + 1) * floatsPerBlock > Integer.MAX_VALUE - 16, "and takes all it can");
    }
}
