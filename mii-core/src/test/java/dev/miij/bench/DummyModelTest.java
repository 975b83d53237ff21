package dev.miij.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.MiiException;
import dev.miij.model.DType;
import dev.miij.model.ModelFolder;
import dev.miij.model.TensorData;
import dev.miij.model.WeightSource;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DummyModelTest {

    /** F16 dummy weights are the BF16 ones' values rounded to F16 instead, in their own folder. */
    @Test
    void f16WeightsHoldTheSameValuesAsBf16(@TempDir Path dir) throws Exception {
        DummyModel.Shape tiny = DummyModel.shape("tiny");
        Path bf16Dir = DummyModel.ensure(tiny, dir);
        Path f16Dir = DummyModel.ensure(tiny, DType.F16, dir);
        assertNotEquals(bf16Dir, f16Dir);
        assertEquals(f16Dir, DummyModel.ensure(tiny, DType.F16, dir), "written once, then reused");
        ModelFolder bf16 = ModelFolder.open(bf16Dir);
        ModelFolder f16 = ModelFolder.open(f16Dir);
        assertEquals("float16", f16.config().get("torch_dtype").asText());
        assertEquals("bfloat16", bf16.config().get("torch_dtype").asText());
        try (WeightSource a = bf16.openWeights(); WeightSource b = f16.openWeights()) {
            assertEquals(a.names(), b.names());
            String name = "model.layers.1.mlp.down_proj.weight";
            TensorData x = a.get(name);
            TensorData y = b.get(name);
            assertEquals(DType.BF16, x.dtype());
            assertEquals(DType.F16, y.dtype());
            float[] xs = x.toFloatArray();
            float[] ys = y.toFloatArray();
            assertEquals(xs.length, ys.length);
            double maxAbs = 0;
            for (int i = 0; i < xs.length; i++) {
                // One value, cut to BF16's 8 significant bits or rounded to F16's 11.
                assertEquals(xs[i], ys[i], Math.abs(ys[i]) * 0x1p-7f + 1e-7f, "element " + i);
                maxAbs = Math.max(maxAbs, Math.abs(ys[i]));
            }
            assertTrue(maxAbs > 0.01, "values are not all tiny: " + maxAbs);
            assertEquals(1f, b.get("model.norm.weight").getFloat(0));
        }
    }

    @Test
    void otherTypesAreRefused(@TempDir Path dir) {
        MiiException e = assertThrows(MiiException.class, () -> DummyModel.ensure(DummyModel.shape("tiny"), DType.F32, dir));
        assertTrue(e.getMessage().contains("BF16 or F16"), e.getMessage());
    }
}
