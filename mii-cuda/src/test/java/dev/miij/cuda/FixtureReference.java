package dev.miij.cuda;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The core's tiny fixed-weight fixture models (mii-core/src/test/resources/fixtures) and their
 * transformers references: FP32 greedy tokens, margins and first-step logits in each fixture's
 * reference.json, and transformers' BF16-on-GPU greedy tokens in this module's bf16-greedy.json.
 */
final class FixtureReference {

    /** Every fixture of the core (mii-core's Fixtures.NAMES): RMSNorm and LayerNorm, RoPE, learned and ALiBi, MoE. */
    static final List<String> NAMES = List.of("llama3", "llama2", "mistral", "qwen2", "qwen3", "phi3", "mixtral",
            "opt", "opt350", "phi", "gpt_neox", "gpt_neox_seq", "falcon", "falcon40b", "gpt2", "qwen2_moe", "qwen3_moe",
            "gemma", "gemma2", "gemma3", "bloom", "falcon_rw", "falcon2");

    record Case(int[] promptIds, int[] greedyIds, double[] margins, float[] firstLogits) {
    }

    private FixtureReference() {
    }

    /** The fixture folder, from the repository root or from a module folder. */
    static Path dir(String name) {
        for (String root : new String[] {".", ".."}) {
            Path p = Path.of(root, "mii-core/src/test/resources/fixtures", name);
            if (Files.isDirectory(p)) {
                return p.toAbsolutePath().normalize();
            }
        }
        throw new IllegalStateException("fixture " + name + " not found from " + Path.of("").toAbsolutePath());
    }

    static List<Case> fp32(String name) {
        return read(dir(name).resolve("reference.json"), null);
    }

    /** transformers' BF16 greedy runs on a GPU, or an empty list where none were recorded for this fixture. */
    static List<Case> bf16(String name) {
        Path p = Path.of("mii-cuda/src/test/resources/bf16-greedy.json");
        if (!Files.exists(p)) {
            p = Path.of("src/test/resources/bf16-greedy.json");
        }
        return Files.exists(p) ? read(p, name) : List.of();
    }

    private static List<Case> read(Path file, String fixture) {
        try {
            JsonNode root = new ObjectMapper().readTree(file.toFile());
            if (fixture != null) {
                root = root.get(fixture);
                if (root == null) {
                    return List.of();
                }
            }
            List<Case> out = new ArrayList<>();
            for (JsonNode c : root.get("cases")) {
                out.add(new Case(ints(c.get("prompt_ids")), ints(c.get("greedy_ids")), doubles(c.get("margins")),
                        c.has("first_logits") ? floats(c.get("first_logits")) : null));
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
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
