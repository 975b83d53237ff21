package dev.miij.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.arch.Architectures;
import dev.miij.arch.DecoderModel;
import dev.miij.arch.TransformerSpec;
import dev.miij.backend.KvCache;
import dev.miij.backend.RaggedBatch;
import dev.miij.model.ModelFolder;
import dev.miij.model.WeightSource;
import dev.miij.testing.Fixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/**
 * Every fixed-weight fixture of the core, end to end on the GPU in BF16, against transformers:
 * <ul>
 *   <li>first-step logits within BF16 tolerance of the FP32 reference;</li>
 *   <li>teacher-forced along the FP32 reference continuation, the top-1 token equals the reference's
 *       at every step where the reference's top-1/top-2 margin is at least {@value #CLEAR_MARGIN};</li>
 *   <li>free-running greedy tokens equal transformers' (FP32, and BF16 on a GPU where recorded) up to
 *       the first step whose reference margin is below {@value #CLEAR_MARGIN}.</li>
 * </ul>
 */
class CudaFixtureModelsTest extends OnGpu {

    /** The fixtures of the families the CUDA backend runs (the Llama-shaped ones, mixture of experts included). */
    static final List<String> NAMES = Fixtures.NAMES;
    static final double CLEAR_MARGIN = 0.25;
    /** BF16 weights and activations against FP32: a few hundredths on logits of magnitude ~3. */
    static final double LOGIT_TOLERANCE = 0.06;


    @ParameterizedTest
    @FieldSource("NAMES")
    void matchesTransformers(String name) {
        ModelFolder folder = ModelFolder.open(Fixtures.dir(name));
        TransformerSpec spec = Architectures.fromConfig(folder.config());
        // The model borrows the shared backend: it is not closed with the model.
        try (WeightSource weights = folder.openWeights()) {
            DecoderModel model = new DecoderModel(spec, weights, gpu);
            List<Fixtures.Case> fp32 = Fixtures.cases(name);
            List<Fixtures.Case> bf16 = bf16(name);
            for (int ci = 0; ci < fp32.size(); ci++) {
                Fixtures.Case c = fp32.get(ci);
                String label = name + " case " + ci;
                // Teacher forcing along the reference tokens; step 0 also checks the logits.
                Run forced = new Run(model, c.promptIds());
                for (int step = 0; step < c.greedyIds().length; step++) {
                    float[] logits = forced.next(step == 0 ? -1 : c.greedyIds()[step - 1]);
                    if (step == 0) {
                        double err = maxAbsDiff(logits, c.firstLogits());
                        System.out.printf("%s: first-step logits max |gpu - fp32 ref| = %.4f%n", label, err);
                        assertTrue(err <= LOGIT_TOLERANCE * Math.max(1, maxAbs(c.firstLogits())),
                                label + ": first-step logits differ by " + err);
                    }
                    if (c.margins()[step] >= CLEAR_MARGIN) {
                        assertEquals(c.greedyIds()[step], argmax(logits), label + ": teacher-forced step " + step);
                    }
                }
                int[] greedy = greedy(model, c.promptIds(), c.greedyIds().length);
                int agreed = checkGreedy(label + " vs FP32", c, greedy);
                String bf16Note = "";
                if (ci < bf16.size()) {
                    int agreedBf16 = checkGreedy(label + " vs BF16 GPU", bf16.get(ci), greedy);
                    bf16Note = ", " + agreedBf16 + " vs transformers BF16 on GPU (identical for the first "
                            + commonPrefix(bf16.get(ci).greedyIds(), greedy) + " of " + greedy.length + ")";
                }
                System.out.printf("%s: greedy tokens checked: %d vs FP32%s%n", label, agreed, bf16Note);
            }
        }
    }

    /** transformers' BF16 greedy runs on a GPU (this module's bf16-greedy.json), or none where none were recorded. */
    static List<Fixtures.Case> bf16(String name) {
        Path p = Path.of("mii-cuda/src/test/resources/bf16-greedy.json");
        if (!Files.exists(p)) {
            p = Path.of("src/test/resources/bf16-greedy.json");
        }
        return Files.exists(p) ? Fixtures.read(p, name) : List.of();
    }

    /**
     * Greedy tokens equal up to (not including) the first step whose reference margin is below
     * CLEAR_MARGIN: BF16 rounding moves logits by far more than the FP32 near-tie bound of
     * {@link Fixtures#checkGreedy}.
     */
    private static int checkGreedy(String label, Fixtures.Case ref, int[] actual) {
        int n = Math.min(actual.length, ref.greedyIds().length);
        for (int i = 0; i < n; i++) {
            if (ref.margins()[i] < CLEAR_MARGIN) {
                return i;
            }
            assertEquals(ref.greedyIds()[i], actual[i], label + ": token " + i + "\n actual   " + Arrays.toString(actual)
                    + "\n expected " + Arrays.toString(ref.greedyIds()));
        }
        return n;
    }

    private static int commonPrefix(int[] a, int[] b) {
        int n = 0;
        while (n < Math.min(a.length, b.length) && a[n] == b[n]) {
            n++;
        }
        return n;
    }

    private static int[] greedy(DecoderModel model, int[] prompt, int steps) {
        Run run = new Run(model, prompt);
        int[] out = new int[steps];
        int last = -1;
        for (int i = 0; i < steps; i++) {
            last = argmax(run.next(last));
            out[i] = last;
        }
        return out;
    }

    /** One sequence decoded step by step over a cache whose blocks run backwards (so tables matter). */
    private static final class Run {
        final DecoderModel model;
        final KvCache cache;
        final int[] table = new int[64];
        final int[] tokens = new int[256];
        int length;
        int computed;

        Run(DecoderModel model, int[] prompt) {
            this.model = model;
            this.cache = model.newKvCache(64, 4);
            for (int i = 0; i < table.length; i++) {
                table[i] = 63 - i;
            }
            System.arraycopy(prompt, 0, tokens, 0, prompt.length);
            length = prompt.length;
        }

        /** Appends {@code token} (unless -1, the first step) and returns the next-token logits. */
        float[] next(int token) {
            if (token >= 0) {
                tokens[length++] = token;
            }
            int n = length - computed;
            int[] ids = Arrays.copyOfRange(tokens, computed, length);
            int[] pos = new int[n];
            int[] slots = new int[n];
            for (int i = 0; i < n; i++) {
                pos[i] = computed + i;
                slots[i] = table[pos[i] / 4] * 4 + pos[i] % 4;
            }
            RaggedBatch batch = new RaggedBatch(ids, pos, slots, new int[] {0, n}, new int[] {length},
                    new int[][] {table}, new int[] {n - 1});
            computed = length;
            return model.forward(batch, cache);
        }
    }

    static int argmax(float[] a) {
        int best = 0;
        for (int i = 1; i < a.length; i++) {
            if (a[i] > a[best]) {
                best = i;
            }
        }
        return best;
    }

    static double maxAbsDiff(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
        }
        return m;
    }

    static double maxAbs(float[] a) {
        double m = 0;
        for (float v : a) {
            m = Math.max(m, Math.abs(v));
        }
        return m;
    }
}
