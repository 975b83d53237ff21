package dev.miij.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.GenerationOptions;
import dev.miij.Mii;
import dev.miij.MiiException;
import dev.miij.Pipeline;
import dev.miij.PipelineOptions;
import dev.miij.Response;
import dev.miij.arch.Architectures;
import dev.miij.arch.DecoderModel;
import dev.miij.arch.TransformerSpec;
import dev.miij.backend.KvCache;
import dev.miij.backend.RaggedBatch;
import dev.miij.backend.cpu.CpuBackend;
import dev.miij.model.ModelFolder;
import dev.miij.model.WeightSource;
import dev.miij.testing.Fixtures;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Presence, frequency and repetition penalties against a reference written from vLLM's definition and
 * applied to the CPU forward pass's own logits, step by step: the engine's greedy tokens must be the
 * reference's (up to a near-tie).
 */
class PenaltyReferenceTest {

    static final String FIXTURE = "llama2";
    static final int STEPS = 12;

    /** vLLM's apply_penalties on one row, in double precision. */
    static double[] reference(float[] logits, int[] prompt, List<Integer> output, GenerationOptions o) {
        double[] row = new double[logits.length];
        for (int i = 0; i < row.length; i++) {
            row[i] = logits[i];
        }
        Set<Integer> seen = new HashSet<>();
        for (int t : prompt) {
            seen.add(t);
        }
        seen.addAll(output);
        for (int t : seen) {
            row[t] = row[t] > 0 ? row[t] / o.repetitionPenalty() : row[t] * o.repetitionPenalty();
        }
        Map<Integer, Integer> counts = new HashMap<>();
        output.forEach(t -> counts.merge(t, 1, Integer::sum));
        counts.forEach((t, c) -> row[t] -= o.frequencyPenalty() * c + (c > 0 ? o.presencePenalty() : 0));
        return row;
    }

    /** Greedy tokens with penalties, from the model's logits and the reference above; margins alongside. */
    static int[] referenceTokens(int[] prompt, GenerationOptions o, double[] margins) {
        ModelFolder folder = ModelFolder.open(Fixtures.dir(FIXTURE));
        TransformerSpec spec = Architectures.fromConfig(folder.config());
        try (WeightSource weights = folder.openWeights();
             DecoderModel model = new DecoderModel(spec, weights, new CpuBackend())) {
            int blockSize = 4;
            KvCache cache = model.newKvCache(64, blockSize);
            int[] table = new int[64];
            for (int i = 0; i < table.length; i++) {
                table[i] = i;
            }
            int[] tokens = Arrays.copyOf(prompt, prompt.length + STEPS);
            int length = prompt.length;
            int computed = 0;
            List<Integer> output = new java.util.ArrayList<>();
            for (int step = 0; step < STEPS; step++) {
                int n = length - computed;
                int[] ids = Arrays.copyOfRange(tokens, computed, length);
                int[] pos = new int[n];
                int[] slots = new int[n];
                for (int i = 0; i < n; i++) {
                    pos[i] = computed + i;
                    slots[i] = table[pos[i] / blockSize] * blockSize + pos[i] % blockSize;
                }
                float[] logits = model.forward(new RaggedBatch(ids, pos, slots, new int[] {0, n}, new int[] {length},
                        new int[][] {table}, new int[] {n - 1}), cache);
                double[] row = reference(logits, prompt, output, o);
                int best = 0;
                for (int i = 1; i < row.length; i++) {
                    if (row[i] > row[best]) {
                        best = i;
                    }
                }
                double second = Double.NEGATIVE_INFINITY;
                for (int i = 0; i < row.length; i++) {
                    if (i != best) {
                        second = Math.max(second, row[i]);
                    }
                }
                margins[step] = row[best] - second;
                computed = length;
                tokens[length++] = best;
                output.add(best);
            }
            return Arrays.copyOfRange(tokens, prompt.length, length);
        }
    }

    @Test
    void greedyTokensUnderPenaltiesMatchTheReference() {
        try (Pipeline pipe = Mii.pipeline(Fixtures.dir(FIXTURE).toString(), PipelineOptions.defaults().withEngine(
                EngineConfig.defaults().withNumKvBlocks(64)))) {
            int changed = 0;
            for (GenerationOptions o : List.of(
                    GenerationOptions.builder().doSample(false).maxNewTokens(STEPS).ignoreEos(true)
                            .repetitionPenalty(1.3).build(),
                    GenerationOptions.builder().doSample(false).maxNewTokens(STEPS).ignoreEos(true)
                            .presencePenalty(1.5).frequencyPenalty(0.7).build(),
                    GenerationOptions.builder().doSample(false).maxNewTokens(STEPS).ignoreEos(true)
                            .repetitionPenalty(0.8).presencePenalty(-0.5).frequencyPenalty(1.2).build())) {
                for (String prompt : List.of("Hello", "The quick brown fox")) {
                    int[] ids = pipe.encode(prompt);
                    double[] margins = new double[STEPS];
                    int[] expected = referenceTokens(ids, o, margins);
                    int[] plain = referenceTokens(ids, GenerationOptions.builder().build(), new double[STEPS]);
                    changed += Arrays.equals(expected, plain) ? 0 : 1;
                    Response r = pipe.generate(prompt, o);
                    List<Integer> got = r.tokenIds();
                    for (int i = 0; i < STEPS; i++) {
                        assertEquals(expected[i], got.get(i), "token " + i + " of '" + prompt + "' with " + o);
                        if (margins[i] < 1e-3) {
                            break;
                        }
                    }
                }
            }
            assertTrue(changed >= 2, "the penalties change the greedy tokens in " + changed + " of 6 cases");
        }
    }

    @Test
    void penaltiesAreReadAsMiiOptionsAndRangeChecked() {
        GenerationOptions o = GenerationOptions.fromMap(Map.of("presence_penalty", 0.5, "frequency_penalty", -1,
                "repetition_penalty", 1.1));
        assertEquals(0.5, o.presencePenalty());
        assertEquals(-1.0, o.frequencyPenalty());
        assertEquals(1.1, o.repetitionPenalty());
        assertEquals(o, o.toBuilder().build());
        assertThrows(MiiException.class, () -> GenerationOptions.fromMap(Map.of("presence_penalty", 3)));
        assertThrows(MiiException.class, () -> GenerationOptions.fromMap(Map.of("repetition_penalty", 0)));
        assertThrows(MiiException.class, () -> GenerationOptions.fromMap(Map.of("frequency_penalty", "high")));
    }
}
