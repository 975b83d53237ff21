package dev.miij.arch;

import static dev.miij.arch.WeightNames.Role.ATTN_NORM;
import static dev.miij.arch.WeightNames.Role.DOWN;
import static dev.miij.arch.WeightNames.Role.EMBED;
import static dev.miij.arch.WeightNames.Role.EMBED_NORM;
import static dev.miij.arch.WeightNames.Role.EXPERT_DOWN;
import static dev.miij.arch.WeightNames.Role.EXPERT_GATE;
import static dev.miij.arch.WeightNames.Role.EXPERT_UP;
import static dev.miij.arch.WeightNames.Role.FINAL_NORM;
import static dev.miij.arch.WeightNames.Role.GATE;
import static dev.miij.arch.WeightNames.Role.GATE_UP;
import static dev.miij.arch.WeightNames.Role.K;
import static dev.miij.arch.WeightNames.Role.LM_HEAD;
import static dev.miij.arch.WeightNames.Role.MLP_NORM;
import static dev.miij.arch.WeightNames.Role.O;
import static dev.miij.arch.WeightNames.Role.POSITIONS;
import static dev.miij.arch.WeightNames.Role.POST_ATTN_NORM;
import static dev.miij.arch.WeightNames.Role.POST_MLP_NORM;
import static dev.miij.arch.WeightNames.Role.PROJECT_IN;
import static dev.miij.arch.WeightNames.Role.PROJECT_OUT;
import static dev.miij.arch.WeightNames.Role.Q;
import static dev.miij.arch.WeightNames.Role.QKV;
import static dev.miij.arch.WeightNames.Role.ROUTER;
import static dev.miij.arch.WeightNames.Role.SHARED_DOWN;
import static dev.miij.arch.WeightNames.Role.SHARED_EXPERT_GATE;
import static dev.miij.arch.WeightNames.Role.SHARED_GATE;
import static dev.miij.arch.WeightNames.Role.SHARED_UP;
import static dev.miij.arch.WeightNames.Role.UP;
import static dev.miij.arch.WeightNames.Role.V;

import com.fasterxml.jackson.databind.JsonNode;
import dev.miij.MiiException;
import dev.miij.arch.TransformerSpec.Activation;
import dev.miij.arch.TransformerSpec.Block;
import dev.miij.arch.TransformerSpec.Norm;
import dev.miij.arch.TransformerSpec.Position;
import dev.miij.arch.TransformerSpec.QkvLayout;
import java.util.List;
import java.util.Locale;

/**
 * Reads a Hugging Face config.json into a {@link TransformerSpec}. Each supported family is a few
 * lines here: which flags it sets and how its tensors are named.
 */
public final class Architectures {

