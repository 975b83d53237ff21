package dev.miij.backend.cpu;

import dev.miij.model.DType;
import java.lang.foreign.ValueLayout;
import java.util.stream.IntStream;

/** Plain reference kernels (scalar); replaced by vectorised ones. */
public final class CpuKernels {

    private CpuKernels() {
    }

    public static void matmul(float[] x, int rows, WeightMatrix w, float[] bias, float[] y) {
        int in = w.inDim();
        int out = w.outDim();
        IntStream.range(0, out).parallel().forEach(o -> {
            for (int r = 0; r < rows; r++) {
                float acc = 0;
                for (int i = 0; i < in; i++) {
                    acc += x[r * in + i] * weightAt(w, (long) o * in + i);
                }
                y[r * out + o] = bias == null ? acc : acc + bias[o];
            }
        });
    }

    static float weightAt(WeightMatrix w, long i) {
        return switch (w.dtype()) {
            case F32 -> w.data().get(ValueLayout.JAVA_FLOAT_UNALIGNED, i * 4);
            case F16 -> Float.float16ToFloat(w.data().get(ValueLayout.JAVA_SHORT_UNALIGNED, i * 2));
            case BF16 -> Float.intBitsToFloat(w.data().get(ValueLayout.JAVA_SHORT_UNALIGNED, i * 2) << 16);
            default -> throw new IllegalStateException(w.dtype() + " " + DType.F32);
        };
    }

    public static void rmsNorm(float[] x, int rows, int dim, float[] weight, float eps, float[] out) {
        for (int r = 0; r < rows; r++) {
            float ss = 0;
            for (int i = 0; i < dim; i++) {
                ss += x[r * dim + i] * x[r * dim + i];
            }
            float inv = (float) (1.0 / Math.sqrt(ss / dim + eps));
            for (int i = 0; i < dim; i++) {
                out[r * dim + i] = weight[i] * (x[r * dim + i] * inv);
            }
        }
    }

    public static void siluMul(float[] gate, float[] up, int n, float[] out) {
        for (int i = 0; i < n; i++) {
            float g = gate[i];
            out[i] = g / (1f + (float) Math.exp(-g)) * up[i];
        }
    }

    public static void add(float[] x, float[] y, int n) {
        for (int i = 0; i < n; i++) {
            x[i] += y[i];
        }
    }

    public static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        float acc = 0;
        for (int i = 0; i < n; i++) {
            acc += a[aOff + i] * b[bOff + i];
        }
        return acc;
    }

    public static void axpy(float a, float[] x, int xOff, float[] y, int yOff, int n) {
        for (int i = 0; i < n; i++) {
            y[yOff + i] += a * x[xOff + i];
        }
    }
}
