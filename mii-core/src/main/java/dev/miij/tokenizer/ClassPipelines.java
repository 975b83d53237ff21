package dev.miij.tokenizer;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * Rebuilds a tokenizer.json pipeline the way transformers 5 does when tokenizer_config.json names a
 * tokenizer class with its own construction: transformers then keeps only the vocabulary, merges,
 * added tokens and post-processor of tokenizer.json and sets the normalizer, pre-tokenizer, decoder
 * and model options from the class and the config's {@code legacy} and {@code add_prefix_space}.
 * For Llama-2 and Mistral tokenizers this replaces the stored {@code Prepend} + {@code Replace}
 * normalizer by a Metaspace pre-tokenizer, which encodes text that starts with spaces differently.
 *
 * <p>Classes without their own construction ({@code PreTrainedTokenizerFast}, Bloom, Falcon's, ...)
 * use tokenizer.json as stored, as do tokenizers without a tokenizer_config.json.
 */
final class ClassPipelines {

    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private static final String SPACE = "\u2581";

    private ClassPipelines() {
    }

    /** Rewrites {@code root} (a parsed tokenizer.json) in place for {@code config}'s tokenizer class. */
    static void apply(ObjectNode root, JsonNode config) {
        if (config == null || !config.path("tokenizer_class").isTextual() || !root.path("model").isObject()) {
            return;
        }
        String cls = config.get("tokenizer_class").asText();
        if (cls.endsWith("Fast")) {
            cls = cls.substring(0, cls.length() - 4);
        }
        ObjectNode model = (ObjectNode) root.get("model");
        if (!"BPE".equals(model.path("type").asText("BPE"))) {
            return; // these classes build BPE models; anything else is left as stored
        }
        switch (cls) {
            case "LlamaTokenizer" -> llama(root, model, config);
            case "GemmaTokenizer" -> gemma(root, model, config);
            case "GPT2Tokenizer" -> byteLevel(root, model, config, false);
            case "GPTNeoXTokenizer" -> byteLevel(root, model, config, true);
            default -> {
            }
        }
    }

    /** Metaspace without splitting; "always" prepends ▁ (legacy), "first" only before the first section. */
    private static void llama(ObjectNode root, ObjectNode model, JsonNode config) {
        boolean addPrefixSpace = bool(config, "add_prefix_space", true);
        boolean legacy = bool(config, "legacy", false);
        String scheme = addPrefixSpace ? (legacy ? "always" : "first") : "never";
        model.put("fuse_unk", true).put("byte_fallback", true).putNull("unk_token").putNull("dropout");
        root.putNull("normalizer");
        root.set("pre_tokenizer", F.objectNode().put("type", "Metaspace").put("replacement", SPACE)
                .put("prepend_scheme", scheme).put("split", false));
        ArrayNode decoders = spaceDecoders();
        if (addPrefixSpace) {
            decoders.add(F.objectNode().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0));
        }
        root.set("decoder", F.objectNode().put("type", "Sequence").set("decoders", decoders));
    }

    private static void gemma(ObjectNode root, ObjectNode model, JsonNode config) {
        model.put("fuse_unk", true).put("byte_fallback", true).put("unk_token", token(config, "unk_token", "<unk>"))
                .putNull("dropout");
        root.set("normalizer", F.objectNode().put("type", "Replace").<ObjectNode>set("pattern",
                F.objectNode().put("String", " ")).put("content", SPACE));
        root.set("pre_tokenizer", F.objectNode().put("type", "Split").<ObjectNode>set("pattern",
                F.objectNode().put("String", " ")).put("behavior", "MergedWithPrevious").put("invert", false));
        root.set("decoder", F.objectNode().put("type", "Sequence").set("decoders", spaceDecoders()));
    }

    /**
     * GPT-2 and GPT-NeoX: byte-level BPE with {@code add_prefix_space} from the config (default off).
     * GPT-NeoX also NFC-normalises and replaces the post-processor by one adding no special tokens
     * (transformers ignores add_bos_token/add_eos_token when a tokenizer.json is present).
     */
    private static void byteLevel(ObjectNode root, ObjectNode model, JsonNode config, boolean neox) {
        boolean addPrefixSpace = bool(config, "add_prefix_space", false);
        model.put("fuse_unk", false).put("continuing_subword_prefix", "").put("end_of_word_suffix", "")
                .put("byte_fallback", false).putNull("unk_token").putNull("dropout");
        root.set("normalizer", neox ? F.objectNode().put("type", "NFC") : F.nullNode());
        root.set("pre_tokenizer", F.objectNode().put("type", "ByteLevel").put("add_prefix_space", addPrefixSpace)
                .put("trim_offsets", bool(config, "trim_offsets", true)).put("use_regex", true));
        root.set("decoder", F.objectNode().put("type", "ByteLevel").put("add_prefix_space", true)
                .put("trim_offsets", true).put("use_regex", true));
        if (neox) {
            ObjectNode a = F.objectNode();
            a.set("Sequence", F.objectNode().put("id", "A").put("type_id", 0));
            ObjectNode b = F.objectNode();
            b.set("Sequence", F.objectNode().put("id", "B").put("type_id", 1));
            ObjectNode post = F.objectNode().put("type", "TemplateProcessing");
            post.set("single", F.arrayNode().add(a));
            post.set("pair", F.arrayNode().add(a.deepCopy()).add(b));
            post.set("special_tokens", F.objectNode());
            root.set("post_processor", post);
        }
    }

    private static ArrayNode spaceDecoders() {
        ArrayNode d = F.arrayNode();
        d.add(F.objectNode().put("type", "Replace").<ObjectNode>set("pattern", F.objectNode().put("String", SPACE))
                .put("content", " "));
        d.add(F.objectNode().put("type", "ByteFallback"));
        d.add(F.objectNode().put("type", "Fuse"));
        return d;
    }

    private static boolean bool(JsonNode config, String field, boolean fallback) {
        JsonNode v = config.get(field);
        return v == null || v.isNull() ? fallback : v.asBoolean();
    }

    private static String token(JsonNode config, String field, String fallback) {
        JsonNode v = config.get(field);
        if (v == null || v.isNull()) {
            return fallback;
        }
        return v.isObject() ? v.path("content").asText(fallback) : v.asText();
    }
}
