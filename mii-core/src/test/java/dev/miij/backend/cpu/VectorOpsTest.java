package dev.miij.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Norms, activations, softmax and BLAS-1 kernels against double-precision scalar references, on
 * lengths around the vector width, with outputs poisoned before each call.
 */
class VectorOpsTest {

    private static final int[] SIZES = {1, 7, 15, 16, 17, 67, 1000, 2048};

    private static float[] poisoned(int n) {
        float[] a = new float[n + 3];
        Arrays.fill(a, Float.NaN);
        return a;
    }

    private static void assertTail(float[] out, int n) {
        for (int i = n; i < out.length; i++) {
            assertTrue(Float.isNaN(out[i]), "wrote past n at " + i);
        }
    }

    private static void close(double expected, float got, double tol, String what) {
        if (!(Math.abs(got - expected) <= tol)) {
            fail(what + ": got " + got + ", expected " + expected + " (tolerance " + tol + ")");
        }
    }

    /** erf in double: Taylor series near zero, continued fraction for erfc further out. */
    static double erf(double x) {
        double a = Math.abs(x);
        double r;
        if (a < 3) {
            double sum = 0;
            double term = a;
            for (int n = 0; n < 200; n++) {
                double t = term / (2 * n + 1);
                sum += t;
                if (Math.abs(t) < 1e-17 * Math.abs(sum)) {
                    break;
                }
                term *= -a * a / (n + 1);
            }
            r = 2 / Math.sqrt(Math.PI) * sum;
        } else {
            double f = a;
            for (int k = 80; k >= 1; k--) {
                f = a + (k / 2.0) / f;
            }
            r = 1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / f;
        }
        return x < 0 ? -r : r;
    }

    @Test
    void erfReference() {
        assertEquals(0.8427007929497149, erf(1), 1e-15);
        assertEquals(0.9999779095030014, erf(3), 1e-15);
        assertEquals(-0.9953222650189527, erf(-2), 1e-15);
    }

    @Test
    void rmsNorm() {
        Random rnd = new Random(1);
        for (int dim : SIZES) {
            for (int rows : new int[] {1, 3}) {
                float[] x = TestWeights.gaussian(rows * dim, rnd);
                float[] w = TestWeights.gaussian(dim, rnd);
                float[] out = poisoned(rows * dim);
                CpuKernels.rmsNorm(x, rows, dim, w, 1e-5f, out);
                float[] inPlace = x.clone();
                CpuKernels.rmsNorm(inPlace, rows, dim, w, 1e-5f, inPlace);
                for (int r = 0; r < rows; r++) {
                    double ss = 0;
                    for (int i = 0; i < dim; i++) {
                        ss += (double) x[r * dim + i] * x[r * dim + i];
                    }
                    double inv = 1 / Math.sqrt(ss / dim + 1e-5);
                    for (int i = 0; i < dim; i++) {
                        double ref = x[r * dim + i] * inv * w[i];
                        close(ref, out[r * dim + i], 1e-5 * Math.abs(ref) + 1e-7, "rmsNorm dim " + dim);
                        // Not bit for bit: the two calls may run at different JIT tiers, and the
                        // Vector API's reduction adds lanes in another order when not compiled.
                        close(out[r * dim + i], inPlace[r * dim + i], 1e-6 * Math.abs(out[r * dim + i]) + 1e-9,
                                "in place, dim " + dim);
                    }
                }
                assertTail(out, rows * dim);
            }
        }
    }

