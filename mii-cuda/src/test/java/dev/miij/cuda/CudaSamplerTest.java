package dev.miij.cuda;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.backend.Logprobs;
import dev.miij.backend.Sampled;
import dev.miij.backend.Sampler;
import dev.miij.backend.SamplingParams;
import dev.miij.backend.Tensor;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The device sampler against the CPU reference ({@link Sampler}) on the same BF16 logits: greedy and
 * end-of-sequence masking exactly, top-k / top-p / temperature draws by their distribution (a
 * two-sample chi-square test), and seeded draws reproducible whatever shares the batch.
 */
class CudaSamplerTest {

    private static final int VOCAB = 1000;
    private static final int ROWS = 1000;
    private static CudaBackend gpu;

    @BeforeAll
    static void open() {
        if (CudaBackendProvider.deviceCount() > 0) {
            gpu = new CudaBackend(0);
        }
    }

    @AfterAll
    static void close() {
        if (gpu != null) {
            gpu.close();
        }
    }

    /** Logits BF16 can hold, coarse enough that some tie at the cuts. */
    private static float[] logits(long seed) {
        Random rnd = new Random(seed);
        float[] row = new float[VOCAB];
        for (int i = 0; i < VOCAB; i++) {
            row[i] = Math.round(rnd.nextGaussian() * 3 * 8) / 8f;
        }
        return Gpu.bf16(row);
    }

    private static int[] onGpu(float[] row, SamplingParams[] params, int[] eos) {
        float[] all = new float[params.length * VOCAB];
        for (int r = 0; r < params.length; r++) {
            System.arraycopy(row, 0, all, r * VOCAB, VOCAB);
        }
        gpu.beginStep();
        Tensor t = gpu.upload(all, params.length, VOCAB);
        return gpu.sample(t, params, eos);
    }

    @Test
    void logprobRowsMatchTheCpuAndOthersStayOnTheDevicePath() {
        Gpu.assumeGpu();
        float[] row = logits(11);
        SamplingParams[] params = {
            new SamplingParams(true, 1, 0, 1, false, 0, 0, null, 5),
            new SamplingParams(false, 0.8, 40, 0.9, false, 3, 2, null, -1),
            new SamplingParams(false, 1.5, 0, 1, false, 7, 1, null, 0)};
        float[] all = new float[params.length * VOCAB];
        for (int r = 0; r < params.length; r++) {
            System.arraycopy(row, 0, all, r * VOCAB, VOCAB);
        }
        gpu.beginStep();
        Sampled got = gpu.sampleWithLogprobs(gpu.upload(all, params.length, VOCAB), params, new int[0]);
        for (int r = 0; r < params.length; r++) {
            assertEquals(Sampler.sample(row, 0, VOCAB, params[r], new int[0]), got.tokens()[r], "row " + r);
            if (params[r].wantsLogprobs()) {
                Logprobs want = Logprobs.of(row, 0, VOCAB, got.tokens()[r], params[r].logprobs());
                assertEquals(want.logprob(), got.logprobs(r).logprob(), 1e-6);
                org.junit.jupiter.api.Assertions.assertArrayEquals(want.topIds(), got.logprobs(r).topIds());
            } else {
                org.junit.jupiter.api.Assertions.assertNull(got.logprobs(r));
            }
        }
        // Without a row asking, it is sample() itself.
        SamplingParams[] none = {SamplingParams.GREEDY};
        gpu.beginStep();
        Sampled plain = gpu.sampleWithLogprobs(gpu.upload(row, 1, VOCAB), none, new int[0]);
        assertEquals(Sampler.argmax(row), plain.tokens()[0]);
        org.junit.jupiter.api.Assertions.assertNull(plain.logprobs());
    }

    @Test
    void greedyAndEndOfSequenceMaskMatchTheCpu() {
        Gpu.assumeGpu();
        for (long seed = 0; seed < 5; seed++) {
            float[] row = logits(seed);
            int best = Sampler.argmax(row);
            SamplingParams greedy = SamplingParams.GREEDY;
            SamplingParams masked = new SamplingParams(true, 1, 0, 1, true, 0, 0);
            int[] got = onGpu(row, new SamplingParams[] {greedy, masked}, new int[] {best});
            assertEquals(Sampler.sample(row, 0, VOCAB, greedy, new int[] {best}), got[0]);
            assertEquals(Sampler.sample(row, 0, VOCAB, masked, new int[] {best}), got[1]);
        }
    }

    @Test
    void topKTopPDistributionMatchesTheCpu() {
        Gpu.assumeGpu();
        double[][] settings = {{0.8, 50, 0.9}, {1.0, 0, 0.7}, {1.5, 20, 1.0}, {0.7, 0, 1.0}};
        for (double[] set : settings) {
            float[] row = logits(42);
            int draws = 20 * ROWS;
            int[] cpu = new int[VOCAB];
            int[] dev = new int[VOCAB];
            for (int i = 0; i < draws; i++) {
                cpu[Sampler.sample(row, 0, VOCAB, params(set, 1, i), new int[0])]++;
            }
            for (int c = 0; c < draws / ROWS; c++) {
                SamplingParams[] p = new SamplingParams[ROWS];
                for (int i = 0; i < ROWS; i++) {
                    p[i] = params(set, 2, c * ROWS + i);
                }
                for (int t : onGpu(row, p, new int[0])) {
                    dev[t]++;
                }
            }
            double chi2 = 0;
            int categories = 0;
            for (int i = 0; i < VOCAB; i++) {
                if (cpu[i] + dev[i] > 0) {
                    chi2 += Math.pow(cpu[i] - dev[i], 2) / (cpu[i] + dev[i]);
                    categories++;
                }
            }
            int df = Math.max(1, categories - 1);
            // About a one-in-a-million false alarm for these degrees of freedom.
            double limit = df + 7 * Math.sqrt(2.0 * df) + 10;
            assertTrue(chi2 < limit, Arrays.toString(set) + ": chi-square " + chi2 + " over " + df + " degrees of freedom");
        }
    }

    private static SamplingParams params(double[] set, long seed, int step) {
        return new SamplingParams(false, set[0], (int) set[1], set[2], false, seed, step);
    }

    @Test
    void seededDrawsAreReproducibleWhateverSharesTheBatch() {
        Gpu.assumeGpu();
        float[] row = logits(7);
        SamplingParams[] alone = new SamplingParams[64];
        for (int i = 0; i < alone.length; i++) {
            alone[i] = new SamplingParams(false, 1.0, 40, 0.95, false, 1234, i);
        }
        int[] first = onGpu(row, alone, new int[0]);
        assertArrayEquals(first, onGpu(row, alone, new int[0]));
        SamplingParams[] mixed = new SamplingParams[128];
        for (int i = 0; i < mixed.length; i++) {
            mixed[i] = i % 2 == 0 ? alone[i / 2] : new SamplingParams(false, 2.0, 0, 1.0, false, i, i);
        }
        int[] together = onGpu(row, mixed, new int[0]);
        for (int i = 0; i < alone.length; i++) {
            assertEquals(first[i], together[2 * i], "draw " + i);
        }
    }
}
