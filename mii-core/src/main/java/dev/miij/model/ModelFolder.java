package dev.miij.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.miij.MiiException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A local Hugging Face model directory: {@code config.json}, optional {@code generation_config.json},
 * {@code tokenizer.json} and safetensors weights. The JSON files are read and checked when the
 * folder is opened; weights are mapped only by {@link #openWeights()}.
 *
 * <pre>{@code
 * ModelFolder model = ModelFolder.open(HfHub.resolve("Qwen/Qwen3-0.6B"));
 * System.out.println(model.modelType());               // "qwen3"
 * int[] eos = model.generationConfig().eosTokenIds();
 * try (WeightSource weights = model.openWeights()) { ... }
 * }</pre>
 */
public final class ModelFolder {

    static final String CONFIG = "config.json";
    static final String GENERATION_CONFIG = "generation_config.json";
    static final String TOKENIZER = "tokenizer.json";

    private final Path dir;
    private final JsonNode config;
    private final GenerationConfig generationConfig;

    private ModelFolder(Path dir, JsonNode config, GenerationConfig generationConfig) {
        this.dir = dir;
        this.config = config;
        this.generationConfig = generationConfig;
    }

    /**
     * Opens {@code dir}, reading its {@code config.json} and {@code generation_config.json}.
     *
     * @throws MiiException NOT_FOUND when the folder or its config.json is missing, CORRUPT when a
     *     JSON file is invalid
     */
    public static ModelFolder open(Path dir) {
        if (!Files.exists(dir)) {
            throw MiiException.notFound("model folder " + dir.toAbsolutePath() + " does not exist");
        }
        if (!Files.isDirectory(dir)) {
            throw MiiException.notFound(dir.toAbsolutePath() + " is a file, not a model folder; pass the directory that holds config.json");
        }
        Path configFile = dir.resolve(CONFIG);
        if (!Files.isRegularFile(configFile)) {
            throw MiiException.notFound(dir.toAbsolutePath() + " has no " + CONFIG + "; a model folder needs the Hugging Face files"
                    + " config.json, tokenizer.json and model.safetensors (or its shards)");
        }
        JsonNode config = Json.readObject(configFile);
        Path genFile = dir.resolve(GENERATION_CONFIG);
        GenerationConfig gen = Files.isRegularFile(genFile)
                ? GenerationConfig.fromJson(Json.readObject(genFile), genFile.toString())
                : tokenIdsOf(config, configFile.toString());
        return new ModelFolder(dir, config, gen);
    }

    /**
     * Without generation_config.json, transformers takes the special token ids from config.json
     * (from its text_config for multimodal models); the sampling fields keep their defaults.
     */
    private static GenerationConfig tokenIdsOf(JsonNode config, String source) {
        JsonNode node = config;
        if (!config.has("eos_token_id") && config.path("text_config").isObject()) {
            node = config.get("text_config");
        }
        GenerationConfig all = GenerationConfig.fromJson(node, source);
        return new GenerationConfig(all.eosTokenIds(), all.bosTokenId(), all.padTokenId(), null, null, null, null, null, null);
    }

    public Path dir() {
        return dir;
    }

    /** The parsed {@code config.json}. */
    public JsonNode config() {
        return config;
    }

    /** {@code generation_config.json}, or the token ids of config.json when the folder has none. */
    public GenerationConfig generationConfig() {
        return generationConfig;
    }

    /**
     * The architecture family from {@code config.json}, e.g. {@code "llama"} or {@code "qwen3"}.
     *
     * @throws MiiException UNSUPPORTED when config.json states none
     */
    public String modelType() {
        JsonNode t = config.get("model_type");
        if (t == null || !t.isTextual() || t.asText().isBlank()) {
            throw MiiException.unsupported(dir.resolve(CONFIG) + " states no model_type, so MII-J cannot tell the model's architecture");
        }
        return t.asText();
    }

    /**
     * Maps the safetensors weights; the caller closes them.
     *
     * @see SafeTensors#open(Path)
     */
    public WeightSource openWeights() {
        return SafeTensors.open(dir);
    }

    /**
     * The fast-tokenizer file {@code tokenizer.json}.
     *
     * @throws MiiException NOT_FOUND when the folder has none
     */
    public Path tokenizerJson() {
        Path p = dir.resolve(TOKENIZER);
        if (!Files.isRegularFile(p)) {
            throw MiiException.notFound(dir.toAbsolutePath() + " has no " + TOKENIZER + "; MII-J needs the Hugging Face fast-tokenizer"
                    + " file (models with only tokenizer.model or vocab files can be converted by loading them with"
                    + " AutoTokenizer and calling save_pretrained)");
        }
        return p;
    }

    @Override
    public String toString() {
        return "ModelFolder[" + dir + "]";
    }
}
