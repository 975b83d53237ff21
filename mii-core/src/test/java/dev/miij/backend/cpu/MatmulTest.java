package dev.miij.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.miij.model.DType;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * matmul against a double-precision scalar reference over awkward shapes: columns that are not a
 * multiple of the vector length or of the column block, output counts that are not a multiple of
 * the micro-tile, and row counts on both sides of the matrix-vector / tiled switch.
 *
 * <p>The error bound is relative to sum_i |x_i w_i| (the scale of the FP32 rounding in a dot
 * product), since the result itself may cancel to near zero. The reference uses the exact values
 * stored in the weight's dtype, so the bound is the same for BF16, F16 and F32.
 */
class MatmulTest {

    private static final double TOL = 1e-5;

    private static void check(DType t, int rows, int out, int in, boolean withBias, int misalign, long seed) {
        Random rnd = new Random(seed);
        try (Arena arena = Arena.ofShared()) { // pool threads read the weights
            TestWeights.Stored w = TestWeights.random(t, out, in, rnd, arena, misalign);
            float[] x = TestWeights.gaussian(rows * in, rnd);
            float[] bias = withBias ? TestWeights.gaussian(out, rnd) : null;
            int extra = 5;
            float[] y = new float[rows * out + extra];
            Arrays.fill(y, Float.NaN); // every output must be written
            CpuKernels.matmul(x, rows, w.matrix(), bias, y);
            for (int r = 0; r < rows; r++) {
                for (int o = 0; o < out; o++) {
                    double ref = withBias ? bias[o] : 0;
                    double scale = withBias ? Math.abs(bias[o]) : 0;
                    for (int i = 0; i < in; i++) {
                        double p = (double) x[r * in + i] * w.values()[o * in + i];
                        ref += p;
                        scale += Math.abs(p);
                    }
                    float got = y[r * out + o];
                    if (!(Math.abs(got - ref) <= TOL * scale + 1e-30)) {
                        fail(String.format("%s rows=%d out=%d in=%d bias=%b: y[%d][%d]=%s, expected %s (scale %s)",
                                t, rows, out, in, withBias, r, o, got, ref, scale));
                    }
                }
            }
            for (int i = rows * out; i < y.length; i++) {
                assertTrue(Float.isNaN(y[i]), "wrote past rows*outDim at " + i);
            }
        }
    }

    /** Several weights in one call (q/k/v, gate/up) on both paths, mixed types, some without bias. */
    @Test
    void severalWeightsInOneCall() {
        Random rnd = new Random(7);
        int in = 300;
        DType[] types = {DType.BF16, DType.F16, DType.BF16};
        int[] outs = {130, 17, 64};
        try (Arena arena = Arena.ofShared()) {
            TestWeights.Stored[] stored = new TestWeights.Stored[3];
            WeightMatrix[] ws = new WeightMatrix[3];
            for (int i = 0; i < 3; i++) {
                stored[i] = TestWeights.random(types[i], outs[i], in, rnd, arena, i);
                ws[i] = stored[i].matrix();
            }
            for (int rows : new int[] {1, 3, 8, 17, 70}) {
                float[] x = TestWeights.gaussian(rows * in, rnd);
                float[][] biases = {TestWeights.gaussian(outs[0], rnd), null, TestWeights.gaussian(outs[2], rnd)};
                float[][] ys = new float[3][];
                for (int i = 0; i < 3; i++) {
                    ys[i] = new float[rows * outs[i]];
                    Arrays.fill(ys[i], Float.NaN);
                }
                CpuKernels.matmul(x, rows, ws, biases, ys);
                for (int i = 0; i < 3; i++) {
                    for (int r = 0; r < rows; r++) {
                        for (int o = 0; o < outs[i]; o++) {
                            double ref = biases[i] == null ? 0 : biases[i][o];
                            double scale = Math.abs(ref);
                            for (int k = 0; k < in; k++) {
                                double p = (double) x[r * in + k] * stored[i].values()[o * in + k];
                                ref += p;
                                scale += Math.abs(p);
                            }
                            assertEquals(ref, ys[i][r * outs[i] + o], TOL * scale,
                                    "weight " + i + " rows=" + rows + " y[" + r + "][" + o + "]");
                        }
                    }
                }
            }
        }
    }

    @Test
    void matrixVectorShapes() {
        long seed = 1;
        for (DType t : new DType[] {DType.BF16, DType.F16, DType.F32}) {
            for (int in : new int[] {1, 15, 16, 50, 67, 1000, 2048, 4096}) {
                for (int out : new int[] {1, 3, 17, 130}) {
                    for (int rows : new int[] {1, 2, 3, 4, 5, 6, 7, 8, 13, 24}) {
                        check(t, rows, out, in, (seed & 1) == 0, (int) (seed % 3), seed++);
                    }
                }
            }
        }
    }

    @Test
    void tiledShapes() {
        long seed = 100;
        for (DType t : new DType[] {DType.BF16, DType.F16, DType.F32}) {
            for (int in : new int[] {1, 67, 300, 1000}) {
                for (int out : new int[] {1, 3, 130, 260}) {
                    for (int rows : new int[] {5, 13, 17, 45, 64, 70, 129}) {
                        check(t, rows, out, in, (seed & 1) == 1, (int) (seed % 3), seed++);
                    }
                }
            }
        }
    }

    @Test
    void largerTiled() {
        check(DType.BF16, 200, 520, 2048, true, 1, 7);
        check(DType.F32, 33, 64, 2048, false, 0, 8);
    }

    @Test
    void heapMatmul() {
        Random rnd = new Random(3);
        int rows = 3, out = 17, in = 67;
        float[] w = TestWeights.gaussian(out * in, rnd);
        float[] x = TestWeights.gaussian(rows * in, rnd);
        float[] b = TestWeights.gaussian(out, rnd);
        float[] y = new float[rows * out];
        Arrays.fill(y, Float.NaN);
        CpuKernels.matmul(x, rows, w, out, in, b, y);
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < out; o++) {
                double ref = b[o];
                double scale = Math.abs(b[o]);
                for (int i = 0; i < in; i++) {
                    ref += (double) x[r * in + i] * w[o * in + i];
                    scale += Math.abs((double) x[r * in + i] * w[o * in + i]);
                }
                assertEquals(ref, y[r * out + o], TOL * scale);
            }
        }
    }
}