    @Test
    void layerNorm() {
        Random rnd = new Random(2);
        for (int dim : SIZES) {
            for (boolean withBias : new boolean[] {true, false}) {
                int rows = 3;
                float[] x = TestWeights.gaussian(rows * dim, rnd);
                for (int i = 0; i < x.length; i++) {
                    x[i] += 3; // an offset mean, so one-pass variance would lose digits
                }
                float[] w = TestWeights.gaussian(dim, rnd);
                float[] b = withBias ? TestWeights.gaussian(dim, rnd) : null;
                float[] out = poisoned(rows * dim);
                CpuKernels.layerNorm(x, rows, dim, w, b, 1e-5f, out);
                float[] inPlace = x.clone();
                CpuKernels.layerNorm(inPlace, rows, dim, w, b, 1e-5f, inPlace);
                for (int r = 0; r < rows; r++) {
                    double mean = 0;
                    for (int i = 0; i < dim; i++) {
                        mean += x[r * dim + i];
                    }
                    mean /= dim;
                    double var = 0;
                    for (int i = 0; i < dim; i++) {
                        var += (x[r * dim + i] - mean) * (x[r * dim + i] - mean);
                    }
                    double inv = 1 / Math.sqrt(var / dim + 1e-5);
                    for (int i = 0; i < dim; i++) {
                        double n = (x[r * dim + i] - mean) * inv;
                        double ref = n * w[i] + (withBias ? b[i] : 0);
                        close(ref, out[r * dim + i], 1e-5 * (Math.abs(n * w[i]) + Math.abs(ref)) + 1e-6,
                                "layerNorm dim " + dim);
                        // Not bit for bit: the two calls may run at different JIT tiers, and the
                        // Vector API's reduction adds lanes in another order when not compiled. The
                        // float mean may then differ by an ulp or two, which x - mean (small next to
                        // the offset x) turns into an absolute difference of that size times w * inv.
                        double meanUlps = 4 * Math.ulp((float) mean) * Math.abs(w[i]) * inv;
                        close(out[r * dim + i], inPlace[r * dim + i], 1e-6 * Math.abs(out[r * dim + i]) + meanUlps + 1e-9,
                                "in place, dim " + dim);
                    }
                }
                assertTail(out, rows * dim);
            }
        }
    }

    private interface Act {
        double apply(double x);
    }

    private static float[] activationInputs(int n, Random rnd) {
        float[] g = new float[n];
        for (int i = 0; i < n; i++) {
            g[i] = (float) (rnd.nextGaussian() * 3);
        }
        float[] special = {0f, -0f, 1e-30f, -20f, 20f, -90f, 90f, 1e-8f};
        for (int i = 0; i < Math.min(n, special.length); i++) {
            g[(i * 7) % n] = special[i];
        }
        return g;
    }

    private static void activation(String name, Act ref, double relTol, boolean gated) {
        Random rnd = new Random(name.hashCode());
        for (int n : SIZES) {
            float[] g = activationInputs(n, rnd);
            float[] u = TestWeights.gaussian(n, rnd);
            float[] out = poisoned(n);
            switch (name) {
                case "silu" -> {
                    if (gated) {
                        CpuKernels.siluMul(g, u, n, out);
                    } else {
                        CpuKernels.silu(g, n, out);
                    }
                }
                case "geluTanh" -> {
                    if (gated) {
                        CpuKernels.geluTanhMul(g, u, n, out);
                    } else {
                        CpuKernels.geluTanh(g, n, out);
                    }
                }
                default -> {
                    if (gated) {
                        CpuKernels.geluMul(g, u, n, out);
                    } else {
                        CpuKernels.gelu(g, n, out);
                    }
                }
            }
            for (int i = 0; i < n; i++) {
                double a = ref.apply(g[i]);
                double e = gated ? a * u[i] : a;
                double m = gated ? Math.abs(u[i]) : 1;
                // relative to the result, plus an absolute part relative to the input for results
                // that are tiny differences of larger quantities (tanh near -1)
                double tol = relTol * Math.abs(e) + 1e-7 * Math.abs(g[i]) * m + 1e-37;
                close(e, out[i], tol, name + (gated ? "Mul" : "") + "(" + g[i] + ") n=" + n);
            }
            assertTail(out, n);
        }
    }

    static double silu(double x) {
        return x / (1 + Math.exp(-x));
    }

