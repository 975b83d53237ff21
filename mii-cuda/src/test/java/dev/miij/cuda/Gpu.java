package dev.miij.cuda;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.miij.backend.Backend;
import dev.miij.backend.Tensor;
import java.util.Random;

/** Shared helpers of the GPU tests: skip where there is no GPU, random data, comparisons. */
final class Gpu {

    private Gpu() {
    }

    /** Skips the calling test unless a CUDA driver and device are present. */
    static void assumeGpu() {
        assumeTrue(CudaBackendProvider.deviceCount() > 0, "no CUDA driver or GPU on this machine");
    }

    static float[] random(Random rnd, int n, float scale) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rnd.nextGaussian() * scale;
        }
        return a;
    }

    /** The values BF16 can hold nearest to {@code a}, so CPU and GPU start from the same inputs. */
    static float[] bf16(float[] a) {
        float[] out = new float[a.length];
        for (int i = 0; i < a.length; i++) {
            out[i] = Bf16.toFloat(Bf16.round(a[i]));
        }
        return out;
    }

    static Tensor put(Backend b, float[] data, int rows, int cols) {
        return b.upload(data, rows, cols);
    }

    /** Largest |a - b| relative to the largest |b| (at least 1). */
    static double relError(float[] actual, float[] expected) {
        double err = 0;
        double max = 1e-30;
        for (int i = 0; i < expected.length; i++) {
            err = Math.max(err, Math.abs(actual[i] - expected[i]));
            max = Math.max(max, Math.abs(expected[i]));
        }
        return err / Math.max(max, 1.0);
    }
}
