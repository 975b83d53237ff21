package dev.miij.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.miij.MiiException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import java.util.stream.Stream;

/**
 * Finds the weight files of a model folder the way transformers does: {@code model.safetensors},
 * else the shards named by {@code model.safetensors.index.json}.
 */
final class CheckpointFiles {

    static final String SINGLE = "model.safetensors";
    static final String INDEX = "model.safetensors.index.json";

    private CheckpointFiles() {}

    /** The weight files of {@code folder} with, for a sharded checkpoint, the tensor → shard map of its index. */
    record Located(List<Path> files, Map<String, String> weightMap) {}

    static Located locate(Path folder) {
        Path single = folder.resolve(SINGLE);
        if (Files.isRegularFile(single)) {
            return new Located(List.of(single), Map.of());
        }
        Path index = folder.resolve(INDEX);
        if (Files.isRegularFile(index)) {
            Map<String, String> weightMap = readWeightMap(index);
            List<Path> shards = new ArrayList<>();
            for (String shard : new LinkedHashSet<>(weightMap.values())) {
                Path p = folder.resolve(shard);
                if (!Files.isRegularFile(p)) {
                    throw MiiException.corrupt(INDEX + " in " + folder + " lists shard " + shard
                            + ", which is missing from the folder; the download is incomplete, fetch the model again");
                }
                shards.add(p);
            }
            return new Located(List.copyOf(shards), weightMap);
        }
        throw noWeights(folder);
    }

    /** True when every weight file {@link #locate} would need is present (used to trust a cached download). */
    static boolean isComplete(Path folder) {
        try {
            locate(folder);
            return true;
        } catch (MiiException e) {
            return false;
        }
    }

    /** The weight_map of an index file: tensor name → shard file name, in file order. */
    static Map<String, String> readWeightMap(Path index) {
        JsonNode root = Json.readObject(index);
        JsonNode map = root.get("weight_map");
        if (map == null || !map.isObject() || map.isEmpty()) {
            throw MiiException.corrupt(index + " has no weight_map object mapping tensor names to shard files");
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : map.properties()) {
            String shard = e.getValue().asText("");
            if (!e.getValue().isTextual() || !isPlainFileName(shard)) {
                throw MiiException.corrupt(index + " maps tensor '" + e.getKey() + "' to '" + e.getValue().asText()
                        + "', which is not a file name in the model folder");
            }
            out.put(e.getKey(), shard);
        }
        return out;
    }

    /** A name without directories, so that an index cannot point outside its folder. */
    static boolean isPlainFileName(String name) {
        return !name.isEmpty() && !name.equals(".") && !name.equals("..") && !name.contains("/") && !name.contains("\\");
    }

    private static MiiException noWeights(Path folder) {
        List<String> bins = listMatching(folder, n -> n.endsWith(".bin") || n.endsWith(".bin.index.json") || n.endsWith(".pt") || n.endsWith(".pth"));
        if (!bins.isEmpty()) {
            return MiiException.unsupported(folder + " holds PyTorch pickle weights (" + String.join(", ", bins)
                    + ") but no safetensors; MII-J reads only safetensors, which cannot run code when loaded. Convert once with:\n"
                    + "  python -c \"from transformers import AutoModelForCausalLM as M; "
                    + "M.from_pretrained('" + folder + "').save_pretrained('" + folder + "', safe_serialization=True)\"");
        }
        List<String> others = listMatching(folder, n -> n.endsWith(".safetensors"));
        String hint = others.isEmpty() ? "" : " (found " + String.join(", ", others) + ", but without " + INDEX + " naming them)";
        return MiiException.notFound(folder + " has no " + SINGLE + " or " + INDEX + hint
                + "; a model folder needs its weights in safetensors format");
    }

    private static List<String> listMatching(Path folder, Predicate<String> test) {
        try (Stream<Path> s = Files.list(folder)) {
            return s.map(p -> p.getFileName().toString()).filter(test).sorted().toList();
        } catch (IOException e) {
            return List.of();
        }
    }
}
