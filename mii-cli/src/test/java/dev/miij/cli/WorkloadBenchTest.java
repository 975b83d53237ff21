package dev.miij.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.miij.backend.Devices;
import dev.miij.cli.GenerateCommandTest.Run;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code mii bench} with a workload: the JSON that automated checks read, and the device options. */
class WorkloadBenchTest {

    static final String FIXTURE = Path.of("../mii-core/src/test/resources/fixtures/llama2").toString();

    @Test
    void jsonIsOneObjectWithTheStableFields(@TempDir Path dir) throws Exception {
        Run r = GenerateCommandTest.run("bench", "--device", "cpu", "--dummy", "tiny", "--dummy-dir", dir.toString(),
                "--batch-size", "2", "--num-requests", "3", "--input-len", "12", "--output-len", "5", "--json");
        assertEquals(0, r.exit(), r.err());
        String out = r.out().strip();
        assertFalse(out.contains("\n"), "stdout holds exactly one line of JSON: " + out);
        JsonNode j = new ObjectMapper().readTree(out);
        List<String> names = new ArrayList<>();
        j.fieldNames().forEachRemaining(names::add);
        assertEquals(WorkloadBench.FIELDS, names, "fields and their order");
        assertTrue(j.get("device").asText().startsWith("cpu"), out);
        assertEquals("tiny", j.get("model").asText());
        assertEquals(2, j.get("batch_size").asInt());
        assertEquals(3, j.get("num_requests").asInt());
        assertEquals(12, j.get("input_len").asInt());
        assertEquals(5, j.get("output_len").asInt());
        for (String f : List.of("ttft_ms", "tpot_ms", "output_tokens_per_s", "total_tokens_per_s", "read_bandwidth_gbs",
                "roofline_tpot_ms", "elapsed_s")) {
            assertTrue(j.get(f).isNumber() && j.get(f).asDouble() > 0, f + " in " + out);
        }
        assertTrue(j.get("weight_bytes").isIntegralNumber() && j.get("weight_bytes").asLong() > 0, out);
        double seconds = j.get("elapsed_s").asDouble();
        assertEquals(3 * 5 / seconds, j.get("output_tokens_per_s").asDouble(), 0.05 * 3 * 5 / seconds);
        assertEquals(3 * (12 + 5) / seconds, j.get("total_tokens_per_s").asDouble(), 0.05 * 3 * 17 / seconds);
        assertEquals(j.get("weight_bytes").asDouble() / j.get("read_bandwidth_gbs").asDouble() / 1e6,
                j.get("roofline_tpot_ms").asDouble(), 0.02 * j.get("roofline_tpot_ms").asDouble());
        assertEquals("cpu", j.get("backend").asText());
    }

    @Test
    void withoutJsonTheReportIsText(@TempDir Path dir) {
        Run r = GenerateCommandTest.run("bench", "--device", "cpu", "--dummy", "tiny", "--dummy-dir", dir.toString(),
                "--num-requests", "2", "--input-len", "8", "--output-len", "3");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("TPOT (median):"), r.out());
        assertTrue(r.out().contains("2 requests of 8 prompt + 3 new tokens, at most 1 at once"), r.out());
    }

    @Test
    void badOptionsAreOneLineErrors(@TempDir Path dir) {
        String d = dir.toString();
        String[][] cases = {
                {"device must be cpu, cuda or cuda:N", "bench", "--device", "gpu0", "--dummy", "tiny", "--dummy-dir", d},
                {"device must be cpu, cuda or cuda:N", "generate", "--model", FIXTURE, "--device", "cuda:x", "hello"},
                {"--gpu-memory-utilization must be in (0, 1]", "bench", "--device", "cpu", "--gpu-memory-utilization", "1.5",
                        "--dummy", "tiny", "--dummy-dir", d, "--json"},
                {"must be positive", "bench", "--device", "cpu", "--batch-size", "0", "--dummy", "tiny", "--dummy-dir", d},
                {"give --model or --dummy, not both", "bench", "--model", d, "--dummy", "tiny"},
                {"--decode-only is part of the CPU suite", "bench", "--device", "cpu", "--json", "--decode-only", "--dummy",
                        "tiny", "--dummy-dir", d},
        };
        for (String[] c : cases) {
            String[] args = java.util.Arrays.copyOfRange(c, 1, c.length);
            Run r = GenerateCommandTest.run(args);
            assertEquals(1, r.exit(), String.join(" ", args) + ": " + r.out() + r.err());
            assertTrue(r.err().contains(c[0]), String.join(" ", args) + ": " + r.err());
            assertFalse(r.err().contains("at dev.miij"), "no stack trace without --debug: " + r.err());
            assertEquals("", r.out(), "nothing on stdout: " + String.join(" ", args));
        }
    }

    @Test
    void cudaWithoutAGpuIsAClearError(@TempDir Path dir) {
        assumeTrue(Devices.gpuCount() == 0, "this machine has a GPU");
        for (String cmd : List.of("bench", "generate", "serve")) {
            List<String> args = new ArrayList<>(List.of(cmd, "--device", "cuda"));
            if (cmd.equals("bench")) {
                args.addAll(List.of("--dummy", "tiny", "--dummy-dir", dir.toString(), "--json"));
            } else if (cmd.equals("generate")) {
                args.addAll(List.of("--model", FIXTURE, "hello"));
            }
            Run r = GenerateCommandTest.run(args.toArray(String[]::new));
            assertEquals(1, r.exit(), cmd + ": " + r.out() + r.err());
            assertTrue(r.err().contains("device 'cuda' was asked for, but no usable GPU was found"), cmd + ": " + r.err());
            assertTrue(r.err().contains("use --device cpu"), r.err());
        }
    }
}
