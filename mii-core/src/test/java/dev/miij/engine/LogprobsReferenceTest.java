package dev.miij.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.GenerationOptions;
import dev.miij.Mii;
import dev.miij.MiiException;
import dev.miij.Pipeline;
import dev.miij.PipelineOptions;
import dev.miij.Response;
import dev.miij.TokenLogprob;
import dev.miij.arch.Architectures;
import dev.miij.arch.DecoderModel;
import dev.miij.arch.TransformerSpec;
import dev.miij.backend.KvCache;
import dev.miij.backend.Logprobs;
import dev.miij.backend.RaggedBatch;
import dev.miij.backend.SamplingParams;
import dev.miij.backend.cpu.CpuBackend;
import dev.miij.model.ModelFolder;
import dev.miij.model.WeightSource;
import dev.miij.testing.Fixtures;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Log-probabilities against a reference: the log-softmax, in double precision, of the CPU forward
 * pass's own logits, run step by step over the tokens the engine generated. They are the raw model's
 * (vLLM's default), so they do not change with temperature or penalties.
 */
class LogprobsReferenceTest {

    static final String FIXTURE = "llama2";
    static final int STEPS = 8;
    static final double TOLERANCE = 1e-4;

    /** Log-softmax rows of the logits that predicted each of {@code output}, fed after {@code prompt}. */
    static List<double[]> referenceRows(int[] prompt, List<Integer> output) {
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
            int[] tokens = Arrays.copyOf(prompt, prompt.length + output.size());
            for (int i = 0; i < output.size(); i++) {
                tokens[prompt.length + i] = output.get(i);
            }
            List<double[]> rows = new ArrayList<>();
            int computed = 0;
            for (int step = 0; step < output.size(); step++) {
                int length = prompt.length + step;
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
                double max = Double.NEGATIVE_INFINITY;
                for (float l : logits) {
                    max = Math.max(max, l);
                }
                double sum = 0;
                for (float l : logits) {
                    sum += Math.exp(l - max);
                }
                double logZ = max + Math.log(sum);
                double[] row = new double[logits.length];
                for (int i = 0; i < row.length; i++) {
                    row[i] = logits[i] - logZ;
                }
                rows.add(row);
                computed = length;
            }
            return rows;
        }
    }

    static void assertMatches(List<double[]> reference, Response r, int top) {
        List<TokenLogprob> got = r.logprobs();
        assertEquals(r.tokenIds().size(), got.size());
        for (int i = 0; i < got.size(); i++) {
            double[] row = reference.get(i);
            TokenLogprob t = got.get(i);
            assertEquals(r.tokenIds().get(i), t.tokenId());
            assertEquals(row[t.tokenId()], t.logprob(), TOLERANCE, "logprob of token " + i);
            assertEquals(top, t.top().size());
            double[] sorted = row.clone();
            Arrays.sort(sorted);
            for (int k = 0; k < top; k++) {
                TokenLogprob.Alternative a = t.top().get(k);
                assertEquals(row[a.tokenId()], a.logprob(), TOLERANCE, "top " + k + " of token " + i);
                // The k-th most likely, up to ties within the tolerance.
                assertEquals(sorted[sorted.length - 1 - k], a.logprob(), TOLERANCE, "rank " + k + " of token " + i);
                if (k > 0) {
                    assertTrue(a.logprob() <= t.top().get(k - 1).logprob());
                }
            }
        }
    }

    @Test
    void logprobsEqualTheLogSoftmaxOfTheCpuLogits() {
        try (Pipeline pipe = Mii.pipeline(Fixtures.dir(FIXTURE).toString(), PipelineOptions.defaults().withEngine(
                EngineConfig.defaults().withNumKvBlocks(64)))) {
            for (GenerationOptions o : List.of(
                    GenerationOptions.builder().doSample(false).maxNewTokens(STEPS).ignoreEos(true).logprobs(5).build(),
                    // Sampled, hot and penalised: the log-probabilities stay the raw model's.
                    GenerationOptions.builder().temperature(1.7).topK(40).seed(7L).maxNewTokens(STEPS).ignoreEos(true)
                            .repetitionPenalty(1.3).presencePenalty(0.5).logprobs(3).build(),
                    GenerationOptions.builder().doSample(false).maxNewTokens(STEPS).ignoreEos(true).logprobs(0).build())) {
                for (String prompt : List.of("Hello", "The quick brown fox")) {
                    Response r = pipe.generate(prompt, o);
                    assertMatches(referenceRows(pipe.encode(prompt), r.tokenIds()), r, o.logprobs());
                    for (TokenLogprob t : r.logprobs()) {
                        assertEquals(pipe.tokenizer().decode(new int[] {t.tokenId()}, false), t.token());
                    }
                }
            }
            assertNull(pipe.generate("Hello", GenerationOptions.builder().maxNewTokens(2).build()).logprobs());
        }
    }

    @Test
    void streamedLogprobsArriveWithTheirTokens() throws Exception {
        try (Pipeline pipe = Mii.pipeline(Fixtures.dir(FIXTURE).toString(), PipelineOptions.defaults().withEngine(
                EngineConfig.defaults().withNumKvBlocks(64)))) {
            GenerationOptions o = GenerationOptions.builder().doSample(false).maxNewTokens(STEPS).ignoreEos(true)
                    .logprobs(2).build();
            List<Integer> ids = new ArrayList<>();
            List<TokenLogprob> lps = new ArrayList<>();
            StreamListener listener = new StreamListener() {
                @Override
                public void onText(String text, int[] tokenIds) {
                    throw new AssertionError("the three-argument onText is called");
                }

                @Override
                public void onText(String text, int[] tokenIds, List<TokenLogprob> logprobs) {
                    assertEquals(tokenIds.length, logprobs.size());
                    for (int i = 0; i < tokenIds.length; i++) {
                        ids.add(tokenIds[i]);
                        assertEquals(tokenIds[i], logprobs.get(i).tokenId());
                    }
                    lps.addAll(logprobs);
                }
            };
            Response r = pipe.engine().submit(pipe.encode("Hello"), o, listener, "Hello").result().get();
            assertEquals(r.tokenIds(), ids);
            assertEquals(r.logprobs(), lps);
        }
    }

    @Test
    void topLogprobsAreTheLargestWithLowerIdsFirstOnTies() {
        float[] logits = {0f, 3f, 1f, 3f, -2f, 2f};
        Logprobs lp = Logprobs.of(logits, 0, logits.length, 4, 4);
        assertArrayEquals(new int[] {1, 3, 5, 2}, lp.topIds());
        double logZ = Math.log(1 + 2 * Math.exp(3) + Math.exp(1) + Math.exp(-2) + Math.exp(2));
        assertEquals(-2 - logZ, lp.logprob(), 1e-6);
        assertEquals(3 - logZ, lp.topLogprobs()[0], 1e-6);
        assertEquals(0, Logprobs.of(logits, 0, logits.length, 0, 0).topIds().length);
        assertThrows(IllegalArgumentException.class, () -> new SamplingParams(true, 1, 0, 1, false, 0, 0, null, 21));
    }

    @Test
    void logprobsAreAnMiiOptionInZeroToTwenty() {
        assertEquals(5, GenerationOptions.fromMap(Map.of("logprobs", 5)).logprobs());
        assertThrows(MiiException.class, () -> GenerationOptions.fromMap(Map.of("logprobs", 21)));
        assertThrows(MiiException.class, () -> GenerationOptions.fromMap(Map.of("logprobs", -1)));
    }
}
