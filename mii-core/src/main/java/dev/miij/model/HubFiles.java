package dev.miij.model;

import dev.miij.MiiException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * Which files of a hub repository inference needs: the configs and tokenizer, and the weights the
 * way transformers picks them ({@code model.safetensors}, else the index and its shards). Other
 * weights (original checkpoints, ONNX, GGUF, PyTorch pickles) are left on the hub.
 */
final class HubFiles {

    static final List<String> METADATA = List.of(
            ModelFolder.CONFIG, ModelFolder.GENERATION_CONFIG, ModelFolder.TOKENIZER,
            "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja");

    private HubFiles() {}

    /** The files to fetch first: metadata present in the repository, then the single weight file or the index. */
    static List<String> firstPass(HubId id, List<String> repoFiles) {
        Set<String> files = Set.copyOf(repoFiles);
        if (!files.contains(ModelFolder.CONFIG)) {
            throw MiiException.unsupported("model " + id + " on the hub has no config.json, so it is not a transformers model MII-J can run");
        }
        List<String> out = new ArrayList<>();
        for (String f : METADATA) {
            if (files.contains(f)) {
                out.add(f);
            }
        }
        if (files.contains(CheckpointFiles.SINGLE)) {
            out.add(CheckpointFiles.SINGLE);
        } else if (files.contains(CheckpointFiles.INDEX)) {
            out.add(CheckpointFiles.INDEX);
        } else {
            throw noWeights(id, repoFiles);
        }
        return out;
    }

    /** The shards an index names, each checked against the repository's file list. */
    static List<String> shards(HubId id, List<String> repoFiles, Iterable<String> indexShards) {
        Set<String> files = Set.copyOf(repoFiles);
        List<String> out = new ArrayList<>();
        for (String shard : indexShards) {
            if (!files.contains(shard)) {
                throw MiiException.corrupt(CheckpointFiles.INDEX + " of model " + id + " lists shard " + shard
                        + ", which the repository does not contain");
            }
            if (!out.contains(shard)) {
                out.add(shard);
            }
        }
        return out;
    }

    private static MiiException noWeights(HubId id, List<String> repoFiles) {
        List<String> top = repoFiles.stream().filter(f -> !f.contains("/")).toList();
        List<String> pickles = top.stream().filter(f -> f.endsWith(".bin") || f.endsWith(".bin.index.json") || f.endsWith(".pth")).toList();
        if (!pickles.isEmpty()) {
            return MiiException.unsupported("model " + id + " publishes only PyTorch pickle weights (" + String.join(", ", pickles)
                    + "); MII-J reads only safetensors. Download it with Python, convert once, and pass the folder:\n"
                    + "  python -c \"from transformers import AutoModelForCausalLM as M, AutoTokenizer as T; m='" + id.repoId() + "'; "
                    + "M.from_pretrained(m).save_pretrained('DIR', safe_serialization=True); T.from_pretrained(m).save_pretrained('DIR')\"");
        }
        List<String> others = top.stream().filter(f -> f.endsWith(".safetensors")).toList();
        return MiiException.notFound("model " + id + " on the hub has no " + CheckpointFiles.SINGLE + " or " + CheckpointFiles.INDEX
                + (others.isEmpty() ? "" : " (only " + String.join(", ", others) + ")")
                + "; MII-J needs weights in the transformers safetensors layout");
    }
}
