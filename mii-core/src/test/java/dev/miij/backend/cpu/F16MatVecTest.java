package dev.miij.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.model.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The one-row F16 kernel converts weights in registers with integer operations and a rescaling
 * ({@link MatVec#dot4HalfRows}); these check that conversion against {@link Float#float16ToFloat}
 * for every finite F16 value, and that infinities and NaNs still give IEEE results.
 */
class F16MatVecTest {

    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static boolean finite(int bits) {
        return ((bits >>> 10) & 0x1F) != 0x1F;
    }

    /**
     * All 63,488 finite F16 patterns (zeros, subnormals, the largest values, both signs) as a
     * 1984 x 32 matrix, multiplied by each one-hot vector: every output is one weight, exactly.
     */
    @Test
    void everyFiniteF16ValueConvertsExactly() {
        int in = 32;
        int out = 63488 / in;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment seg = arena.allocate(2L * out * in + 64, 64).asSlice(2, 2L * out * in);
            short[] patterns = new short[out * in];
            int k = 0;
            for (int bits = 0; bits < 65536; bits++) {
                if (finite(bits)) {
                    patterns[k] = (short) bits;
                    seg.set(SHORT, 2L * k, (short) bits);
                    k++;
                }
            }
            assertEquals(out * in, k);
            WeightMatrix w = new WeightMatrix(seg, DType.F16, out, in);
            float[] y = new float[out];
            for (int col = 0; col < in; col++) {
                float[] x = new float[in];
                x[col] = 1f;
                CpuKernels.matmul(x, 1, w, null, y);
                for (int o = 0; o < out; o++) {
                    short p = patterns[o * in + col];
                    assertEquals(Float.float16ToFloat(p), y[o], 0f, "F16 pattern 0x" + Integer.toHexString(p & 0xFFFF));
                }
            }
        }
    }

    /** Rows holding an infinity or a NaN come out as IEEE arithmetic has them; the others as usual. */
    @Test
    void infinitiesAndNaNsGiveIeeeResults() {
        int out = 12;
        int in = 64;
        Random rnd = new Random(5);
        try (Arena arena = Arena.ofShared()) {
            TestWeights.Stored stored = TestWeights.random(DType.F16, out, in, rnd, arena, 0);
            MemorySegment seg = stored.matrix().data();
            float[] values = stored.values();
            int[][] specials = {{1, 3, 0x7C00}, {5, 40, 0xFC00}, {6, 17, 0x7E00}, {9, 0, 0x7C00}};
            for (int[] s : specials) {
                seg.set(SHORT, 2L * (s[0] * in + s[1]), (short) s[2]);
                values[s[0] * in + s[1]] = Float.float16ToFloat((short) s[2]);
            }
            float[] x = new float[in];
            for (int i = 0; i < in; i++) {
                x[i] = 0.5f + rnd.nextFloat();
            }
            x[0] = 0f; // row 9: infinity times zero
            float[] y = new float[out];
            CpuKernels.matmul(x, 1, stored.matrix(), null, y);
            assertEquals(Float.POSITIVE_INFINITY, y[1]);
            assertEquals(Float.NEGATIVE_INFINITY, y[5]);
            assertTrue(Float.isNaN(y[6]), "NaN weight: " + y[6]);
            assertTrue(Float.isNaN(y[9]), "infinity times zero: " + y[9]);
            for (int o : new int[] {0, 2, 3, 4, 7, 8, 10, 11}) {
                double ref = 0;
                double scale = 0;
                for (int i = 0; i < in; i++) {
                    ref += (double) values[o * in + i] * x[i];
                    scale += Math.abs((double) values[o * in + i] * x[i]);
                }
                assertEquals(ref, y[o], 1e-5 * scale, "row " + o);
            }
        }
    }
}
