package dev.miij.tokenizer;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.miij.MiiException;
import dev.miij.tokenizer.AddedTokens.AddedToken;
import dev.miij.tokenizer.Normalizers.Normalizer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Reads a tokenizer.json file into a {@link Tokenizer}. */
final class TokenizerJson {

    static final String SUPPORTED_MODELS = "BPE, WordPiece, WordLevel, Unigram";

    // Floats keep their decimal digits so that Unigram scores can be read as the reference reads them.
    private static final ObjectMapper MAPPER = new ObjectMapper()
            .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS);

    private TokenizerJson() {}

    static Tokenizer load(Path file, TokenizerConfig config) {
        return load(file, config, null);
    }

    /**
     * Loads {@code file}; with {@code rawConfig} (tokenizer_config.json), first rebuilds the pipeline
     * as transformers does for the tokenizer class it names ({@link ClassPipelines}).
     */
    static Tokenizer load(Path file, TokenizerConfig config, JsonNode rawConfig) {
        JsonNode root;
        try (InputStream in = Files.newInputStream(file)) {
            root = MAPPER.readTree(in);
        } catch (NoSuchFileException e) {
            throw MiiException.notFound("tokenizer file " + file + " does not exist");
        } catch (JsonProcessingException e) {
            throw MiiException.corrupt("tokenizer file " + file + " is not valid JSON: " + e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw MiiException.io("cannot read tokenizer file " + file + ": " + e.getMessage(), e);
        }
        if (root == null || !root.isObject()) {
            throw MiiException.corrupt("tokenizer file " + file + " is not a JSON object");
        }
        ClassPipelines.apply((com.fasterxml.jackson.databind.node.ObjectNode) root, rawConfig);
        return fromJson(root, file, config);
    }

    /** The JSON reader tokenizer.json files must be parsed with. */
    static ObjectMapper mapper() {
        return MAPPER;
    }

    static Tokenizer fromJson(JsonNode root, Path file, TokenizerConfig config) {
        JsonCtx ctx = new JsonCtx(file);
        Normalizer normalizer = Normalizers.fromJson(root.get("normalizer"), ctx);
        PreTokenizers.PreTokenizer pre = PreTokenizers.fromJson(root.get("pre_tokenizer"), ctx);
        Model model = model(root.get("model"), ctx);
        PostProcessors.PostProcessor post = PostProcessors.fromJson(root.get("post_processor"), ctx);
        Decoders.Decoder decoder = Decoders.fromJson(root.get("decoder"), ctx);
        AddedTokens added = new AddedTokens(addedTokens(root.get("added_tokens"), ctx), normalizer);
        return new Tokenizer(file, normalizer, pre, model, post, decoder, added,
                Limits.Truncation.fromJson(root.get("truncation"), ctx),
                Limits.Padding.fromJson(root.get("padding"), ctx), config);
    }

    private static Model model(JsonNode node, JsonCtx ctx) {
        if (node == null || !node.isObject()) {
            throw ctx.corrupt("model", "missing \"model\" object");
        }
        String type = node.hasNonNull("type") ? node.get("type").asText() : inferModelType(node);
        return switch (type) {
            case "BPE" -> Bpe.fromJson(node, ctx);
            case "WordPiece" -> WordPiece.fromJson(node, ctx);
            case "WordLevel" -> WordLevel.fromJson(node, ctx);
            case "Unigram" -> Unigram.fromJson(node, ctx);
            default -> throw ctx.unsupported("model", type, SUPPORTED_MODELS);
        };
    }

    /** Files written by old versions omit the model type; it shows in which fields are present. */
    private static String inferModelType(JsonNode node) {
        if (node.has("merges")) {
            return "BPE";
        }
        if (node.path("vocab").isArray()) {
            return "Unigram";
        }
        if (node.has("continuing_subword_prefix") || node.has("max_input_chars_per_word")) {
            return "WordPiece";
        }
        return "WordLevel";
    }

    private static List<AddedToken> addedTokens(JsonNode list, JsonCtx ctx) {
        List<AddedToken> out = new ArrayList<>();
        if (list == null || list.isNull()) {
            return out;
        }
        if (!list.isArray()) {
            throw ctx.corrupt("added_tokens", "expected a list");
        }
        for (JsonNode t : list) {
            if (!t.path("id").canConvertToInt() || !t.path("content").isTextual()) {
                throw ctx.corrupt("added_tokens", "each entry needs an integer \"id\" and a string \"content\", found "
                        + JsonCtx.describe(t));
            }
            boolean special = ctx.optBool(t, "special", false);
            out.add(new AddedToken(t.get("id").asInt(), t.get("content").asText(), ctx.optBool(t, "single_word", false),
                    ctx.optBool(t, "lstrip", false), ctx.optBool(t, "rstrip", false),
                    ctx.optBool(t, "normalized", !special), special));
        }
        return out;
    }
}
