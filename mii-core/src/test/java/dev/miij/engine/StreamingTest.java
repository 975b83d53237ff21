package dev.miij.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Streaming, stop strings, seeded sampling and cancellation through the engine, with a detokenizer
 * that spells token t as "[t]" so stop strings can span tokens.
 */
class StreamingTest {

    static WeightSource weights;
    static DecoderModel model;
    static final Fixtures.Case CASE = Fixtures.cases("llama2").get(0);

    static final Detokenizer BRACKETS = () -> new Detokenizer.Stream() {
        @Override
        public String push(int tokenId) {
            return "[" + tokenId + "]";
        }

        @Override
        public String flush() {
            return "";
        }
    };

    @BeforeAll
    static void load() {
        ModelFolder folder = ModelFolder.open(Fixtures.dir("llama2"));
        weights = folder.openWeights();
        model = new DecoderModel(Architectures.fromConfig(folder.config()), weights, new CpuBackend());
    }

    @AfterAll
    static void unload() {
        weights.close();
    }

    static Engine engine() {
        return new Engine(model, EngineConfig.defaults().withKvBlockSize(4).withNumKvBlocks(256), BRACKETS, new int[] {2});
    }

    static String spelled(int[] ids, int from, int to) {
        StringBuilder sb = new StringBuilder();
        for (int i = from; i < to; i++) {
            sb.append('[').append(ids[i]).append(']');
        }
        return sb.toString();
    }

    @Test
    void streamedPiecesConcatenateToTheFinalTextAndTokens() {
        GenerationOptions greedy = GenerationOptions.builder().doSample(false).ignoreEos(true).maxNewTokens(12).build();
        StringBuilder streamed = new StringBuilder();
        List<Integer> ids = new ArrayList<>();
        try (Engine e = engine()) {
            Response r = e.submit(CASE.promptIds(), greedy, (text, tokenIds) -> {
                streamed.append(text);
                for (int t : tokenIds) {
                    ids.add(t);
                }
            }, "").result().join();
            assertEquals(r.generatedText(), streamed.toString());
            assertEquals(r.tokenIds(), ids);
            assertEquals(spelled(CASE.greedyIds(), 0, 12), r.generatedText());
        }
    }

    @Test
    void aStopStringSpanningTokensCutsTheTextAndIsNeverStreamed() {
        // Stop at the text of greedy tokens 3 and 4 together, beginning inside token 3's spelling.
        String t3 = "[" + CASE.greedyIds()[3] + "]";
        String stop = t3.substring(1) + "[" + CASE.greedyIds()[4];
        GenerationOptions options = GenerationOptions.builder().doSample(false).ignoreEos(true).maxNewTokens(20)
                .stop(List.of(stop, "never-appears")).build();
        StringBuilder streamed = new StringBuilder();
        try (Engine e = engine()) {
            Response r = e.submit(CASE.promptIds(), options, (text, ids) -> streamed.append(text), "").result().join();
            String expected = spelled(CASE.greedyIds(), 0, 3) + "[";
            assertEquals(Response.FinishReason.STOP, r.finishReason());
            assertEquals(expected, r.generatedText());
            assertEquals(expected, streamed.toString());
            assertFalse(streamed.toString().contains(stop));
            assertEquals(5, r.generatedLength());
        }
    }

    @Test
    void seededSamplingDoesNotDependOnBatchMates() {
        GenerationOptions seeded = GenerationOptions.builder().seed(1234L).temperature(1.5).topK(50).maxNewTokens(16)
                .ignoreEos(true).build();
        try (Engine e = engine()) {
            Response alone = e.submit(CASE.promptIds(), seeded, StreamListener.NONE, "").result().join();
            List<Engine.Handle> crowd = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                crowd.add(e.submit(Fixtures.cases("llama2").get(i % 4).promptIds(),
                        seeded.toBuilder().seed((long) i).build(), StreamListener.NONE, ""));
            }
            Response batched = e.submit(CASE.promptIds(), seeded, StreamListener.NONE, "").result().join();
            crowd.forEach(h -> h.result().join());
            assertEquals(alone.tokenIds(), batched.tokenIds());
        }
    }

    @Test
    void cancellingFreesBlocksAndFinishesTheRequest() throws Exception {
        GenerationOptions longRun = GenerationOptions.builder().doSample(false).ignoreEos(true).maxNewTokens(200).build();
        try (Engine e = engine()) {
            // The tiny model can produce all 200 tokens before a cancel from another thread lands,
            // so the stream holds the engine at its third token until the cancel has been issued.
            CountDownLatch started = new CountDownLatch(1);
            CountDownLatch cancelIssued = new CountDownLatch(1);
            java.util.concurrent.atomic.AtomicInteger tokens = new java.util.concurrent.atomic.AtomicInteger();
            Engine.Handle h = e.submit(CASE.promptIds(), longRun, (text, ids) -> {
                if (tokens.addAndGet(ids.length) >= 3 && started.getCount() > 0) {
                    started.countDown();
                    try {
                        cancelIssued.await(30, TimeUnit.SECONDS);
                    } catch (InterruptedException ex) {
                        Thread.currentThread().interrupt();
                    }
                }
            }, "");
            assertTrue(started.await(30, TimeUnit.SECONDS));
            h.cancel();
            cancelIssued.countDown();
            Response r = h.result().get(30, TimeUnit.SECONDS);
            assertEquals(Response.FinishReason.CANCELLED, r.finishReason());
            assertTrue(r.generatedLength() < 200);
            // Blocks are returned at once: a full-size request still fits afterwards.
            Response after = e.submit(CASE.promptIds(), GenerationOptions.builder().doSample(false).ignoreEos(true)
                    .maxNewTokens(4).build(), StreamListener.NONE, "").result().join();
            assertEquals(4, after.generatedLength());
            assertEquals(0, e.stats().kvBlocksInUse);
        }
    }

    @Test
    void minNewTokensSuppressesEndOfSequence() {
        // Make EOS the greedy first token by declaring it as such, then require 3 tokens first.
        int first = CASE.greedyIds()[0];
        try (Engine e = new Engine(model, EngineConfig.defaults().withKvBlockSize(4).withNumKvBlocks(64), BRACKETS,
                new int[] {first})) {
            Response stopped = e.submit(CASE.promptIds(), GenerationOptions.builder().doSample(false).maxNewTokens(10)
                    .build(), StreamListener.NONE, "").result().join();
            assertEquals(Response.FinishReason.STOP, stopped.finishReason());
            assertEquals(1, stopped.generatedLength());
            Response held = e.submit(CASE.promptIds(), GenerationOptions.builder().doSample(false).maxNewTokens(10)
                    .minNewTokens(3).build(), StreamListener.NONE, "").result().join();
            assertTrue(held.generatedLength() >= 3);
            assertTrue(held.tokenIds().subList(0, 2).stream().noneMatch(t -> t == first));
        }
    }
}
