package dev.miij.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.GenerationOptions;
import org.junit.jupiter.api.Test;

/** Sampling follows the distribution transformers' processors define. */
class SamplerTest {

    static final float[] LOGITS = {2.0f, 1.0f, 0.5f, -1.0f, 3.0f, 3.0f};

    @Test
    void greedyTakesTheFirstMaximum() {
        Sampler s = new Sampler(GenerationOptions.builder().doSample(false).build());
        assertEquals(4, s.next(LOGITS, 0, LOGITS.length, 0, new int[0]));
    }

    @Test
    void minNewTokensMasksEndOfSequence() {
        Sampler s = new Sampler(GenerationOptions.builder().doSample(false).minNewTokens(2).build());
        assertEquals(5, s.next(LOGITS, 0, LOGITS.length, 1, new int[] {4}));
        assertEquals(4, s.next(LOGITS, 0, LOGITS.length, 2, new int[] {4}));
    }

    @Test
    void frequenciesMatchSoftmaxWithTopKAndTopP() {
        int draws = 200_000;
        // top_k=3 keeps ids 4, 5, 0; top_p=0.8 then keeps 4 and 5 (each 0.42 of the three).
        Sampler s = new Sampler(GenerationOptions.builder().seed(7L).topK(3).topP(0.8).build());
        int[] counts = new int[LOGITS.length];
        for (int i = 0; i < draws; i++) {
            counts[s.next(LOGITS, 0, LOGITS.length, 0, new int[0])]++;
        }
        assertEquals(0, counts[0] + counts[1] + counts[2] + counts[3]);
        assertEquals(0.5, counts[4] / (double) draws, 0.01);

        Sampler t = new Sampler(GenerationOptions.builder().seed(9L).topP(1.0).temperature(2.0).build());
        counts = new int[LOGITS.length];
        for (int i = 0; i < draws; i++) {
            counts[t.next(LOGITS, 0, LOGITS.length, 0, new int[0])]++;
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
    void theSameSeedGivesTheSameDraws() {
        Sampler a = new Sampler(GenerationOptions.builder().seed(3L).build());
        Sampler b = new Sampler(GenerationOptions.builder().seed(3L).build());
        for (int i = 0; i < 100; i++) {
            assertEquals(a.next(LOGITS, 0, LOGITS.length, 0, new int[0]), b.next(LOGITS, 0, LOGITS.length, 0, new int[0]));
        }
        assertTrue(true);
    }
}
