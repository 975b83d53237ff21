package dev.miij.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.miij.arch.Architectures;
import dev.miij.arch.TransformerSpec;
import dev.miij.engine.Detokenizer;
import dev.miij.engine.Engine;
import dev.miij.engine.EngineConfig;
import dev.miij.model.ModelFolder;
import dev.miij.model.WeightSource;
import dev.miij.parallel.LeadRank;
import dev.miij.parallel.ProcessGroup;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --tensor-parallel N}: generate and bench start N - 1 rank processes and give the tokens of
 * one rank; serve and k8s refuse N > 1 saying what works; a worker pod joins its leader through the
 * LeaderWorkerSet variables.
 */
@Timeout(180)
class TensorParallelFlagTest {

    static final String MODEL = GenerateCommandTest.FIXTURES.resolve("llama3").toString();

    static List<String> generate(int tensorParallel) throws Exception {
        GenerateCommandTest.Run r = GenerateCommandTest.run("generate", "--model", MODEL, "--device", "cpu",
                "--tensor-parallel", Integer.toString(tensorParallel), "--max-new-tokens", "8", "--greedy", "--ignore-eos",
                "--kv-block-size", "4", "--num-kv-blocks", "64", "--json", "In the beginning", "hello world, hello");
        assertEquals(0, r.exit(), r.err());
        JsonNode arr = new ObjectMapper().readTree(r.out());
        return List.of(arr.get(0).get("token_ids").toString(), arr.get(1).get("token_ids").toString());
    }

    @Test
    void generateInTwoProcessesGivesTheTokensOfOne() throws Exception {
        List<String> one = generate(1);
        List<String> two = generate(2);
        assertEquals(one, two);
    }

    @Test
    void benchRunsAWorkloadOverTwoRanks() throws Exception {
        GenerateCommandTest.Run r = GenerateCommandTest.run("bench", "--model", MODEL, "--device", "cpu",
                "--tensor-parallel", "2", "--batch-size", "2", "--num-requests", "2", "--input-len", "8", "--output-len",
                "4", "--json");
        assertEquals(0, r.exit(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertEquals(2, j.get("tensor_parallel").asInt());
        assertTrue(j.get("tpot_ms").asDouble() > 0, r.out());
    }

    @Test
    void serveAndK8sRefuseMoreThanOneRankSayingWhatWorks(@TempDir Path dir) {
        for (String[] args : new String[][] {{"serve", MODEL, "--tensor-parallel", "2"},
                {"k8s", MODEL, "--deployment-name", "tp", "--tensor-parallel", "2", "--output",
                        dir.resolve("chart").toString()}}) {
            GenerateCommandTest.Run r = GenerateCommandTest.run(args);
            assertNotEquals(0, r.exit(), args[0]);
            assertTrue(r.err().contains("--tensor-parallel 2: 'mii " + args[0] + "' does not start tensor-parallel ranks yet")
                    && r.err().contains("'mii generate' and 'mii bench' do"), args[0] + ": " + r.err());
            assertFalse(r.err().contains("at dev.miij"), r.err());
        }
        GenerateCommandTest.Run zero = GenerateCommandTest.run("generate", "--model", MODEL, "--tensor-parallel", "0", "hi");
        assertTrue(zero.err().contains("must be >= 1"), zero.err());
    }

    @Test
    void aModelThatDoesNotSplitIsRefusedBeforeAnyProcessStarts() {
        // The fixture has 4 attention heads: three ranks cannot share them.
        GenerateCommandTest.Run r = GenerateCommandTest.run("generate", "--model", MODEL, "--device", "cpu",
                "--tensor-parallel", "3", "hi");
        assertEquals(1, r.exit(), r.err());
        assertTrue(r.err().contains("tensor parallelism over 3 ranks") && r.err().contains("4 attention heads"), r.err());
    }

    @Test
    void aWorkerPodJoinsItsLeaderThroughTheLeaderWorkerSetVariables() throws Exception {
        ModelFolder folder = ModelFolder.open(Path.of(MODEL));
        TransformerSpec spec = Architectures.fromConfig(folder.config());
        ServerSocket server = new ServerSocket(0, 4, InetAddress.getLoopbackAddress());
        Map<String, String> env = Map.of("LWS_LEADER_ADDRESS", "127.0.0.1", "LWS_WORKER_INDEX", "1", "LWS_GROUP_SIZE", "2",
                "MII_RENDEZVOUS_PORT", Integer.toString(server.getLocalPort()));
        CompletableFuture<Integer> worker = CompletableFuture.supplyAsync(
                () -> WorkerCommand.followLeader(env, 2, System.err, false));
        ProcessGroup.Timeouts t = new ProcessGroup.Timeouts(Duration.ofSeconds(30), Duration.ofSeconds(10));
        try (WeightSource weights = folder.openWeights();
             LeadRank lead = LeadRank.lead(ProcessGroup.lead(server, 2, t, () -> { }), folder.dir(), spec, weights, "cpu");
             Engine engine = new Engine(lead.model(), EngineConfig.defaults().withKvBlockSize(4).withNumKvBlocks(32),
                     Detokenizer.NONE, new int[0])) {
            int[] prompt = {1, 17, 42, 99};
            var options = dev.miij.GenerationOptions.builder().doSample(false).ignoreEos(true).maxNewTokens(4).build();
            assertEquals(4, engine.submit(prompt, options, dev.miij.engine.StreamListener.NONE, "").result()
                    .get(60, TimeUnit.SECONDS).generatedLength());
        }
        assertEquals(0, worker.get(30, TimeUnit.SECONDS), "the worker exits cleanly when its leader ends the group");
        assertEquals(2, WorkerCommand.followLeader(Map.of("LWS_LEADER_ADDRESS", "x", "LWS_WORKER_INDEX", "1",
                "LWS_GROUP_SIZE", "3"), 2, System.err, false), "one rank per pod: the sizes must agree");
    }
}
