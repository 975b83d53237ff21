package dev.miij.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import dev.miij.GenerationOptions;
import org.junit.jupiter.api.Test;

/** Sampling follows the distribution transformers' processors define. */
class SamplerTest {

    static final float[] LOGITS = {2.0f, 1.0f, 0.5f, -1.0f, 3.0f, 3.0f};

    private static int draw(GenerationOptions o, long seed, int step, int[] eos) {
        return Sampler.sample(LOGITS, 0, LOGITS.length, SamplingParams.of(o, seed, step), eos);
    }

    @Test
    void greedyTakesTheFirstMaximum() {
        assertEquals(4, draw(GenerationOptions.builder().doSample(false).build(), 0, 0, new int[0]));
    }

    @Test
    void minNewTokensMasksEndOfSequence() {
        GenerationOptions o = GenerationOptions.builder().doSample(false).minNewTokens(2).build();
        assertEquals(5, draw(o, 0, 1, new int[] {4}));
        assertEquals(4, draw(o, 0, 2, new int[] {4}));
    }

    @Test
    void frequenciesMatchSoftmaxWithTopKAndTopP() {
        int draws = 200_000;
        // top_k=3 keeps ids 4, 5, 0; top_p=0.8 then keeps 4 and 5 (each 0.42 of the three).
        GenerationOptions o = GenerationOptions.builder().seed(7L).topK(3).topP(0.8).build();
        int[] counts = new int[LOGITS.length];
        for (int i = 0; i < draws; i++) {
            counts[draw(o, 7, i, new int[0])]++;
        }
        assertEquals(0, counts[0] + counts[1] + counts[2] + counts[3]);
        assertEquals(0.5, counts[4] / (double) draws, 0.01);

        GenerationOptions t = GenerationOptions.builder().seed(9L).topP(1.0).temperature(2.0).build();
        counts = new int[LOGITS.length];
        for (int i = 0; i < draws; i++) {
            counts[draw(t, 9, i, new int[0])]++;
        }
        double z = 0;
        for (float l : LOGITS) {
            z += Math.exp(l / 2.0);
        }
        for (int i = 0; i < LOGITS.length; i++) {
            double expected = Math.exp(LOGITS[i] / 2.0) / z;
            assertEquals(expected, counts[i] / (double) draws, 0.01, "token " + i);
        }
    }

    @Test
    void aDrawDependsOnlyOnSeedAndStep() {
        GenerationOptions o = GenerationOptions.builder().seed(3L).build();
        int differing = 0;
        for (int i = 0; i < 100; i++) {
            assertEquals(draw(o, 3, i, new int[0]), draw(o, 3, i, new int[0]));
            differing += draw(o, 3, i, new int[0]) != draw(o, 4, i, new int[0]) ? 1 : 0;
        }
        assertNotEquals(0, differing);
    }

    @Test
    void uniformNumbersAreSpreadOverTheUnitInterval() {
        int[] buckets = new int[10];
        for (int i = 0; i < 100_000; i++) {
            double u = SamplingParams.uniform(42, i);
            buckets[(int) (u * 10)]++;
        }
        for (int b : buckets) {
            assertEquals(10_000, b, 500);
        }
    }
}