    static double geluTanh(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    static double gelu(double x) {
        return 0.5 * x * (1 + erf(x / Math.sqrt(2)));
    }

    @Test
    void activations() {
        for (boolean gated : new boolean[] {true, false}) {
            activation("silu", VectorOpsTest::silu, 2e-6, gated);
            activation("geluTanh", VectorOpsTest::geluTanh, 2e-6, gated);
            activation("gelu", VectorOpsTest::gelu, 2e-6, gated);
        }
    }

    @Test
    void siluMulInPlace() {
        Random rnd = new Random(5);
        float[] g = TestWeights.gaussian(100, rnd);
        float[] u = TestWeights.gaussian(100, rnd);
        float[] expected = new float[100];
        CpuKernels.siluMul(g, u, 100, expected);
        CpuKernels.siluMul(g, u, 100, g);
        // The same arithmetic, but the Vector API's exp may differ by an ulp between an interpreted and a
        // compiled call, so compare to a rounding tolerance: what matters is that aliasing is safe.
        for (int i = 0; i < 100; i++) {
            assertEquals(expected[i], g[i], 1e-6f * Math.max(1f, Math.abs(expected[i])), "element " + i);
        }
    }

    @Test
    void softmax() {
        Random rnd = new Random(6);
        for (int n : SIZES) {
            float[] x = new float[n + 6];
            Arrays.fill(x, Float.NaN);
            for (int i = 0; i < n; i++) {
                x[3 + i] = (float) (rnd.nextGaussian() * 5);
            }
            if (n > 2) {
                x[4] = Float.NEGATIVE_INFINITY; // masked position
            }
            float[] in = x.clone();
            CpuKernels.softmax(x, 3, n);
            double max = Double.NEGATIVE_INFINITY;
            for (int i = 0; i < n; i++) {
                max = Math.max(max, in[3 + i]);
            }
            double sum = 0;
            for (int i = 0; i < n; i++) {
                sum += Math.exp(in[3 + i] - max);
            }
            for (int i = 0; i < n; i++) {
                double ref = Math.exp(in[3 + i] - max) / sum;
                close(ref, x[3 + i], 1e-5 * ref + 1e-12, "softmax n=" + n);
            }
            for (int i : new int[] {0, 1, 2, n + 3, n + 4, n + 5}) {
                assertTrue(Float.isNaN(x[i]), "softmax wrote outside its range at " + i);
            }
        }
        float[] masked = {Float.NEGATIVE_INFINITY, Float.NEGATIVE_INFINITY};
        CpuKernels.softmax(masked, 0, 2);
        assertEquals(0.5f, masked[0]);
    }

    @Test
    void blas1() {
        Random rnd = new Random(7);
        for (int n : SIZES) {
            float[] a = TestWeights.gaussian(n + 5, rnd);
            float[] b = TestWeights.gaussian(n + 9, rnd);
            double ref = 0;
            double scale = 0;
            for (int i = 0; i < n; i++) {
                ref += (double) a[2 + i] * b[5 + i];
                scale += Math.abs((double) a[2 + i] * b[5 + i]);
            }
            close(ref, CpuKernels.dot(a, 2, b, 5, n), 1e-5 * scale + 1e-30, "dot n=" + n);

            float[] y = b.clone();
            CpuKernels.axpy(0.75f, a, 2, y, 5, n);
            for (int i = 0; i < b.length; i++) {
                double e = (i >= 5 && i < 5 + n) ? b[i] + 0.75 * a[i - 3] : b[i];
                close(e, y[i], 1e-6 * (Math.abs(b[i]) + 1), "axpy n=" + n + " at " + i);
            }

            float[] x = Arrays.copyOf(a, n + 5);
            float[] z = TestWeights.gaussian(n + 5, rnd);
            CpuKernels.add(x, z, n);
            for (int i = 0; i < n + 5; i++) {
                assertEquals(i < n ? a[i] + z[i] : a[i], x[i], "add n=" + n + " at " + i);
            }

            float[] s = a.clone();
            CpuKernels.scale(s, 1, n, 3f);
            for (int i = 0; i < s.length; i++) {
                assertEquals(i >= 1 && i < 1 + n ? a[i] * 3f : a[i], s[i]);
            }
        }
    }
}
