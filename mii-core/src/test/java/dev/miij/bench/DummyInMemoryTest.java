package dev.miij.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.arch.Architectures;
import dev.miij.arch.TransformerSpec;
import dev.miij.model.DType;
import dev.miij.model.TensorData;
import dev.miij.model.WeightSource;
import org.junit.jupiter.api.Test;

class DummyInMemoryTest {

    @Test
    void weightsOfTheShapeWithoutAFile() {
        DummyModel.Shape s = DummyModel.shape("small");
        TransformerSpec spec = Architectures.fromConfig(DummyModel.config(s, DType.BF16));
        assertEquals(s.hidden(), spec.hiddenSize());
        try (WeightSource w = DummyModel.inMemory(s)) {
            assertEquals(DummyModel.tensors(s).keySet(), w.names());
            TensorData q0 = w.get("model.layers.0.self_attn.q_proj.weight");
            TensorData q1 = w.get("model.layers.1.self_attn.q_proj.weight");
            assertEquals(DType.BF16, q0.dtype());
            assertEquals((long) s.hidden() * s.hidden(), q0.size());
            boolean differ = false;
            for (int i = 0; i < 1000; i++) {
                float v = q0.getFloat(i);
                assertTrue(Math.abs(v) <= 0.04f && !Float.isNaN(v), "small values: " + v);
                differ |= v != q1.getFloat(i);
            }
            assertTrue(differ, "layers hold different windows of the random pool");
            assertNotEquals(0f, q0.getFloat(7));
            assertEquals(1f, w.get("model.norm.weight").getFloat(s.hidden() - 1));
            assertEquals((long) s.vocab() * s.hidden(), w.get("model.embed_tokens.weight").size());
        }
    }

    @Test
    void theLlama3EightBShapeIsKnown() {
        DummyModel.Shape s = DummyModel.shape("llama-3-8b");
        assertEquals(32, s.layers());
        assertEquals(14336, s.intermediate());
        assertTrue(!s.tied());
        assertTrue(DummyModel.tensors(s).containsKey("lm_head.weight"));
    }
}
