package dev.miij.arch;

import com.fasterxml.jackson.databind.JsonNode;
import dev.miij.MiiException;
import dev.miij.arch.TransformerSpec.Activation;
import dev.miij.arch.TransformerSpec.Norm;
import java.util.List;
import java.util.Locale;

/**
 * Reads a Hugging Face config.json into a {@link TransformerSpec}. Each supported family is a few
 * lines here: which flags it sets and how its tensors are named.
 */
public final class Architectures {

    /** The config.json {@code model_type}s MII-J runs. */
    public static final List<String> SUPPORTED = List.of("llama", "mistral", "qwen2", "qwen3", "phi3", "mixtral");

    private Architectures() {
    }

    public static TransformerSpec fromConfig(JsonNode config) {
        String type = text(config, "model_type", null);
        if (type == null) {
            throw MiiException.unsupported("config.json has no model_type; supported model types: " + String.join(", ", SUPPORTED));
        }
        type = type.toLowerCase(Locale.ROOT);
        if (!SUPPORTED.contains(type)) {
            throw MiiException.unsupported("unsupported model_type '" + type + "'; supported model types: "
                    + String.join(", ", SUPPORTED));
        }
        int hidden = positive(config, "hidden_size");
        int heads = positive(config, "num_attention_heads");
        int kvHeads = config.hasNonNull("num_key_value_heads") ? positive(config, "num_key_value_heads") : heads;
        if (heads % kvHeads != 0) {
            throw MiiException.corrupt("config.json: num_attention_heads " + heads + " is not a multiple of num_key_value_heads " + kvHeads);
        }
        int headDim = config.hasNonNull("head_dim") ? positive(config, "head_dim") : hidden / heads;
        int maxPositions = config.path("max_position_embeddings").asInt(4096);
        double partialRotary = number(config, "partial_rotary_factor",
                config.path("rope_parameters").path("partial_rotary_factor").asDouble(1.0));
        int rotaryDim = (int) (headDim * partialRotary);
        rotaryDim -= rotaryDim % 2;
        Rope rope = rope(config, rotaryDim);

        boolean qwen2 = type.equals("qwen2");
        boolean mistralLike = type.equals("mistral") || type.equals("mixtral") || type.equals("qwen2") || type.equals("qwen3");
        int slidingWindow = 0;
        if (mistralLike && config.hasNonNull("sliding_window")) {
            // Qwen2/3 configs carry a sliding_window that is only used when use_sliding_window is true.
            boolean used = !(type.startsWith("qwen")) || config.path("use_sliding_window").asBoolean(false);
            if (used) {
                slidingWindow = config.get("sliding_window").asInt();
            }
        }
        if (type.equals("phi3") && config.hasNonNull("sliding_window")) {
            slidingWindow = config.get("sliding_window").asInt();
        }

        WeightNames names = WeightNames.llama();
        int experts = 0;
        int perToken = 0;
        switch (type) {
            case "phi3" -> names = names.withFusedQkv("model.layers.{L}.self_attn.qkv_proj")
                    .withFusedGateUp("model.layers.{L}.mlp.gate_up_proj");
            case "mixtral" -> {
                experts = positive(config, "num_local_experts");
                perToken = positive(config, "num_experts_per_tok");
                names = names.withExperts("model.layers.{L}.block_sparse_moe.gate",
                        "model.layers.{L}.block_sparse_moe.experts.{E}.w1",
                        "model.layers.{L}.block_sparse_moe.experts.{E}.w3",
                        "model.layers.{L}.block_sparse_moe.experts.{E}.w2");
            }
            default -> {
            }
        }
        boolean attentionBias = qwen2 || config.path("attention_bias").asBoolean(false);
        return new TransformerSpec(
                type,
                positive(config, "vocab_size"),
                hidden,
                positive(config, "num_hidden_layers"),
                heads,
                kvHeads,
                headDim,
                positive(config, "intermediate_size"),
                Norm.RMS,
                (float) number(config, "rms_norm_eps", 1e-6),
                rope,
                attentionBias,
                type.equals("qwen3"),
                slidingWindow,
                activation(text(config, "hidden_act", "silu")),
                experts,
                perToken,
                true,
                config.path("tie_word_embeddings").asBoolean(false),
                maxPositions,
                names);
    }

    private static Rope rope(JsonNode config, int rotaryDim) {
        // transformers 5 writes rope_parameters (theta inside); older configs rope_theta + rope_scaling.
        JsonNode params = config.hasNonNull("rope_parameters") ? config.get("rope_parameters") : config.path("rope_scaling");
        double theta = params.hasNonNull("rope_theta") ? params.get("rope_theta").asDouble() : number(config, "rope_theta", 10000.0);
        String ropeType = params.isObject() ? text(params, "rope_type", text(params, "type", "default")) : "default";
        double[] base = Rope.defaultInvFreq(theta, rotaryDim);
        return switch (ropeType) {
            case "default" -> new Rope(rotaryDim, base, 1.0);
            case "linear" -> {
                double factor = params.path("factor").asDouble(1.0);
                double[] f = base.clone();
                for (int i = 0; i < f.length; i++) {
                    f[i] /= factor;
                }
                yield new Rope(rotaryDim, f, 1.0);
            }
            case "llama3" -> new Rope(rotaryDim, Rope.llama3InvFreq(base,
                    params.path("factor").asDouble(8.0),
                    params.path("low_freq_factor").asDouble(1.0),
                    params.path("high_freq_factor").asDouble(4.0),
                    params.path("original_max_position_embeddings").asDouble(8192)), 1.0);
            default -> throw MiiException.unsupported("unsupported rope scaling type '" + ropeType
                    + "'; supported: default, linear, llama3");
        };
    }

    private static Activation activation(String name) {
        return switch (name) {
            case "silu", "swish" -> Activation.SILU;
            case "gelu_pytorch_tanh", "gelu_new", "gelu_fast" -> Activation.GELU_TANH;
            case "gelu" -> Activation.GELU;
            default -> throw MiiException.unsupported("unsupported hidden_act '" + name + "'; supported: silu, gelu, gelu_pytorch_tanh");
        };
    }

    private static int positive(JsonNode config, String field) {
        JsonNode n = config.get(field);
        if (n == null || !n.canConvertToInt() || n.asInt() <= 0) {
            throw MiiException.corrupt("config.json: '" + field + "' must be a positive integer, got " + n);
        }
        return n.asInt();
    }

    private static double number(JsonNode config, String field, double fallback) {
        JsonNode n = config.get(field);
        return n != null && n.isNumber() ? n.asDouble() : fallback;
    }

    private static String text(JsonNode node, String field, String fallback) {
        JsonNode n = node.get(field);
        return n != null && n.isTextual() ? n.asText() : fallback;
    }
}
