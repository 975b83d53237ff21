package dev.miij.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.arch.Architectures;
import dev.miij.arch.DecoderModel;
import dev.miij.arch.TransformerSpec;
import dev.miij.backend.KvCache;
import dev.miij.backend.RaggedBatch;
import dev.miij.backend.cpu.CpuBackend;
import dev.miij.model.ModelFolder;
import dev.miij.model.WeightSource;
import dev.miij.testing.Fixtures;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * A forward pass split over 2 and 4 ranks (threads of this process, each with its own CPU backend,
 * weights slices and KV cache) gives the unsharded model's logits, step after step of a greedy
 * continuation, on every fixture family the plan covers. Mixture-of-experts fixtures are left out:
 * the plan does not split experts.
 */
class ShardedForwardTest {

    static final List<String> MOE = List.of("mixtral", "qwen2_moe", "qwen3_moe");
    static final int BLOCK = 4;
    static final int STEPS = 8;

    static Stream<Arguments> cases() {
        return Fixtures.NAMES.stream().filter(n -> !MOE.contains(n))
                .flatMap(n -> Stream.of(Arguments.of(n, 2), Arguments.of(n, 4)));
    }

    @ParameterizedTest(name = "{0} TP={1}")
    @MethodSource("cases")
    void shardedLogitsEqualUnsharded(String name, int size) throws Exception {
        ModelFolder folder = ModelFolder.open(Fixtures.dir(name));
        TransformerSpec spec = Architectures.fromConfig(folder.config());
        InProcessGroup group = new InProcessGroup(size);
        ExecutorService ranks = Executors.newFixedThreadPool(size);
        try (WeightSource weights = folder.openWeights();
             DecoderModel full = new DecoderModel(spec, weights, new CpuBackend())) {
            DecoderModel[] shards = new DecoderModel[size];
            for (int r = 0; r < size; r++) {
                CpuBackend backend = new CpuBackend();
                shards[r] = new DecoderModel(spec, weights, backend, new TensorParallel(r, size, spec),
                        group.rank(r, backend));
                assertTrue(shards[r].weightBytesPerToken() < full.weightBytesPerToken(), "rank " + r + " holds a slice");
            }
            for (Fixtures.Case c : Fixtures.cases(name)) {
                KvCache fullCache = full.newKvCache(32, BLOCK);
                KvCache[] caches = new KvCache[size];
                for (int r = 0; r < size; r++) {
                    caches[r] = shards[r].newKvCache(32, BLOCK);
                }
                int[] tokens = Arrays.copyOf(c.promptIds(), c.promptIds().length + STEPS);
                int length = c.promptIds().length;
                int computed = 0;
                for (int step = 0; step < STEPS; step++) {
                    RaggedBatch batch = batch(tokens, computed, length);
                    float[] expected = full.forward(batch, fullCache);
                    List<Future<float[]>> results = new ArrayList<>();
                    for (int r = 0; r < size; r++) {
                        DecoderModel m = shards[r];
                        KvCache cache = caches[r];
                        results.add(ranks.submit(() -> m.forward(batch, cache)));
                    }
                    float[] rank0 = results.get(0).get();
                    for (int r = 1; r < size; r++) {
                        assertArrayEquals(rank0, results.get(r).get(), "every rank holds the same gathered logits");
                    }
                    assertEquals(expected.length, rank0.length);
                    double maxErr = 0;
                    double maxRef = 0;
                    for (int i = 0; i < expected.length; i++) {
                        maxErr = Math.max(maxErr, Math.abs(expected[i] - rank0[i]));
                        maxRef = Math.max(maxRef, Math.abs(expected[i]));
                    }
                    // Partial sums in another order: FP32 rounding of the reductions, nothing more.
                    assertTrue(maxErr <= 1e-5 * Math.max(1, maxRef),
                            name + " TP=" + size + " step " + step + ": logits differ by " + maxErr + " (max " + maxRef + ")");
                    int next = argmax(expected);
                    assertEquals(next, argmax(rank0), name + " TP=" + size + " step " + step + ": greedy token");
                    computed = length;
                    tokens[length++] = next;
                }
                fullCache.close();
                for (KvCache k : caches) {
                    k.close();
                }
            }
        } finally {
            ranks.shutdownNow();
        }
    }

    static RaggedBatch batch(int[] tokens, int computed, int length) {
        int n = length - computed;
        int[] table = new int[32];
        for (int i = 0; i < table.length; i++) {
            table[i] = i;
        }
        int[] pos = new int[n];
        int[] slots = new int[n];
        for (int i = 0; i < n; i++) {
            pos[i] = computed + i;
            slots[i] = table[pos[i] / BLOCK] * BLOCK + pos[i] % BLOCK;
        }
        return new RaggedBatch(Arrays.copyOfRange(tokens, computed, length), pos, slots, new int[] {0, n},
                new int[] {length}, new int[][] {table}, new int[] {n - 1});
    }

    static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) {
            if (x[i] > x[best]) {
                best = i;
            }
        }
        return best;
    }
}
