package dev.miij.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.miij.GenerationOptions;
import dev.miij.arch.Architectures;
import dev.miij.arch.DecoderModel;
import dev.miij.arch.TransformerSpec;
import dev.miij.backend.cpu.CpuBackend;
import dev.miij.engine.Detokenizer;
import dev.miij.engine.Engine;
import dev.miij.engine.EngineConfig;
import dev.miij.engine.StreamListener;
import dev.miij.model.ModelFolder;
import dev.miij.model.WeightSource;
import dev.miij.testing.Fixtures;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The engine on rank 0 of an in-process tensor-parallel group, the other ranks following its steps,
 * generates the same greedy tokens as the engine on the unsharded model, for a batch of requests
 * under continuous batching and chunked prefill.
 */
class ShardedEngineTest {

    static final GenerationOptions GREEDY = GenerationOptions.builder().doSample(false).ignoreEos(true).maxNewTokens(16).build();
    static final EngineConfig CONFIG = EngineConfig.defaults().withKvBlockSize(4).withNumKvBlocks(256).withMaxRaggedBatchSize(16);

    static Stream<Arguments> cases() {
        return Stream.of("llama3", "llama2", "qwen3", "phi3", "gemma2", "falcon40b", "gpt2", "bloom")
                .flatMap(n -> Stream.of(Arguments.of(n, 2), Arguments.of(n, 4)));
    }

    @ParameterizedTest(name = "{0} TP={1}")
    @MethodSource("cases")
    void greedyTokensEqualUnsharded(String name, int size) throws Exception {
        ModelFolder folder = ModelFolder.open(Fixtures.dir(name));
        TransformerSpec spec = Architectures.fromConfig(folder.config());
        try (WeightSource weights = folder.openWeights()) {
            List<int[]> expected;
            try (DecoderModel full = new DecoderModel(spec, weights, new CpuBackend());
                 Engine engine = new Engine(full, CONFIG, Detokenizer.NONE, new int[] {2})) {
                expected = generate(engine, name);
            }
            InProcessGroup group = new InProcessGroup(size);
            List<DecoderModel> followers = new ArrayList<>();
            for (int r = 1; r < size; r++) {
                CpuBackend backend = new CpuBackend();
                followers.add(new DecoderModel(spec, weights, backend, new TensorParallel(r, size, spec), group.rank(r, backend)));
            }
            CpuBackend backend0 = new CpuBackend();
            try (FollowerThreads threads = new FollowerThreads(group, followers);
                 DecoderModel rank0 = new DecoderModel(spec, weights, backend0, new TensorParallel(0, size, spec),
                         group.rank(0, backend0))) {
                rank0.leadGroup(threads);
                try (Engine engine = new Engine(rank0, CONFIG, Detokenizer.NONE, new int[] {2})) {
                    List<int[]> actual = generate(engine, name);
                    assertEquals(expected.size(), actual.size());
                    for (int i = 0; i < expected.size(); i++) {
                        assertArrayEquals(expected.get(i), actual.get(i), name + " TP=" + size + " request " + i);
                    }
                }
            }
            followers.forEach(DecoderModel::close);
        }
    }

    static List<int[]> generate(Engine engine, String name) throws Exception {
        List<Engine.Handle> handles = new ArrayList<>();
        for (int copy = 0; copy < 3; copy++) {
            for (Fixtures.Case c : Fixtures.cases(name)) {
                handles.add(engine.submit(c.promptIds(), GREEDY, StreamListener.NONE, c.prompt()));
            }
        }
        List<int[]> out = new ArrayList<>();
        for (Engine.Handle h : handles) {
            out.add(h.result().get(2, java.util.concurrent.TimeUnit.MINUTES).tokenIds().stream().mapToInt(Integer::intValue).toArray());
        }
        return out;
    }
}