    /** The config.json {@code model_type}s MII-J runs. */
    public static final List<String> SUPPORTED = List.of("llama", "mistral", "mixtral", "qwen2", "qwen2_moe", "qwen3",
            "qwen3_moe", "phi", "phi3", "gemma", "gemma2", "gemma3_text", "opt", "gpt2", "gpt_neox", "falcon", "bloom");

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
        TransformerSpec.Builder b = TransformerSpec.builder();
        b.modelType = type;
        b.vocabSize = positive(config, "vocab_size");
        b.maxPositions = config.path("max_position_embeddings").asInt(4096);
        b.tiedEmbeddings = config.path("tie_word_embeddings").asBoolean(false);
        switch (type) {
            case "opt" -> opt(config, b);
            case "gpt2" -> gpt2(config, b);
            case "gpt_neox" -> gptNeox(config, b);
            case "falcon" -> falcon(config, b);
            case "bloom" -> bloom(config, b);
            case "phi" -> phi(config, b);
            default -> llamaLike(type, config, b);
        }
        return b.build();
    }

    /** Llama and the families that keep its block: Mistral, Mixtral, Qwen, Phi-3, Gemma. */
    private static void llamaLike(String type, JsonNode config, TransformerSpec.Builder b) {
        attentionShape(config, b, "hidden_size", "num_attention_heads", "num_hidden_layers");
        b.intermediateSize = positive(config, "intermediate_size");
        b.normEps = (float) number(config, "rms_norm_eps", 1e-6);
        b.rope = rope(config, ropeParams(config, "full_attention"), rotaryDim(config, b.headDim));
        b.activation = activation(text(config, "hidden_act", "silu"));

        boolean qwen = type.startsWith("qwen");
        if (type.equals("mistral") || type.equals("mixtral") || type.equals("phi3")
                || (qwen && config.path("use_sliding_window").asBoolean(false))) {
            // Qwen configs carry a sliding_window that is only used when use_sliding_window is true.
            b.slidingWindow = config.path("sliding_window").asInt(0);
        }
        b.attentionBias = type.equals("qwen2") || (type.equals("qwen2_moe") && config.path("qkv_bias").asBoolean(true))
                || config.path("attention_bias").asBoolean(false);
        b.outputBias = config.path("attention_bias").asBoolean(false);
        b.qkNorm = type.equals("qwen3") || type.equals("qwen3_moe") || type.equals("gemma3_text");

        WeightNames names = WeightNames.llama();
        String l = "model.layers.{L}.";
        switch (type) {
            case "phi3" -> names = names.with(Q, null, K, null, V, null, QKV, l + "self_attn.qkv_proj",
                    GATE, null, UP, null, GATE_UP, l + "mlp.gate_up_proj");
            case "mixtral" -> {
                b.numExperts = positive(config, "num_local_experts");
                b.expertsPerToken = positive(config, "num_experts_per_tok");
                names = names.with(ROUTER, l + "block_sparse_moe.gate",
                        EXPERT_GATE, l + "block_sparse_moe.experts.{E}.w1",
                        EXPERT_UP, l + "block_sparse_moe.experts.{E}.w3",
                        EXPERT_DOWN, l + "block_sparse_moe.experts.{E}.w2");
            }
            case "qwen2_moe", "qwen3_moe" -> {
                b.numExperts = config.hasNonNull("num_experts") ? positive(config, "num_experts")
                        : positive(config, "num_local_experts");
                b.expertsPerToken = positive(config, "num_experts_per_tok");
                b.expertSize = positive(config, "moe_intermediate_size");
                b.normalizeTopK = config.path("norm_topk_prob").asBoolean(type.equals("qwen3_moe"));
                b.moeLayers = moeLayers(config, b.numLayers);
                names = names.with(ROUTER, l + "mlp.gate", EXPERT_GATE, l + "mlp.experts.{E}.gate_proj",
                        EXPERT_UP, l + "mlp.experts.{E}.up_proj", EXPERT_DOWN, l + "mlp.experts.{E}.down_proj");
                if (type.equals("qwen2_moe") && config.path("shared_expert_intermediate_size").asInt(0) > 0) {
                    b.sharedExpertSize = config.get("shared_expert_intermediate_size").asInt();
                    names = names.with(SHARED_GATE, l + "mlp.shared_expert.gate_proj",
                            SHARED_UP, l + "mlp.shared_expert.up_proj", SHARED_DOWN, l + "mlp.shared_expert.down_proj",
                            SHARED_EXPERT_GATE, l + "mlp.shared_expert_gate");
                }
            }
            case "gemma", "gemma2", "gemma3_text" -> names = gemma(type, config, b, names);
            default -> {
            }
        }
        b.weights = names;
    }

    /** Gemma: (1 + w) RMSNorm, embeddings scaled by sqrt(hidden); Gemma 2 and 3 add sandwich norms and local layers. */
    private static WeightNames gemma(String type, JsonNode config, TransformerSpec.Builder b, WeightNames names) {
        b.normWeightOffset = 1f;
        b.embedScale = (float) Math.sqrt(b.hiddenSize);
        b.activation = activation(text(config, "hidden_activation", "gelu_pytorch_tanh"));
        if (type.equals("gemma")) {
            return names;
        }
        String l = "model.layers.{L}.";
        b.block = Block.SANDWICH;
        if (config.hasNonNull("query_pre_attn_scalar")) {
            b.attnScale = (float) Math.pow(config.get("query_pre_attn_scalar").asDouble(), -0.5);
        }
        b.attnSoftCap = (float) number(config, "attn_logit_softcapping", 0);
        b.finalSoftCap = (float) number(config, "final_logit_softcapping", 0);
        b.slidingWindow = config.path("sliding_window").asInt(0);
        b.slidingLayers = new boolean[b.numLayers];
        JsonNode types = config.path("layer_types");
        int pattern = config.path("sliding_window_pattern").asInt(config.path("_sliding_window_pattern").asInt(6));
        for (int i = 0; i < b.numLayers; i++) {
            b.slidingLayers[i] = types.isArray() && types.size() == b.numLayers
                    ? "sliding_attention".equals(types.get(i).asText())
                    : type.equals("gemma2") ? i % 2 == 0 : (i + 1) % pattern != 0;
        }
        if (type.equals("gemma3_text")) {
            if (!config.path("rope_parameters").has("sliding_attention")) {
                // Older configs: rope_local_base_freq for local layers, unscaled.
                double theta = number(config, "rope_local_base_freq", 10000.0);
                b.localRope = new Rope(b.headDim, Rope.defaultInvFreq(theta, b.headDim), 1.0);
            } else {
                b.localRope = rope(config, ropeParams(config, "sliding_attention"), b.headDim);
            }
        }
        return names.with(POST_ATTN_NORM, l + "post_attention_layernorm", MLP_NORM, l + "pre_feedforward_layernorm",
                POST_MLP_NORM, l + "post_feedforward_layernorm");
    }

    /** OPT: LayerNorm, learned positions from offset 2, ReLU, pre- or post-norm, optional embedding projections. */
    private static void opt(JsonNode config, TransformerSpec.Builder b) {
        attentionShape(config, b, "hidden_size", "num_attention_heads", "num_hidden_layers");
        if (!config.path("layer_norm_elementwise_affine").asBoolean(true)) {
            throw MiiException.unsupported("OPT with layer_norm_elementwise_affine=false is not supported");
        }
        b.intermediateSize = positive(config, "ffn_dim");
        layerNormFamily(b, 1e-5, activation(text(config, "activation_function", "relu")),
                config.path("enable_bias").asBoolean(true));
        b.position = Position.LEARNED;
        b.positionOffset = 2;
        b.embedDim = config.path("word_embed_proj_dim").asInt(b.hiddenSize);
        b.tiedEmbeddings = config.path("tie_word_embeddings").asBoolean(true);
        boolean preNorm = config.path("do_layer_norm_before").asBoolean(true);
        b.block = preNorm ? Block.SEQUENTIAL : Block.POST_NORM;
        String l = "model.decoder.layers.{L}.";
        WeightNames n = decoderNames(l, "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj",
                "self_attn_layer_norm", "final_layer_norm", "fc1", "fc2")
                .with(EMBED, "model.decoder.embed_tokens", POSITIONS, "model.decoder.embed_positions",
                        FINAL_NORM, preNorm && !config.path("_remove_final_layer_norm").asBoolean(false)
                                ? "model.decoder.final_layer_norm" : null,
                        LM_HEAD, "lm_head");
        if (b.embedDim != b.hiddenSize) {
            n = n.with(PROJECT_IN, "model.decoder.project_in", PROJECT_OUT, "model.decoder.project_out");
        }
        b.weights = n;
    }

    /** GPT-2: Conv1D ([in, out]) weights, fused c_attn, learned positions. */
    private static void gpt2(JsonNode config, TransformerSpec.Builder b) {
        attentionShape(config, b, "n_embd", "n_head", "n_layer");
        if (config.path("scale_attn_by_inverse_layer_idx").asBoolean(false)) {
            throw MiiException.unsupported("GPT-2 with scale_attn_by_inverse_layer_idx=true is not supported");
        }
        b.intermediateSize = config.hasNonNull("n_inner") ? positive(config, "n_inner") : 4 * b.hiddenSize;
        b.maxPositions = config.path("n_positions").asInt(1024);
        layerNormFamily(b, number(config, "layer_norm_epsilon", 1e-5),
                activation(text(config, "activation_function", "gelu_new")), true);
        if (!config.path("scale_attn_weights").asBoolean(true)) {
            b.attnScale = 1f;
        }
        b.position = Position.LEARNED;
        b.transposedWeights = true;
        b.tiedEmbeddings = config.path("tie_word_embeddings").asBoolean(true);
        String l = "transformer.h.{L}.";
        b.weights = decoderNames(l, null, null, null, "attn.c_proj", "ln_1", "ln_2", "mlp.c_fc", "mlp.c_proj")
                .with(QKV, l + "attn.c_attn", EMBED, "transformer.wte", POSITIONS, "transformer.wpe",
                        FINAL_NORM, "transformer.ln_f", LM_HEAD, "lm_head");
    }

    /** GPT-NeoX (Pythia): per-head interleaved query_key_value, partial rotary, parallel residual. */
    private static void gptNeox(JsonNode config, TransformerSpec.Builder b) {
        attentionShape(config, b, "hidden_size", "num_attention_heads", "num_hidden_layers");
        b.intermediateSize = positive(config, "intermediate_size");
        layerNormFamily(b, number(config, "layer_norm_eps", 1e-5), activation(text(config, "hidden_act", "gelu")), true);
        b.attentionBias = config.path("attention_bias").asBoolean(true);
        b.outputBias = b.attentionBias;
        b.rope = rope(config, ropeParams(config, "full_attention"), rotaryDim(config, b.headDim));
        b.block = config.path("use_parallel_residual").asBoolean(true) ? Block.PARALLEL : Block.SEQUENTIAL;
        b.qkvLayout = QkvLayout.PER_HEAD;
        String l = "gpt_neox.layers.{L}.";
        b.weights = decoderNames(l, null, null, null, "attention.dense", "input_layernorm", "post_attention_layernorm",
                "mlp.dense_h_to_4h", "mlp.dense_4h_to_h")
                .with(QKV, l + "attention.query_key_value", EMBED, "gpt_neox.embed_in",
                        FINAL_NORM, "gpt_neox.final_layer_norm", LM_HEAD, "embed_out");
    }

    /**
     * Falcon: 7b-style multi-query with attention and MLP in parallel from one LayerNorm; 40b/180b
     * style ("new decoder architecture") grouped KV heads with two LayerNorms; RW-style ALiBi.
     */
    private static void falcon(JsonNode config, TransformerSpec.Builder b) {
        attentionShape(config, b, "hidden_size", "num_attention_heads", "num_hidden_layers");
        boolean newArch = config.path("new_decoder_architecture").asBoolean(false);
        boolean multiQuery = config.path("multi_query").asBoolean(true);
        int heads = b.numHeads;
        b.numKvHeads = newArch || !multiQuery ? config.path("num_kv_heads").asInt(heads) : 1;
        if (heads % b.numKvHeads != 0) {
            throw MiiException.corrupt("config.json: num_attention_heads " + heads + " is not a multiple of num_kv_heads "
                    + b.numKvHeads);
        }
        b.qkvLayout = newArch ? QkvLayout.PER_GROUP : multiQuery ? QkvLayout.CONCATENATED : QkvLayout.PER_HEAD;
        b.intermediateSize = config.path("ffn_hidden_size").asInt(4 * b.hiddenSize);
        boolean bias = config.path("bias").asBoolean(false);
        layerNormFamily(b, number(config, "layer_norm_epsilon", 1e-5), activation(text(config, "activation", "gelu")), bias);
        b.attentionBias = bias;
        b.outputBias = bias;
        b.tiedEmbeddings = config.path("tie_word_embeddings").asBoolean(true);
        boolean parallel = newArch || config.path("parallel_attn").asBoolean(true);
        b.block = parallel ? Block.PARALLEL : Block.SEQUENTIAL;
        if (config.path("alibi").asBoolean(false)) {
            b.position = Position.ALIBI;
            // Falcon adds ALiBi to the scores before scaling: (q.k + alibi) / sqrt(headDim).
            b.alibiSlopes = alibiSlopes(heads, (float) (1.0 / Math.sqrt(b.headDim)));
        } else {
            b.rope = rope(config, ropeParams(config, "full_attention"), b.headDim);
        }
        String l = "transformer.h.{L}.";
        boolean twoNorms = newArch && config.path("num_ln_in_parallel_attn").asInt(2) == 2;
        String attnNorm = twoNorms ? "ln_attn" : "input_layernorm";
        String mlpNorm = twoNorms ? "ln_mlp" : parallel ? null : "post_attention_layernorm";
        b.weights = decoderNames(l, null, null, null, "self_attention.dense", attnNorm, mlpNorm, "mlp.dense_h_to_4h",
                "mlp.dense_4h_to_h")
                .with(QKV, l + "self_attention.query_key_value", EMBED, "transformer.word_embeddings",
                        FINAL_NORM, "transformer.ln_f", LM_HEAD, "lm_head");
    }

    /** BLOOM: ALiBi, LayerNorm after the embeddings, per-head interleaved query_key_value, GELU-tanh. */
    private static void bloom(JsonNode config, TransformerSpec.Builder b) {
        attentionShape(config, b, config.has("n_embed") ? "n_embed" : "hidden_size", "n_head", "n_layer");
        if (config.path("apply_residual_connection_post_layernorm").asBoolean(false)) {
            throw MiiException.unsupported("BLOOM with apply_residual_connection_post_layernorm=true is not supported");
        }
        b.intermediateSize = 4 * b.hiddenSize;
        layerNormFamily(b, number(config, "layer_norm_epsilon", 1e-5), Activation.GELU_TANH, true);
        b.attentionBias = true;
        b.outputBias = true;
        b.position = Position.ALIBI;
        b.alibiSlopes = alibiSlopes(b.numHeads, 1f);
        b.embedNorm = true;
        b.qkvLayout = QkvLayout.PER_HEAD;
        b.tiedEmbeddings = config.path("tie_word_embeddings").asBoolean(true);
        String l = "transformer.h.{L}.";
        b.weights = decoderNames(l, null, null, null, "self_attention.dense", "input_layernorm",
                "post_attention_layernorm", "mlp.dense_h_to_4h", "mlp.dense_4h_to_h")
                .with(QKV, l + "self_attention.query_key_value", EMBED, "transformer.word_embeddings",
                        EMBED_NORM, "transformer.word_embeddings_layernorm", FINAL_NORM, "transformer.ln_f",
                        LM_HEAD, "lm_head");
    }

    /** Phi-2 / Phi-1.5: attention and MLP in parallel from one LayerNorm, partial rotary, biases, lm_head bias. */
    private static void phi(JsonNode config, TransformerSpec.Builder b) {
        attentionShape(config, b, "hidden_size", "num_attention_heads", "num_hidden_layers");
        if (config.path("qk_layernorm").asBoolean(false)) {
            throw MiiException.unsupported("phi with qk_layernorm=true is not supported");
        }
        b.intermediateSize = positive(config, "intermediate_size");
        layerNormFamily(b, number(config, "layer_norm_eps", 1e-5), activation(text(config, "hidden_act", "gelu_new")), true);
        b.attentionBias = true;
        b.outputBias = true;
        b.lmHeadBias = true;
        b.rope = rope(config, ropeParams(config, "full_attention"), rotaryDim(config, b.headDim));
        b.block = Block.PARALLEL;
        String l = "model.layers.{L}.";
        b.weights = decoderNames(l, "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.dense",
                "input_layernorm", null, "mlp.fc1", "mlp.fc2")
                .with(EMBED, "model.embed_tokens", FINAL_NORM, "model.final_layernorm", LM_HEAD, "lm_head");
    }

    /** The shared settings of the LayerNorm families: biases, a non-gated MLP. */
    private static void layerNormFamily(TransformerSpec.Builder b, double eps, Activation act, boolean bias) {
        b.norm = Norm.LAYER;
        b.normEps = (float) eps;
        b.activation = act;
        b.gatedMlp = false;
        b.mlpBias = bias;
        b.attentionBias = bias;
        b.outputBias = bias;
    }

    /** Per-layer names of a decoder with separate (or, with null q/k/v, fused) projections and a two-matrix MLP. */
    private static WeightNames decoderNames(String l, String q, String k, String v, String o, String attnNorm,
                                            String mlpNorm, String up, String down) {
        return new WeightNames(java.util.Map.of()).with(Q, q == null ? null : l + q, K, k == null ? null : l + k,
                V, v == null ? null : l + v, O, l + o, ATTN_NORM, l + attnNorm,
                MLP_NORM, mlpNorm == null ? null : l + mlpNorm, UP, l + up, DOWN, l + down);
    }

    private static void attentionShape(JsonNode config, TransformerSpec.Builder b, String hidden, String heads,
                                       String layers) {
        b.hiddenSize = positive(config, hidden);
        b.numHeads = positive(config, heads);
        b.numLayers = positive(config, layers);
        b.numKvHeads = config.hasNonNull("num_key_value_heads") ? positive(config, "num_key_value_heads") : b.numHeads;
        if (b.numHeads % b.numKvHeads != 0) {
            throw MiiException.corrupt("config.json: num_attention_heads " + b.numHeads
                    + " is not a multiple of num_key_value_heads " + b.numKvHeads);
        }
        b.headDim = config.hasNonNull("head_dim") ? positive(config, "head_dim") : b.hiddenSize / b.numHeads;
    }

    /** Which layers are MoE in Qwen-MoE configs: every decoder_sparse_step-th, except mlp_only_layers. */
    private static boolean[] moeLayers(JsonNode config, int layers) {
        int step = config.path("decoder_sparse_step").asInt(1);
        boolean[] moe = new boolean[layers];
        for (int i = 0; i < layers; i++) {
            moe[i] = step > 0 && (i + 1) % step == 0;
        }
        for (JsonNode n : config.path("mlp_only_layers")) {
            if (n.asInt() >= 0 && n.asInt() < layers) {
                moe[n.asInt()] = false;
            }
        }
        return moe;
    }

    /**
     * ALiBi slopes as BLOOM and Falcon compute them: a geometric sequence from 2^(-8/n) for the
     * largest power of two n not above the head count, the odd powers of the next sequence for the rest.
     */
    static float[] alibiSlopes(int heads, float scale) {
        int closest = Integer.highestOneBit(heads);
        float[] s = new float[heads];
        float base = (float) Math.pow(2, -Math.pow(2, -(log2(closest) - 3)));
        for (int i = 0; i < closest; i++) {
            s[i] = (float) Math.pow(base, i + 1);
        }
        if (closest != heads) {
            float extraBase = (float) Math.pow(2, -Math.pow(2, -(log2(2 * closest) - 3)));
            int remaining = Math.min(closest, heads - closest);
            for (int i = 0; i < remaining; i++) {
                s[closest + i] = (float) Math.pow(extraBase, 2 * i + 1);
            }
        }
        for (int i = 0; i < heads; i++) {
            s[i] *= scale;
        }
        return s;
    }

    private static double log2(int n) {
        return 31 - Integer.numberOfLeadingZeros(n);
    }

    private static int rotaryDim(JsonNode config, int headDim) {
        double partial = number(config, "partial_rotary_factor",
                config.path("rope_parameters").path("partial_rotary_factor").asDouble(number(config, "rotary_pct", 1.0)));
        int rotaryDim = (int) (headDim * partial);
        return rotaryDim - rotaryDim % 2;
    }

    /**
     * The rope parameters: transformers 5 writes rope_parameters (theta inside), per layer type for
     * Gemma 3 ({"full_attention": {...}, "sliding_attention": {...}}); older configs rope_theta + rope_scaling.
     */
    private static JsonNode ropeParams(JsonNode config, String layerType) {
        JsonNode params = config.hasNonNull("rope_parameters") ? config.get("rope_parameters") : config.path("rope_scaling");
        return params.has(layerType) && params.get(layerType).isObject() ? params.get(layerType) : params;
    }

    private static Rope rope(JsonNode config, JsonNode params, int rotaryDim) {
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
            case "relu" -> Activation.RELU;
            default -> throw MiiException.unsupported("unsupported activation '" + name
                    + "'; supported: silu, gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, relu");
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
