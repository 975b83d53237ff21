package dev.miij.arch;

import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;

/**
 * Where each role's tensor lives in a Hugging Face checkpoint. Templates use {@code {L}} for the
 * layer index and {@code {E}} for the expert index, and leave out the ".weight" / ".bias" suffix.
 * A fused template (qkv, gate_up) is used when the separate ones are absent: the fused tensor is
 * split by rows at load time (reordered first where heads are interleaved), so the forward pass
 * always sees separate q/k/v and gate/up matrices.
 */
public record WeightNames(Map<Role, String> templates) {

    /** The tensors a decoder may have; which are present depends on the {@link TransformerSpec}. */
    public enum Role {
        EMBED, POSITIONS, EMBED_NORM, PROJECT_IN, PROJECT_OUT, FINAL_NORM, LM_HEAD,
        ATTN_NORM, POST_ATTN_NORM, MLP_NORM, POST_MLP_NORM,
        Q, K, V, QKV, O, Q_NORM, K_NORM,
        GATE, UP, GATE_UP, DOWN,
        ROUTER, EXPERT_GATE, EXPERT_UP, EXPERT_DOWN,
        SHARED_GATE, SHARED_UP, SHARED_DOWN, SHARED_EXPERT_GATE
    }

    public WeightNames {
        EnumMap<Role, String> copy = new EnumMap<>(Role.class);
        copy.putAll(templates);
        templates = Collections.unmodifiableMap(copy);
    }

    /** The names shared by Llama and the families derived from it. */
    public static WeightNames llama() {
        Map<Role, String> m = new EnumMap<>(Role.class);
        m.put(Role.EMBED, "model.embed_tokens");
        m.put(Role.FINAL_NORM, "model.norm");
        m.put(Role.LM_HEAD, "lm_head");
        String l = "model.layers.{L}.";
        m.put(Role.ATTN_NORM, l + "input_layernorm");
        m.put(Role.MLP_NORM, l + "post_attention_layernorm");
        m.put(Role.Q, l + "self_attn.q_proj");
        m.put(Role.K, l + "self_attn.k_proj");
        m.put(Role.V, l + "self_attn.v_proj");
        m.put(Role.O, l + "self_attn.o_proj");
        m.put(Role.Q_NORM, l + "self_attn.q_norm");
        m.put(Role.K_NORM, l + "self_attn.k_norm");
        m.put(Role.GATE, l + "mlp.gate_proj");
        m.put(Role.UP, l + "mlp.up_proj");
        m.put(Role.DOWN, l + "mlp.down_proj");
        return new WeightNames(m);
    }

    /** A template, or null when the checkpoint has no tensor of that role. */
    public String get(Role role) {
        return templates.get(role);
    }

    /** These names with {@code role} at {@code template} (null removes it). */
    public WeightNames with(Role role, String template) {
        Map<Role, String> m = new EnumMap<>(Role.class);
        m.putAll(templates);
        if (template == null) {
            m.remove(role);
        } else {
            m.put(role, template);
        }
        return new WeightNames(m);
    }

    /** Several roles at once: {@code with(Role.A, "a", Role.B, "b", ...)}. */
    public WeightNames with(Object... roleTemplatePairs) {
        WeightNames n = this;
        for (int i = 0; i < roleTemplatePairs.length; i += 2) {
            n = n.with((Role) roleTemplatePairs[i], (String) roleTemplatePairs[i + 1]);
        }
        return n;
    }

    /** The name of {@code role}'s tensor for a layer (and expert), with {@code suffix} appended. */
    public String name(Role role, int layer, int expert, String suffix) {
        String t = templates.get(role);
        if (t == null) {
            throw new IllegalStateException("no tensor name for " + role);
        }
        return t.replace("{L}", Integer.toString(layer)).replace("{E}", Integer.toString(expert)) + suffix;
    }

    public String name(Role role, int layer, String suffix) {
        return name(role, layer, -1, suffix);
    }
}
