package dev.miij.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.GenerationOptions;
import dev.miij.Response;
import dev.miij.arch.Architectures;
import dev.miij.arch.DecoderModel;
import dev.miij.backend.cpu.CpuBackend;
import dev.miij.model.ModelFolder;
import dev.miij.model.WeightSource;
import dev.miij.testing.Fixtures;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/**
 * Greedy outputs through the engine equal transformers' whether a request runs alone, in a batch
 * of 64, with a token budget of 8 (chunked prefill) or with a cache so small that it must preempt.
 */
class EngineReferenceTest {

    static final List<String> NAMES = Fixtures.NAMES;


    static final GenerationOptions GREEDY = GenerationOptions.builder().doSample(false).ignoreEos(true).maxNewTokens(24).build();

    static List<int[]> run(String name, EngineConfig config, int copies, EngineStats[] statsOut) {
        ModelFolder folder = ModelFolder.open(Fixtures.dir(name));
        try (WeightSource weights = folder.openWeights();
             DecoderModel model = new DecoderModel(Architectures.fromConfig(folder.config()), weights, new CpuBackend());
             Engine engine = new Engine(model, config, Detokenizer.NONE, new int[] {2})) {
            List<Engine.Handle> handles = new ArrayList<>();
            List<Fixtures.Case> cases = Fixtures.cases(name);
            for (int k = 0; k < copies; k++) {
                for (Fixtures.Case c : cases) {
                    handles.add(engine.submit(c.promptIds(), GREEDY, StreamListener.NONE, c.prompt()));
                }
            }
            List<int[]> out = new ArrayList<>();
            for (Engine.Handle h : handles) {
                Response r = h.result().join();
                assertEquals(Response.FinishReason.LENGTH, r.finishReason());
                out.add(r.tokenIds().stream().mapToInt(Integer::intValue).toArray());
            }
            if (statsOut != null) {
                statsOut[0] = engine.stats();
                assertEquals(0, engine.stats().kvBlocksInUse, "blocks still held after all requests finished");
            }
            return out;
        }
    }

    static void check(String name, String label, List<int[]> outputs) {
        List<Fixtures.Case> cases = Fixtures.cases(name);
        for (int i = 0; i < outputs.size(); i++) {
            Fixtures.Case c = cases.get(i % cases.size());
            Fixtures.checkGreedy(name + " " + label + " request " + i, c, outputs.get(i));
        }
    }

    @ParameterizedTest
    @FieldSource("NAMES")
    void aloneBatchedChunkedAndPreemptedAllMatchTransformers(String name) {
        EngineConfig base = EngineConfig.defaults().withKvBlockSize(4).withNumKvBlocks(512);
        for (Fixtures.Case c : Fixtures.cases(name)) {
            // Alone: one request per engine.
            ModelFolder folder = ModelFolder.open(Fixtures.dir(name));
            try (WeightSource weights = folder.openWeights();
                 DecoderModel model = new DecoderModel(Architectures.fromConfig(folder.config()), weights, new CpuBackend());
                 Engine engine = new Engine(model, base, Detokenizer.NONE, new int[] {2})) {
                Response r = engine.submit(c.promptIds(), GREEDY, StreamListener.NONE, c.prompt()).result().join();
                Fixtures.checkGreedy(name + " alone", c, r.tokenIds().stream().mapToInt(Integer::intValue).toArray());
            }
        }
        EngineStats[] stats = new EngineStats[1];
        check(name, "batch of 64", run(name, base, 16, stats));
        check(name, "token budget 8", run(name, base.withMaxRaggedBatchSize(8), 2, stats));
        assertTrue(stats[0].steps > 20, "a budget of 8 must split prefill over many steps");
        check(name, "tiny cache", run(name, base.withNumKvBlocks(14).withPrefixCaching(false), 2, stats));
        assertTrue(stats[0].preemptions > 0, "a 56-token cache for 8 requests must preempt");
    }

    @Test
    void aRepeatedPromptReusesCachedBlocksAndGivesTheSameTokens() {
        String name = "qwen3";
        ModelFolder folder = ModelFolder.open(Fixtures.dir(name));
        Fixtures.Case c = Fixtures.cases(name).get(1);
        try (WeightSource weights = folder.openWeights();
             DecoderModel model = new DecoderModel(Architectures.fromConfig(folder.config()), weights, new CpuBackend());
             Engine engine = new Engine(model, EngineConfig.defaults().withKvBlockSize(4).withNumKvBlocks(64), Detokenizer.NONE,
                     new int[] {2})) {
            Response first = engine.submit(c.promptIds(), GREEDY, StreamListener.NONE, c.prompt()).result().join();
            long hitsBefore = engine.stats().prefixHits;
            Response second = engine.submit(c.promptIds(), GREEDY, StreamListener.NONE, c.prompt()).result().join();
            assertEquals((c.promptIds().length - 1) / 4, engine.stats().prefixHits - hitsBefore,
                    "every full block before the last prompt token should come from the cache");
            assertEquals(first.tokenIds(), second.tokenIds());
            Fixtures.checkGreedy(name + " cached", c, second.tokenIds().stream().mapToInt(Integer::intValue).toArray());
        }
    }

    @Test
    void promptLongerThanTheCacheIsRejected() {
        var e = org.junit.jupiter.api.Assertions.assertThrows(dev.miij.MiiException.class,
                () -> run("llama2", EngineConfig.defaults().withKvBlockSize(4).withNumKvBlocks(1), 1, null));
        assertTrue(e.getMessage().contains("KV cache"), e.getMessage());
    }
}
