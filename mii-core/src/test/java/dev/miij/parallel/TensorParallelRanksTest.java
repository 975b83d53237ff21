package dev.miij.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.GenerationOptions;
import dev.miij.MiiException;
import dev.miij.arch.Architectures;
import dev.miij.arch.DecoderModel;
import dev.miij.arch.TransformerSpec;
import dev.miij.backend.cpu.CpuBackend;
import dev.miij.engine.Detokenizer;
import dev.miij.engine.Engine;
import dev.miij.engine.StreamListener;
import dev.miij.model.ModelFolder;
import dev.miij.model.WeightSource;
import dev.miij.testing.Fixtures;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Rank 0 runs the engine and the other ranks, joined over TCP, follow its steps: as threads running
 * {@link RankMain#run} and as real processes started by {@link LeadRank#launch}, the greedy tokens
 * are those of the unsharded model; a rank process killed in the middle of generation fails the
 * requests with an error naming it, and every process ends.
 */
@Timeout(120)
class TensorParallelRanksTest {

    final ExecutorService pool = Executors.newCachedThreadPool();

    @AfterEach
    void stop() {
        pool.shutdownNow();
    }

    @Test
    void ranksAsThreadsOverTcpGiveTheUnshardedTokens() throws Exception {
        for (String[] c : new String[][] {{"llama3", "2"}, {"gpt2", "4"}}) {
            String name = c[0];
            int size = Integer.parseInt(c[1]);
            ModelFolder folder = ModelFolder.open(Fixtures.dir(name));
            TransformerSpec spec = Architectures.fromConfig(folder.config());
            try (WeightSource weights = folder.openWeights()) {
                List<int[]> expected = unsharded(spec, weights, name);
                ServerSocket server = ProcessGroupTest.listen();
                int port = server.getLocalPort();
                List<Future<Integer>> followers = new ArrayList<>();
                for (int r = 1; r < size; r++) {
                    int rank = r;
                    followers.add(pool.submit(() -> RankMain.run("127.0.0.1", port, rank, size, ProcessGroupTest.FAST,
                            System.err, false)));
                }
                ProcessGroup group = ProcessGroup.lead(server, size, ProcessGroupTest.FAST, () -> { });
                try (LeadRank lead = LeadRank.lead(group, folder.dir(), spec, weights, "cpu");
                     Engine engine = new Engine(lead.model(), ShardedEngineTest.CONFIG, Detokenizer.NONE, new int[] {2})) {
                    assertEquals(size, lead.model().tensorParallel().size());
                    assertTokens(expected, ShardedEngineTest.generate(engine, name), name + " TP=" + size);
                }
                for (Future<Integer> f : followers) {
                    assertEquals(0, f.get(10, TimeUnit.SECONDS), "a follower exits cleanly once rank 0 closes the group");
                }
            }
        }
    }

    @Test
    void twoProcessesGiveTheUnshardedTokens() throws Exception {
        String name = "llama3";
        ModelFolder folder = ModelFolder.open(Fixtures.dir(name));
        TransformerSpec spec = Architectures.fromConfig(folder.config());
        try (WeightSource weights = folder.openWeights()) {
            List<int[]> expected;
            try (DecoderModel full = new DecoderModel(spec, weights, new CpuBackend());
                 Engine engine = new Engine(full, ShardedEngineTest.CONFIG, Detokenizer.NONE, new int[] {2})) {
                expected = generateOnce(engine, name);
            }
            Process rank1;
            try (LeadRank lead = LeadRank.launch(folder.dir(), spec, weights, "cpu", 2, ProcessGroupTest.FAST);
                 Engine engine = new Engine(lead.model(), ShardedEngineTest.CONFIG, Detokenizer.NONE, new int[] {2})) {
                rank1 = lead.processes().getFirst();
                assertTrue(rank1.isAlive());
                assertTokens(expected, generateOnce(engine, name), name + " TP=2 in two processes");
            }
            assertTrue(rank1.waitFor(10, TimeUnit.SECONDS));
            assertEquals(0, rank1.exitValue(), "rank 1 exits cleanly once rank 0 closes the group");
        }
    }

    @Test
    void aKilledRankProcessFailsTheRequestsNamingIt() throws Exception {
        ModelFolder folder = ModelFolder.open(Fixtures.dir("llama3"));
        TransformerSpec spec = Architectures.fromConfig(folder.config());
        try (WeightSource weights = folder.openWeights();
             LeadRank lead = LeadRank.launch(folder.dir(), spec, weights, "cpu", 2, ProcessGroupTest.FAST);
             Engine engine = new Engine(lead.model(), ShardedEngineTest.CONFIG, Detokenizer.NONE, new int[] {2})) {
            CountDownLatch started = new CountDownLatch(1);
            GenerationOptions long_ = GenerationOptions.builder().doSample(false).ignoreEos(true).maxNewTokens(200).build();
            Engine.Handle h = engine.submit(Fixtures.cases("llama3").getFirst().promptIds(), long_,
                    (text, ids) -> started.countDown(), "");
            assertTrue(started.await(30, TimeUnit.SECONDS));
            long t0 = System.nanoTime();
            lead.processes().getFirst().destroyForcibly(); // SIGKILL: no goodbye
            ExecutionException e = assertThrows(ExecutionException.class, () -> h.result().get(20, TimeUnit.SECONDS));
            assertTrue(e.getCause() instanceof MiiException, String.valueOf(e.getCause()));
            assertTrue(e.getCause().getMessage().contains("rank 1 of the tensor-parallel group disconnected"),
                    e.getCause().getMessage());
            assertTrue(System.nanoTime() - t0 < TimeUnit.SECONDS.toNanos(10), "within a bounded time");
            // The group is over: a new request fails at once with the same reason instead of hanging.
            Engine.Handle next = engine.submit(Fixtures.cases("llama3").getFirst().promptIds(), long_, StreamListener.NONE, "");
            ExecutionException again = assertThrows(ExecutionException.class, () -> next.result().get(20, TimeUnit.SECONDS));
            assertTrue(again.getCause().getMessage().contains("rank 1"), again.getCause().getMessage());
        }
    }

    static List<int[]> unsharded(TransformerSpec spec, WeightSource weights, String name) throws Exception {
        try (DecoderModel full = new DecoderModel(spec, weights, new CpuBackend());
             Engine engine = new Engine(full, ShardedEngineTest.CONFIG, Detokenizer.NONE, new int[] {2})) {
            return ShardedEngineTest.generate(engine, name);
        }
    }

    /** Each fixture prompt once, batched (a new JVM's first steps run before the JIT has compiled the kernels: keep it short). */
    static List<int[]> generateOnce(Engine engine, String name) throws Exception {
        GenerationOptions greedy = GenerationOptions.builder().doSample(false).ignoreEos(true).maxNewTokens(8).build();
        List<Engine.Handle> handles = new ArrayList<>();
        for (Fixtures.Case c : Fixtures.cases(name)) {
            handles.add(engine.submit(c.promptIds(), greedy, StreamListener.NONE, c.prompt()));
        }
        List<int[]> out = new ArrayList<>();
        for (Engine.Handle h : handles) {
            out.add(h.result().get(1, TimeUnit.MINUTES).tokenIds().stream().mapToInt(Integer::intValue).toArray());
        }
        return out;
    }

    static void assertTokens(List<int[]> expected, List<int[]> actual, String label) {
        assertEquals(expected.size(), actual.size());
        for (int i = 0; i < expected.size(); i++) {
            assertArrayEquals(expected.get(i), actual.get(i), label + " request " + i);
        }
    }
}
