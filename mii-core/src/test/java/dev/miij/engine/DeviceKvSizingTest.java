package dev.miij.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.MiiException;
import dev.miij.arch.Architectures;
import dev.miij.arch.DecoderModel;
import dev.miij.backend.RaggedBatch;
import dev.miij.backend.cpu.CpuBackend;
import dev.miij.model.ModelFolder;
import dev.miij.model.WeightSource;
import dev.miij.testing.Fixtures;
import org.junit.jupiter.api.Test;

class DeviceKvSizingTest {

    // Llama-3-8B in BF16: 32 layers x 8 KV heads x 128 x (K + V) x 2 bytes x 64 tokens = 8 MiB a block.
    static final long PER_BLOCK = 32L * 8 * 128 * 2 * 2 * 64;
    static final long GIB = 1L << 30;

    @Test
    void theDeviceBudgetCapsWhatTheSequencesCouldUse() {
        var plan = DeviceKvSizing.plan(PER_BLOCK, 131072, EngineConfig.defaults(), 100 * GIB);
        assertEquals(100 * 128, plan.blocks(), "100 GiB of 8 MiB blocks");
        assertTrue(plan.describe(64).contains("gpu_memory_utilization 0.90 of the GPU"), plan.describe(64));
    }

    @Test
    void fewSequencesNeedNoMoreThanTheirContexts() {
        var plan = DeviceKvSizing.plan(PER_BLOCK, 8192, EngineConfig.defaults().withMaxRaggedSequenceCount(2), 100 * GIB);
        assertEquals(2 * 128, plan.blocks());
        assertTrue(plan.describe(64).contains("enough for 2 sequences of 8192 tokens"), plan.describe(64));
    }

    @Test
    void explicitCountsAndBudgetsWin() {
        assertEquals(7, DeviceKvSizing.plan(PER_BLOCK, 8192, EngineConfig.defaults().withNumKvBlocks(7), 0).blocks());
        var plan = DeviceKvSizing.plan(PER_BLOCK, 131072, EngineConfig.defaults().withKvCacheMemoryBytes(GIB), 100 * GIB);
        assertEquals(128, plan.blocks());
        assertTrue(plan.describe(64).contains("kv_cache_memory"), plan.describe(64));
    }

    @Test
    void noRoomIsAnErrorThatSaysWhatToChange() {
        MiiException e = assertThrows(MiiException.class,
                () -> DeviceKvSizing.plan(PER_BLOCK, 8192, EngineConfig.defaults(), PER_BLOCK - 1));
        assertEquals(MiiException.Kind.RESOURCE_EXHAUSTED, e.kind());
        assertTrue(e.getMessage().contains("--gpu-memory-utilization"), e.getMessage());
    }

    @Test
    void theWarmUpBatchFillsTheTokenBudgetOverTheSequences() {
        for (int[] c : new int[][] {{768, 512, 131072}, {768, 1, 131072}, {768, 1, 300}, {10, 512, 64}, {1000, 3, 4096}}) {
            RaggedBatch b = DeviceKvSizing.warmUpBatch(c[0], c[1], c[2], 1000, 16);
            b.check(16);
            assertEquals(c[0], b.numRows());
            assertEquals(b.numSeqs(), b.logitRows().length, "every sequence asks for logits");
            for (int s = 0; s < b.numSeqs(); s++) {
                assertTrue(b.contextLens()[s] <= c[2], "within the context");
            }
            assertTrue(b.numSeqs() >= Math.min(c[0], c[1]));
        }
    }

    @Test
    void aHeapBackendLeavesTheSizingToKvSizing() {
        ModelFolder folder = ModelFolder.open(Fixtures.dir("llama2"));
        try (WeightSource w = folder.openWeights();
             DecoderModel m = new DecoderModel(Architectures.fromConfig(folder.config()), w, new CpuBackend())) {
            assertNull(DeviceKvSizing.plan(m, EngineConfig.defaults()));
        }
    }
}
