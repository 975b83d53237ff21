package dev.miij.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.miij.arch.TransformerSpec.Activation;
import dev.miij.backend.cpu.CpuBackend;
import dev.miij.model.DType;
import dev.miij.model.TensorData;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Host top-k routing, and the default (host-routed) {@link Backend#moe} against a plain loop. */
class MoeRoutingTest {

    @Test
    void picksTheMostProbableExpertsInOrderAndRenormalisesWhenAsked() {
        float[] logits = {0f, 2f, 1f, -1f, /* row 1 */ 3f, 3f, 0f, 3f};
        MoeRouting.Routes plain = MoeRouting.route(logits, 2, 4, 2, false);
        assertArrayEquals(new int[] {1, 2, 0, 1}, plain.experts(), "ties go to the lower expert id");
        double z0 = Math.exp(0) + Math.exp(2) + Math.exp(1) + Math.exp(-1);
        assertEquals(Math.exp(2) / z0, plain.weights()[0], 1e-6);
        assertEquals(Math.exp(1) / z0, plain.weights()[1], 1e-6);
        double z1 = 3 * Math.exp(3) + 1;
        assertEquals(Math.exp(3) / z1, plain.weights()[2], 1e-6);
        MoeRouting.Routes norm = MoeRouting.route(logits, 2, 4, 2, true);
        assertArrayEquals(plain.experts(), norm.experts());
        assertEquals(Math.exp(2) / (Math.exp(2) + Math.exp(1)), norm.weights()[0], 1e-6);
        assertEquals(0.5, norm.weights()[2], 1e-6);
        assertEquals(0.5, norm.weights()[3], 1e-6);
    }

    @Test
    void topKOfAllExpertsKeepsEveryOneAndSumsToOne() {
        float[] logits = {0.5f, -0.25f, 4f};
        MoeRouting.Routes r = MoeRouting.route(logits, 1, 3, 3, true);
        assertArrayEquals(new int[] {2, 0, 1}, r.experts());
        assertEquals(1.0, r.weights()[0] + r.weights()[1] + r.weights()[2], 1e-6);
    }

    @Test
    void expertsRejectInconsistentShapes() {
        CpuBackend cpu = new CpuBackend();
        Weight router = cpu.weight(matrix(new float[3 * 4], 3, 4));
        Weight w = cpu.weight(matrix(new float[8 * 4], 8, 4));
        Weight d = cpu.weight(matrix(new float[4 * 8], 4, 8));
        assertThrows(IllegalArgumentException.class, () -> new Experts(router, new Weight[] {w, w},
                new Weight[] {w, w}, new Weight[] {d, d}, 1, true, Activation.SILU));
        assertThrows(IllegalArgumentException.class, () -> new Experts(router, new Weight[] {w, w, w},
                new Weight[] {w, w, w}, new Weight[] {d, d, d}, 4, true, Activation.SILU));
    }

    /** The default moe() equals routing each row by hand and summing its experts' weighted MLPs. */
    @Test
    void defaultMoeMatchesAPlainLoop() {
        Random rnd = new Random(5);
        int rows = 7;
        int hidden = 12;
        int width = 10;
        int n = 5;
        int topK = 2;
        CpuBackend cpu = new CpuBackend();
        float[] routerW = gaussian(rnd, n * hidden);
        float[][] gate = new float[n][];
        float[][] up = new float[n][];
        float[][] down = new float[n][];
        Weight[] gw = new Weight[n];
        Weight[] uw = new Weight[n];
        Weight[] dw = new Weight[n];
        for (int e = 0; e < n; e++) {
            gate[e] = gaussian(rnd, width * hidden);
            up[e] = gaussian(rnd, width * hidden);
            down[e] = gaussian(rnd, hidden * width);
            gw[e] = cpu.weight(matrix(gate[e], width, hidden));
            uw[e] = cpu.weight(matrix(up[e], width, hidden));
            dw[e] = cpu.weight(matrix(down[e], hidden, width));
        }
        for (boolean normalize : new boolean[] {true, false}) {
            Experts experts = new Experts(cpu.weight(matrix(routerW, n, hidden)), gw, uw, dw, topK, normalize,
                    Activation.SILU);
            float[] x = gaussian(rnd, rows * hidden);
            float[] residual = gaussian(rnd, rows * hidden);
            Tensor res = cpu.upload(residual, rows, hidden);
            cpu.moe(cpu.upload(x, rows, hidden), experts, res);
            float[] actual = cpu.toHost(res);
            float[] logits = new float[rows * n];
            for (int r = 0; r < rows; r++) {
                for (int e = 0; e < n; e++) {
                    logits[r * n + e] = dot(routerW, e * hidden, x, r * hidden, hidden);
                }
            }
            MoeRouting.Routes routes = MoeRouting.route(logits, rows, n, topK, normalize);
            for (int r = 0; r < rows; r++) {
                for (int j = 0; j < topK; j++) {
                    int e = routes.experts()[r * topK + j];
                    float[] h = new float[width];
                    for (int i = 0; i < width; i++) {
                        float g = dot(gate[e], i * hidden, x, r * hidden, hidden);
                        float u = dot(up[e], i * hidden, x, r * hidden, hidden);
                        h[i] = (float) (g / (1 + Math.exp(-g))) * u;
                    }
                    for (int c = 0; c < hidden; c++) {
                        residual[r * hidden + c] += routes.weights()[r * topK + j] * dot(down[e], c * width, h, 0, width);
                    }
                }
            }
            for (int i = 0; i < actual.length; i++) {
                assertEquals(residual[i], actual[i], 1e-3 * Math.max(1, Math.abs(residual[i])), "element " + i);
            }
        }
    }

    private static float dot(float[] a, int ao, float[] b, int bo, int n) {
        double s = 0;
        for (int i = 0; i < n; i++) {
            s += (double) a[ao + i] * b[bo + i];
        }
        return (float) s;
    }

    private static float[] gaussian(Random rnd, int n) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rnd.nextGaussian() * 0.5f;
        }
        return a;
    }

    private static TensorData matrix(float[] data, int rows, int cols) {
        MemorySegment seg = Arena.ofAuto().allocate(4L * data.length, 8);
        MemorySegment.copy(data, 0, seg, ValueLayout.JAVA_FLOAT, 0, data.length);
        return new TensorData("w", DType.F32, new long[] {rows, cols}, seg);
    }
}
