package dev.miij.arch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.miij.MiiException;
import dev.miij.backend.cpu.CpuBackend;
import dev.miij.model.ModelFolder;
import dev.miij.model.TensorData;
import dev.miij.model.WeightSource;
import dev.miij.testing.Fixtures;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** What config.json turns into, and the errors a user sees for what MII-J cannot run. */
class ArchitecturesTest {

    private static ObjectNode config(String name) {
        return (ObjectNode) ModelFolder.open(Fixtures.dir(name)).config().deepCopy();
    }

    @Test
    void anUnsupportedModelTypeNamesEverySupportedOne() {
        ObjectNode c = new ObjectMapper().createObjectNode().put("model_type", "t5");
        MiiException e = assertThrows(MiiException.class, () -> Architectures.fromConfig(c));
        assertTrue(e.getMessage().contains("unsupported model_type 't5'"), e.getMessage());
        for (String type : Architectures.SUPPORTED) {
            assertTrue(e.getMessage().contains(type), "the message should list " + type + ": " + e.getMessage());
        }
        assertTrue(Architectures.SUPPORTED.containsAll(java.util.List.of("opt", "phi", "gpt_neox", "falcon", "gpt2",
                "bloom", "qwen2_moe", "qwen3_moe", "gemma", "gemma2", "gemma3_text")));
    }

    @Test
    void aMissingTensorIsNamedWithTheFamily() {
        String name = "opt";
        ModelFolder folder = ModelFolder.open(Fixtures.dir(name));
        TransformerSpec spec = Architectures.fromConfig(folder.config());
        String hidden = "model.decoder.layers.1.fc2.bias";
        try (WeightSource all = folder.openWeights()) {
            WeightSource without = new WeightSource() {
                @Override
                public Set<String> names() {
                    Set<String> s = new HashSet<>(all.names());
                    s.remove(hidden);
                    return s;
                }

                @Override
                public TensorData get(String n) {
                    return all.get(n);
                }

                @Override
                public void close() {
                }
            };
            MiiException e = assertThrows(MiiException.class, () -> new DecoderModel(spec, without, new CpuBackend()));
            assertTrue(e.getMessage().contains(hidden) && e.getMessage().contains("opt"), e.getMessage());
        }
    }

    /** Checkpoints saved from the bare model (the hub's gpt2, bloom-560m) lack the "transformer." prefix. */
    @Test
    void tensorsWithoutTheBaseModelPrefixAreFound() {
        ModelFolder folder = ModelFolder.open(Fixtures.dir("gpt2"));
        TransformerSpec spec = Architectures.fromConfig(folder.config());
        Fixtures.Case c = Fixtures.cases("gpt2").get(0);
        try (WeightSource all = folder.openWeights()) {
            WeightSource bare = new WeightSource() {
                @Override
                public Set<String> names() {
                    Set<String> s = new HashSet<>();
                    all.names().forEach(n -> s.add(n.replaceFirst("^transformer\\.", "")));
                    return s;
                }

                @Override
                public TensorData get(String n) {
                    return all.get(all.contains(n) ? n : "transformer." + n);
                }

                @Override
                public void close() {
                }
            };
            assertTrue(!bare.contains("transformer.wte.weight") && bare.contains("wte.weight"));
            DecoderModel model = new DecoderModel(spec, bare, new CpuBackend());
            int n = c.promptIds().length;
            int[] pos = new int[n];
            for (int i = 0; i < n; i++) {
                pos[i] = i;
            }
            dev.miij.backend.RaggedBatch batch = new dev.miij.backend.RaggedBatch(c.promptIds(), pos, pos,
                    new int[] {0, n}, new int[] {n}, new int[][] {{0, 1, 2, 3}}, new int[] {n - 1});
            float[] logits = model.forward(batch, model.newKvCache(4, 16));
            for (int i = 0; i < logits.length; i++) {
                assertEquals(c.firstLogits()[i], logits[i], 1e-4f * Math.max(1, Math.abs(c.firstLogits()[i])));
            }
        }
    }

    @Test
    void unsupportedVariantsOfSupportedFamiliesSaySo() {
        ObjectNode phi = config("phi").put("qk_layernorm", true);
        assertTrue(assertThrows(MiiException.class, () -> Architectures.fromConfig(phi)).getMessage().contains("qk_layernorm"));
        ObjectNode gpt2 = config("gpt2").put("scale_attn_by_inverse_layer_idx", true);
        assertThrows(MiiException.class, () -> Architectures.fromConfig(gpt2));
        ObjectNode opt = config("opt").put("activation_function", "swiglu_x");
        assertTrue(assertThrows(MiiException.class, () -> Architectures.fromConfig(opt)).getMessage().contains("relu"));
    }

    @Test
    void alibiSlopesFollowBloomForAnyHeadCount() {
        // 12 heads: 8 slopes from 2^-1, then the odd powers of 2^-0.5.
        float[] s = Architectures.alibiSlopes(12, 1f);
        float[] expected = {0.5f, 0.25f, 0.125f, 0.0625f, 0.03125f, 0.015625f, 0.0078125f, 0.00390625f,
            (float) Math.pow(2, -0.5), (float) Math.pow(2, -1.5), (float) Math.pow(2, -2.5), (float) Math.pow(2, -3.5)};
        assertArrayEquals(expected, s, 1e-7f);
    }

    @Test
    void familySpecificChoicesAreReadFromConfig() {
        TransformerSpec falcon = Architectures.fromConfig(config("falcon"));
        assertEquals(1, falcon.numKvHeads(), "Falcon-7b style multi_query ignores num_kv_heads");
        assertEquals(TransformerSpec.QkvLayout.CONCATENATED, falcon.qkvLayout());
        assertEquals(TransformerSpec.QkvLayout.PER_GROUP, Architectures.fromConfig(config("falcon40b")).qkvLayout());
        TransformerSpec gemma3 = Architectures.fromConfig(config("gemma3"));
        assertEquals(8, gemma3.slidingWindow(0));
        assertEquals(0, gemma3.slidingWindow(1));
        assertEquals(gemma3.localRope(), gemma3.rope(0));
        assertEquals(gemma3.rope(), gemma3.rope(1));
        TransformerSpec qwen2Moe = Architectures.fromConfig(config("qwen2_moe"));
        assertTrue(qwen2Moe.isMoe(0));
        assertTrue(!qwen2Moe.isMoe(1), "mlp_only_layers");
        assertTrue(!qwen2Moe.normalizeTopK());
        TransformerSpec opt350 = Architectures.fromConfig(config("opt350"));
        assertEquals(TransformerSpec.Block.POST_NORM, opt350.block());
        assertEquals(32, opt350.embedDim());
        assertNull(opt350.weights().get(WeightNames.Role.FINAL_NORM));
    }
}
