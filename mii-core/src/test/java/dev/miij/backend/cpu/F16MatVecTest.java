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
 * The F16 matrix-vector kernels convert weights in registers with integer operations and a
 * rescaling ({@link MatVec#dot4HalfRows} for one activation row, {@link MatVec#dot4x4Half} and its
 * siblings for several); these check that conversion against {@link Float#float16ToFloat} for every
 * finite F16 value, and that infinities and NaNs still give IEEE results, with one activation row
 * and with several.
 */
class F16MatVecTest {

    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static boolean finite(int bits) {
        return ((bits >>> 10) & 0x1F) != 0x1F;
    }

    /**
     * All 63,488 finite F16 patterns (zeros, subnormals, the largest values, both signs) as a
     * 1984 x 32 matrix, multiplied by one-hot activation rows: every output is one weight, exactly.
     * One, three (the two- and one-row kernels) and four (the four-row kernel) activation rows.
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
            for (int rows : new int[] {1, 3, 4}) {
                float[] y = new float[rows * out];
                for (int col0 = 0; col0 < in; col0 += rows) {
                    float[] x = new float[rows * in];
                    for (int r = 0; r < rows; r++) {
                        x[r * in + (col0 + r) % in] = 1f;
                    }
                    CpuKernels.matmul(x, rows, w, null, y);
                    for (int r = 0; r < rows; r++) {
                        int col = (col0 + r) % in;
                        for (int o = 0; o < out; o++) {
                            short p = patterns[o * in + col];
                            assertEquals(Float.float16ToFloat(p), y[r * out + o], 0f,
                                    rows + " rows: F16 pattern 0x" + Integer.toHexString(p & 0xFFFF));
                        }
                    }
                }
            }
        }
    }

    /** Rows holding an infinity or a NaN come out as IEEE arithmetic has them; the others as usual. */
    @Test
    void infinitiesAndNaNsGiveIeeeResults() {
        for (int in : new int[] {64, 70}) { // 70: rows end in a partial 32-column block
            for (int rows : new int[] {1, 2, 5}) {
                infinitiesAndNaNs(rows, in);
            }
        }
    }

    private static void infinitiesAndNaNs(int rows, int in) {
        int out = 12;
        Random rnd = new Random(5);
        try (Arena arena = Arena.ofShared()) {
            TestWeights.Stored stored = TestWeights.random(DType.F16, out, in, rnd, arena, 0);
            MemorySegment seg = stored.matrix().data();
            float[] values = stored.values();
            int[][] specials = {{1, 3, 0x7C00}, {5, 40, 0xFC00}, {6, in - 1, 0x7E00}, {9, 0, 0x7C00}};
            for (int[] s : specials) {
                seg.set(SHORT, 2L * (s[0] * in + s[1]), (short) s[2]);
                values[s[0] * in + s[1]] = Float.float16ToFloat((short) s[2]);
            }
            float[] x = new float[rows * in];
            for (int i = 0; i < x.length; i++) {
                x[i] = 0.5f + rnd.nextFloat();
            }
            for (int r = 0; r < rows; r++) {
                x[r * in] = 0f; // weight row 9: infinity times zero
            }
            float[] y = new float[rows * out];
            CpuKernels.matmul(x, rows, stored.matrix(), null, y);
            for (int r = 0; r < rows; r++) {
                String at = rows + " rows of " + in + ", activation row " + r + ": ";
                assertEquals(Float.POSITIVE_INFINITY, y[r * out + 1], at);
                assertEquals(Float.NEGATIVE_INFINITY, y[r * out + 5], at);
                assertTrue(Float.isNaN(y[r * out + 6]), at + "NaN weight: " + y[r * out + 6]);
                assertTrue(Float.isNaN(y[r * out + 9]), at + "infinity times zero: " + y[r * out + 9]);
                for (int o : new int[] {0, 2, 3, 4, 7, 8, 10, 11}) {
                    double ref = 0;
                    double scale = 0;
                    for (int i = 0; i < in; i++) {
                        ref += (double) values[o * in + i] * x[r * in + i];
                        scale += Math.abs((double) values[o * in + i] * x[r * in + i]);
                    }
                    assertEquals(ref, y[r * out + o], 1e-5 * scale, at + "weight row " + o);
                }
            }
        }
    }
}
