package dev.miij.arch;

/**
 * Where each role's tensor lives in a Hugging Face checkpoint. Templates use {@code {L}} for the
 * layer index and {@code {E}} for the expert index. A fused template (qkv, gate_up) is used when the
 * separate ones are null: the fused tensor is split by rows at load time, so the forward pass
 * always sees separate q/k/v and gate/up matrices.
 */
public record WeightNames(
        String embed,
        String finalNorm,
        String lmHead,
        String attnNorm,
        String mlpNorm,
        String q,
        String k,
        String v,
        String qkv,
        String o,
        String qNorm,
        String kNorm,
        String gate,
        String up,
        String gateUp,
        String down,
        String router,
        String expertGate,
        String expertUp,
        String expertDown) {

    /** The names shared by Llama and the families derived from it. */
    public static WeightNames llama() {
        return new WeightNames(
                "model.embed_tokens.weight", "model.norm.weight", "lm_head.weight",
                "model.layers.{L}.input_layernorm.weight", "model.layers.{L}.post_attention_layernorm.weight",
                "model.layers.{L}.self_attn.q_proj", "model.layers.{L}.self_attn.k_proj",
                "model.layers.{L}.self_attn.v_proj", null, "model.layers.{L}.self_attn.o_proj",
                "model.layers.{L}.self_attn.q_norm.weight", "model.layers.{L}.self_attn.k_norm.weight",
                "model.layers.{L}.mlp.gate_proj", "model.layers.{L}.mlp.up_proj", null,
                "model.layers.{L}.mlp.down_proj",
                null, null, null, null);
    }

    public WeightNames withFusedQkv(String qkvTemplate) {
        return new WeightNames(embed, finalNorm, lmHead, attnNorm, mlpNorm, null, null, null, qkvTemplate, o, qNorm,
                kNorm, gate, up, gateUp, down, router, expertGate, expertUp, expertDown);
    }

    public WeightNames withFusedGateUp(String gateUpTemplate) {
        return new WeightNames(embed, finalNorm, lmHead, attnNorm, mlpNorm, q, k, v, qkv, o, qNorm, kNorm, null, null,
                gateUpTemplate, down, router, expertGate, expertUp, expertDown);
    }

    public WeightNames withExperts(String routerT, String gateT, String upT, String downT) {
        return new WeightNames(embed, finalNorm, lmHead, attnNorm, mlpNorm, q, k, v, qkv, o, qNorm, kNorm, null, null,
                null, null, routerT, gateT, upT, downT);
    }

    /** A template with its layer (and expert) filled in; {@code suffix} is appended (".weight", ".bias"). */
    public static String at(String template, int layer, int expert, String suffix) {
        return template.replace("{L}", Integer.toString(layer)).replace("{E}", Integer.toString(expert)) + suffix;
    }

    public static String at(String template, int layer, String suffix) {
        return at(template, layer, -1, suffix);
    }
}
