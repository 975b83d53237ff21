package dev.miij.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.GenerationOptions;
import dev.miij.Response;
import dev.miij.arch.Architectures;
import dev.miij.arch.DecoderModel;
import dev.miij.backend.KvCache;
import dev.miij.backend.cpu.CpuBackend;
import dev.miij.model.ModelFolder;
import dev.miij.model.WeightSource;
import dev.miij.testing.Fixtures;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The start-up warm-up runs the forward pass on the engine's own KV cache before any request: the
 * requests that follow must see nothing of it (same tokens, prefix cache, statistics), and it must
 * fit caches and contexts smaller than its scratch sequence.
 */
class WarmupTest {

    static final GenerationOptions GREEDY = GenerationOptions.builder().doSample(false).ignoreEos(true).maxNewTokens(24)
            .build();

    /** Convergence is not the point here, and on a busy machine it can take long. */
    @BeforeAll
    static void shortWarmups() {
        System.setProperty("mii.warmup.maxMillis", "3000");
    }

    @AfterAll
    static void restore() {
        System.clearProperty("mii.warmup.maxMillis");
    }

    /** Families with different kernels on the way: RMS/LayerNorm, biases, ALiBi, sliding windows, experts. */
    @ParameterizedTest
    @ValueSource(strings = {"llama2", "qwen3", "gpt2", "bloom", "gemma2", "mixtral"})
    void requestsAfterTheWarmupGiveTheReferenceTokensAndFindTheCacheUntouched(String name) {
        ModelFolder folder = ModelFolder.open(Fixtures.dir(name));
        List<Fixtures.Case> cases = Fixtures.cases(name);
        try (WeightSource weights = folder.openWeights();
             DecoderModel model = new DecoderModel(Architectures.fromConfig(folder.config()), weights, new CpuBackend());
             Engine engine = new Engine(model, EngineConfig.defaults().withKvBlockSize(4).withNumKvBlocks(64)
                     .withWarmup(true), Detokenizer.NONE, new int[] {2})) {
            Warmup.Result w = engine.warmup();
            assertNotNull(w, "the CPU backend warms up");
            assertTrue(w.steps() > w.decodeSteps() && w.decodeSteps() >= 1, w.describe());
            assertEquals(0, engine.stats().steps, "warm-up steps are not the engine's");
            Fixtures.Case c = cases.get(0);
            for (int round = 0; round < 2; round++) { // the second finds the prompt's blocks in the prefix cache
                Response r = engine.submit(c.promptIds(), GREEDY, StreamListener.NONE, c.prompt()).result().join();
                Fixtures.checkGreedy(name + " after warm-up, round " + round, c,
                        r.tokenIds().stream().mapToInt(Integer::intValue).toArray());
            }
            assertEquals((c.promptIds().length - 1) / 4, engine.stats().prefixHits,
                    "only the first request's blocks are in the prefix cache");
            assertEquals(0, engine.stats().kvBlocksInUse);
        }
    }

    @Test
    void offMeansNoWarmup() {
        ModelFolder folder = ModelFolder.open(Fixtures.dir("llama2"));
        try (WeightSource weights = folder.openWeights();
             DecoderModel model = new DecoderModel(Architectures.fromConfig(folder.config()), weights, new CpuBackend());
             Engine engine = new Engine(model, EngineConfig.defaults().withKvBlockSize(4).withNumKvBlocks(8)
                     .withWarmup(false), Detokenizer.NONE, new int[] {2})) {
            assertNull(engine.warmup());
        }
    }

    @Test
    void fitsATinyCacheATokenBudgetOfOneAndATimeLimit() {
        ModelFolder folder = ModelFolder.open(Fixtures.dir("llama2"));
        try (WeightSource weights = folder.openWeights();
             DecoderModel model = new DecoderModel(Architectures.fromConfig(folder.config()), weights, new CpuBackend());
             KvCache cache = model.newKvCache(1, 4)) {
            // One block of 4 tokens: prompts of 3, then one decode step, over and over, until the steps settle.
            Warmup.Result w = Warmup.run(model, cache, 1, 4, 768, new int[] {2}, 60_000_000_000L);
            assertNotNull(w);
            assertEquals(2 * w.decodeSteps(), w.steps(), w.describe());
            assertTrue(w.capped() || w.decodeSteps() >= Warmup.QUIET_WINDOWS * Warmup.WINDOW, w.describe());
            // A token budget of 1: prompts of one token, then three decode steps.
            w = Warmup.run(model, cache, 1, 4, 1, new int[] {2}, 3_000_000_000L);
            assertTrue(w.decodeSteps() >= 1 && w.steps() <= (w.decodeSteps() + 2) / 3 + w.decodeSteps(), w.describe());
            // No time at all: the prompt and one decode step, then the limit.
            w = Warmup.run(model, cache, 1, 4, 768, new int[] {2}, 0);
            assertEquals(2, w.steps());
            assertEquals(1, w.decodeSteps());
            assertTrue(w.capped(), w.describe());
            // A cache of one token leaves no room for a prompt and a next token.
            try (KvCache one = model.newKvCache(1, 1)) {
                assertNull(Warmup.run(model, one, 1, 1, 768, new int[] {2}, Long.MAX_VALUE));
            }
        }
    }
}
