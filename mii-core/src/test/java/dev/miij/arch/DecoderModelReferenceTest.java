package dev.miij.arch;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.backend.KvCache;
import dev.miij.backend.RaggedBatch;
import dev.miij.backend.cpu.CpuBackend;
import dev.miij.model.ModelFolder;
import dev.miij.model.WeightSource;
import dev.miij.testing.Fixtures;
import java.util.Arrays;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/** The forward pass against transformers' FP32 logits and greedy tokens, one fixture per family. */
class DecoderModelReferenceTest {

    static final java.util.List<String> NAMES = Fixtures.NAMES;

    @ParameterizedTest
    @FieldSource("NAMES")
    void firstStepLogitsAndGreedyTokensMatchTransformers(String name) {
        ModelFolder folder = ModelFolder.open(Fixtures.dir(name));
        TransformerSpec spec = Architectures.fromConfig(folder.config());
        try (WeightSource weights = folder.openWeights();
             DecoderModel model = new DecoderModel(spec, weights, new CpuBackend())) {
            for (Fixtures.Case c : Fixtures.cases(name)) {
                int blockSize = 4;
                KvCache cache = model.newKvCache(64, blockSize);
                int[] tokens = Arrays.copyOf(c.promptIds(), c.promptIds().length + c.greedyIds().length);
                int length = c.promptIds().length;
                // Blocks in reverse order, to prove attention follows the block table.
                int[] table = new int[64];
                for (int i = 0; i < table.length; i++) {
                    table[i] = 63 - i;
                }
                int[] generated = new int[c.greedyIds().length];
                int computed = 0;
                for (int step = 0; step < generated.length; step++) {
                    int n = length - computed;
                    int[] ids = Arrays.copyOfRange(tokens, computed, length);
                    int[] pos = new int[n];
                    int[] slots = new int[n];
                    for (int i = 0; i < n; i++) {
                        pos[i] = computed + i;
                        slots[i] = table[pos[i] / blockSize] * blockSize + pos[i] % blockSize;
                    }
                    RaggedBatch batch = new RaggedBatch(ids, pos, slots, new int[] {0, n}, new int[] {length},
                            new int[][] {table}, new int[] {n - 1});
                    batch.check(blockSize);
                    float[] logits = model.forward(batch, cache);
                    assertEquals(spec.vocabSize(), logits.length);
                    if (step == 0) {
                        double maxErr = 0;
                        double maxRef = 0;
                        for (int i = 0; i < logits.length; i++) {
                            maxErr = Math.max(maxErr, Math.abs(logits[i] - c.firstLogits()[i]));
                            maxRef = Math.max(maxRef, Math.abs(c.firstLogits()[i]));
                        }
                        assertTrue(maxErr <= 1e-4 * Math.max(1, maxRef),
                                name + " '" + c.prompt() + "': first-step logits differ by " + maxErr);
                    }
                    int next = 0;
                    for (int i = 1; i < logits.length; i++) {
                        if (logits[i] > logits[next]) {
                            next = i;
                        }
                    }
                    computed = length;
                    tokens[length++] = next;
                    generated[step] = next;
                }
                Fixtures.checkGreedy(name + " '" + c.prompt() + "'", c, generated);
            }
        }
    }
}
