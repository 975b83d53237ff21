package dev.miij.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The tiny fixed-weight models under mii-core/src/test/resources/fixtures, each with the reference.json
 * that transformers produced for it (tools/reference/make_fixtures.py), and the one reader of such
 * reference files. Shared with the other modules' tests through mii-core's test jar.
 *
 * <pre>{@code
 * for (Fixtures.Case c : Fixtures.cases("llama2")) {
 *     Fixtures.checkGreedy("llama2", c, generate(Fixtures.dir("llama2"), c.promptIds()));
 * }
 * }</pre>
 */
public final class Fixtures {

    public static final List<String> NAMES = List.of("llama3", "llama2", "mistral", "qwen2", "qwen3", "phi3", "mixtral",
            "opt", "opt350", "phi", "gpt_neox", "gpt_neox_seq", "falcon", "falcon40b", "gpt2", "qwen2_moe", "qwen3_moe",
            "gemma", "gemma2", "gemma3", "bloom", "falcon_rw", "falcon2");

    /**
     * A reference case: a prompt, its token ids, transformers' greedy continuation with the top-1/top-2
     * margin of each step, and first-step logits; the prompt, text and logits are null where a file
     * records none.
     */
    public record Case(String prompt, int[] promptIds, int[] greedyIds, double[] margins, String greedyText,
                       float[] firstLogits) {
    }

    private Fixtures() {
    }

    /** The fixture's folder, from mii-core's folder, the repository root or another module's folder. */
    public static Path dir(String name) {
        for (String root : new String[] {"src/test/resources/fixtures", "mii-core/src/test/resources/fixtures",
            "../mii-core/src/test/resources/fixtures"}) {
            Path p = Path.of(root, name);
            if (Files.isDirectory(p)) {
                return p.toAbsolutePath().normalize();
            }
        }
        throw new IllegalStateException("fixture " + name + " not found from " + Path.of("").toAbsolutePath());
    }

    /** The cases of the fixture's reference.json. */
    public static List<Case> cases(String name) {
        return read(dir(name).resolve("reference.json"), null);
    }

    /**
     * The cases of a reference file: its top-level {@code cases}, or with {@code key} those of the
     * object under that key (an empty list when the file has none for it).
     */
    public static List<Case> read(Path file, String key) {
        try {
            JsonNode root = new ObjectMapper().readTree(file.toFile());
            if (key != null) {
                root = root.get(key);
                if (root == null) {
                    return List.of();
                }
            }
            List<Case> out = new ArrayList<>();
            for (JsonNode c : root.get("cases")) {
                out.add(new Case(c.has("prompt") ? c.get("prompt").asText() : null, ints(c.get("prompt_ids")),
                        ints(c.get("greedy_ids")), doubles(c.get("margins")),
                        c.has("greedy_text") ? c.get("greedy_text").asText() : null,
                        c.has("first_logits") ? floats(c.get("first_logits")) : null));
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Checks a greedy continuation against the reference: identical up to the first step whose
     * reference top-1/top-2 margin is below {@code 2e-3} (a near-tie that rounding may flip).
     * Returns the number of tokens compared, or throws AssertionError describing the mismatch.
     */
    public static int checkGreedy(String label, Case c, int[] actual) {
        int n = Math.min(actual.length, c.greedyIds().length);
        for (int i = 0; i < n; i++) {
            if (actual[i] != c.greedyIds()[i]) {
                throw new AssertionError(label + ": token " + i + " is " + actual[i] + ", transformers gave "
                        + c.greedyIds()[i] + " (margin " + c.margins()[i] + ")\n actual   " + java.util.Arrays.toString(actual)
                        + "\n expected " + java.util.Arrays.toString(c.greedyIds()));
            }
            if (c.margins()[i] < 2e-3) {
                return i + 1;
            }
        }
        if (actual.length < c.greedyIds().length) {
            throw new AssertionError(label + ": only " + actual.length + " tokens generated");
        }
        return n;
    }

    private static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asInt();
        }
        return out;
    }

    private static double[] doubles(JsonNode a) {
        double[] out = new double[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).asDouble();
        }
        return out;
    }

    private static float[] floats(JsonNode a) {
        float[] out = new float[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = (float) a.get(i).asDouble();
        }
        return out;
    }
}
