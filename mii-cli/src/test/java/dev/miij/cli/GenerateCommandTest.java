package dev.miij.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CLI contract: --json output, engine flags, and one clear line per error with a non-zero exit. */
class GenerateCommandTest {

    static final Path FIXTURES = Path.of("../mii-core/src/test/resources/fixtures");

    record Run(int exit, String out, String err) {
    }

    static synchronized Run run(String... args) {
        PrintStream oldOut = System.out;
        PrintStream oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            int exit = MiiCommand.execute(args);
            return new Run(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    static JsonNode reference(String name) throws IOException {
        return new ObjectMapper().readTree(FIXTURES.resolve(name).resolve("reference.json").toFile()).get("cases");
    }

    @Test
    void jsonOutputIsOneArrayWithTheGreedyTokensOfEachPrompt() throws IOException {
        JsonNode cases = reference("qwen3");
        String p0 = cases.get(0).get("prompt").asText();
        String p1 = cases.get(2).get("prompt").asText();
        Run r = run("generate", "--model", FIXTURES.resolve("qwen3").toString(), "--max-new-tokens", "6", "--greedy",
                "--ignore-eos", "--json", "--max-ragged-batch-size", "5", "--kv-block-size", "4", "--num-kv-blocks", "32",
                p0, p1);
        assertEquals(0, r.exit(), r.err());
        JsonNode arr = new ObjectMapper().readTree(r.out());
        assertTrue(arr.isArray());
        assertEquals(2, arr.size());
        int i = 0;
        for (int c : new int[] {0, 2}) {
            JsonNode o = arr.get(i++);
            assertEquals(6, o.get("generated_length").asInt());
            assertEquals("length", o.get("finish_reason").asText());
            assertEquals(cases.get(c).get("prompt_ids").size(), o.get("prompt_length").asInt());
            for (int t = 0; t < 6; t++) {
                assertEquals(cases.get(c).get("greedy_ids").get(t).asInt(), o.get("token_ids").get(t).asInt());
            }
            assertTrue(o.has("generated_text"));
        }
        assertEquals(r.out().strip(), r.out().strip().lines().findFirst().orElseThrow(), "stdout must be one JSON line");
    }

    @Test
    void noWarmupTurnsTheStartUpWarmupOffAndDebugReportsTheTimings() {
        String was = System.getProperty("mii.warmup");
        try {
            System.clearProperty("mii.warmup");
            GenerateCommand on = new GenerateCommand();
            new picocli.CommandLine(on).parseArgs("hello");
            assertTrue(on.engineFlags.toConfig().warmup(), "on by default");
            GenerateCommand off = new GenerateCommand();
            new picocli.CommandLine(off).parseArgs("--no-warmup", "hello");
            assertFalse(off.engineFlags.toConfig().warmup());
            System.setProperty("mii.warmup", "false");
            GenerateCommand property = new GenerateCommand();
            new picocli.CommandLine(property).parseArgs("hello");
            assertFalse(property.engineFlags.toConfig().warmup(), "-Dmii.warmup=false");
        } finally {
            if (was == null) {
                System.clearProperty("mii.warmup");
            } else {
                System.setProperty("mii.warmup", was);
            }
        }
        Run r = run("generate", "--model", FIXTURES.resolve("qwen3").toString(), "--max-new-tokens", "3", "--greedy",
                "--no-warmup", "--debug", "--kv-block-size", "4", "--num-kv-blocks", "32", "hello");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("model ready") && r.err().contains("1 prompt, 3 tokens generated in"), r.err());
    }

    @Test
    void missingFolderIsOneClearLine() {
        Run r = run("generate", "--model", "/no/such/model/folder", "hello");
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("/no/such/model/folder"), r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace without --debug: " + r.err());
        assertEquals("", r.out());
    }

    @Test
    void unsupportedArchitectureListsTheSupportedOnes(@TempDir Path dir) throws IOException {
        Files.copy(FIXTURES.resolve("llama2/tokenizer.json"), dir.resolve("tokenizer.json"));
        Files.writeString(dir.resolve("config.json"), "{\"model_type\": \"t5\", \"hidden_size\": 64}");
        Run r = run("generate", "--model", dir.toString(), "hello");
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("t5") && r.err().contains("llama") && r.err().contains("bloom")
                && r.err().contains("gemma3_text"), r.err());
    }

    @Test
    void truncatedWeightsAreReported(@TempDir Path dir) throws IOException {
        for (String f : new String[] {"config.json", "tokenizer.json", "tokenizer_config.json"}) {
            Files.copy(FIXTURES.resolve("llama2").resolve(f), dir.resolve(f));
        }
        byte[] w = Files.readAllBytes(FIXTURES.resolve("llama2/model.safetensors"));
        Files.write(dir.resolve("model.safetensors"), java.util.Arrays.copyOf(w, w.length / 2));
        Run r = run("generate", "--model", dir.toString(), "hello");
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("model.safetensors"), r.err());
        assertFalse(r.err().contains("\tat "));
    }

    @Test
    void badTokenizerJsonIsReported(@TempDir Path dir) throws IOException {
        for (String f : new String[] {"config.json", "model.safetensors"}) {
            Files.copy(FIXTURES.resolve("llama2").resolve(f), dir.resolve(f));
        }
        Files.writeString(dir.resolve("tokenizer.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": [1, 2");
        Run r = run("generate", "--model", dir.toString(), "hello");
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("tokenizer.json"), r.err());
    }

    @Test
    void promptLongerThanTheContextIsRejected() {
        String longPrompt = "the quick brown fox ".repeat(200);
        Run r = run("generate", "--model", FIXTURES.resolve("llama2").toString(), longPrompt);
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("context"), r.err());
    }

    @Test
    void invalidOptionValuesAreRejected() {
        String model = FIXTURES.resolve("llama2").toString();
        Run negative = run("generate", "--model", model, "--max-new-tokens", "-3", "hi");
        assertEquals(1, negative.exit());
        assertTrue(negative.err().contains("max_new_tokens"), negative.err());
        Run topP = run("generate", "--model", model, "--top-p", "1.5", "hi");
        assertEquals(1, topP.exit());
        assertTrue(topP.err().contains("top_p"), topP.err());
        Run notANumber = run("generate", "--model", model, "--max-new-tokens", "many", "hi");
        assertEquals(2, notANumber.exit());
        assertTrue(notANumber.err().contains("--max-new-tokens"), notANumber.err());
        Run budget = run("generate", "--model", model, "--max-ragged-batch-size", "0", "hi");
        assertEquals(1, budget.exit());
        assertTrue(budget.err().contains("max_ragged_batch_size"), budget.err());
    }

    @Test
    void debugShowsTheStackTrace() {
        Run r = run("generate", "--debug", "--model", "/no/such/model/folder", "hello");
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("\tat "), r.err());
    }

    @Test
    void theDemoModelIsTheDefault() {
        String old = System.getProperty("mii.home");
        System.setProperty("mii.home", "..");
        try {
            Run r = run("generate", "--greedy", "--max-new-tokens", "8", "--json", "In the beginning");
            assertEquals(0, r.exit(), r.err());
            assertTrue(r.out().contains("\"generated_length\":8"), r.out());
        } finally {
            if (old == null) {
                System.clearProperty("mii.home");
            } else {
                System.setProperty("mii.home", old);
            }
        }
    }
}
