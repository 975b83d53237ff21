package dev.miij.backend.cpu;

import static dev.miij.backend.cpu.WeightLoads.F;
import static dev.miij.backend.cpu.WeightLoads.L;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Element-wise and reduction kernels on float arrays: norms, gated activations, softmax, BLAS-1.
 * Single-threaded: they are memory- or latency-bound on vectors of a few thousand elements, where
 * handing work to another thread costs more than it saves. Transcendentals use the Vector API's
 * EXP and TANH, which C2 compiles to SVML routines (about 1 ulp).
 */
final class VectorOps {

    private VectorOps() {
    }

    static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
        int i = 0;
        for (int e = n & -(4 * L); i < e; i += 4 * L) {
            s0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), s0);
            s1 = FloatVector.fromArray(F, a, aOff + i + L).fma(FloatVector.fromArray(F, b, bOff + i + L), s1);
            s2 = FloatVector.fromArray(F, a, aOff + i + 2 * L).fma(FloatVector.fromArray(F, b, bOff + i + 2 * L), s2);
            s3 = FloatVector.fromArray(F, a, aOff + i + 3 * L).fma(FloatVector.fromArray(F, b, bOff + i + 3 * L), s3);
        }
        for (int e = n & -L; i < e; i += L) {
            s0 = FloatVector.fromArray(F, a, aOff + i).fma(FloatVector.fromArray(F, b, bOff + i), s0);
        }
        float s = s0.add(s1).add(s2.add(s3)).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            s += a[aOff + i] * b[bOff + i];
        }
        return s;
    }

    static void axpy(float a, float[] x, int xOff, float[] y, int yOff, int n) {
        FloatVector av = FloatVector.broadcast(F, a);
        int i = 0;
        for (int e = n & -L; i < e; i += L) {
            FloatVector.fromArray(F, x, xOff + i).fma(av, FloatVector.fromArray(F, y, yOff + i))
                    .intoArray(y, yOff + i);
        }
        for (; i < n; i++) {
            y[yOff + i] += a * x[xOff + i];
        }
    }

    static void add(float[] x, float[] y, int n) {
        int i = 0;
        for (int e = n & -L; i < e; i += L) {
            FloatVector.fromArray(F, x, i).add(FloatVector.fromArray(F, y, i)).intoArray(x, i);
        }
        for (; i < n; i++) {
            x[i] += y[i];
        }
    }

    static void scale(float[] x, int off, int n, float s) {
        FloatVector sv = FloatVector.broadcast(F, s);
        int i = 0;
        for (int e = n & -L; i < e; i += L) {
            FloatVector.fromArray(F, x, off + i).mul(sv).intoArray(x, off + i);
        }
        for (; i < n; i++) {
            x[off + i] *= s;
        }
    }

    private static float sumSquares(float[] x, int off, int n) {
        FloatVector s0 = FloatVector.zero(F), s1 = s0;
        int i = 0;
        for (int e = n & -(2 * L); i < e; i += 2 * L) {
            FloatVector v0 = FloatVector.fromArray(F, x, off + i);
            FloatVector v1 = FloatVector.fromArray(F, x, off + i + L);
            s0 = v0.fma(v0, s0);
            s1 = v1.fma(v1, s1);
        }
        for (int e = n & -L; i < e; i += L) {
            FloatVector v = FloatVector.fromArray(F, x, off + i);
            s0 = v.fma(v, s0);
        }
        float s = s0.add(s1).reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            s += x[off + i] * x[off + i];
        }
        return s;
    }

    private static float sum(float[] x, int off, int n) {
        FloatVector s0 = FloatVector.zero(F);
        int i = 0;
        for (int e = n & -L; i < e; i += L) {
            s0 = s0.add(FloatVector.fromArray(F, x, off + i));
        }
        float s = s0.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            s += x[off + i];
        }
        return s;
    }

    /** out = x / sqrt(mean(x^2) + eps) * weight, per row (as Hugging Face's LlamaRMSNorm, in FP32). */
    static void rmsNorm(float[] x, int rows, int dim, float[] weight, float eps, float[] out) {
        for (int r = 0; r < rows; r++) {
            int off = r * dim;
            float inv = (float) (1.0 / Math.sqrt(sumSquares(x, off, dim) / dim + eps));
            FloatVector iv = FloatVector.broadcast(F, inv);
            int i = 0;
            for (int e = dim & -L; i < e; i += L) {
                FloatVector.fromArray(F, x, off + i).mul(iv).mul(FloatVector.fromArray(F, weight, i))
                        .intoArray(out, off + i);
            }
            for (; i < dim; i++) {
                out[off + i] = x[off + i] * inv * weight[i];
            }
        }
    }

    /** out = (x - mean) / sqrt(var + eps) * weight + bias, per row; two passes for accuracy. */
    /** Elements per float partial sum of LayerNorm's mean and variance (a multiple of 2L at any width). */
    private static final int NORM_CHUNK = 256;

    static void layerNorm(float[] x, int rows, int dim, float[] weight, float[] bias, float eps, float[] out) {
        for (int r = 0; r < rows; r++) {
            int off = r * dim;
            // Float partial sums over chunks of NORM_CHUNK elements, added in double: with 4 lanes
            // (NEON) a lane would otherwise sum hundreds of values, and the mean of an offset row
            // (LayerNorm inputs often have one) lost digits that the subtraction then exposes.
            double total = 0;
            for (int c = 0; c < dim; c += NORM_CHUNK) {
                total += sum(x, off + c, Math.min(NORM_CHUNK, dim - c));
            }
            float mean = (float) (total / dim);
            FloatVector mv = FloatVector.broadcast(F, mean);
            double var = 0;
            int i = 0;
            for (int c = 0; c < dim; c += NORM_CHUNK) {
                int end = Math.min(c + NORM_CHUNK, dim);
                FloatVector s0 = FloatVector.zero(F), s1 = s0;
                for (i = c; i + 2 * L <= end; i += 2 * L) {
                    FloatVector d0 = FloatVector.fromArray(F, x, off + i).sub(mv);
                    FloatVector d1 = FloatVector.fromArray(F, x, off + i + L).sub(mv);
                    s0 = d0.fma(d0, s0);
                    s1 = d1.fma(d1, s1);
                }
                float part = s0.add(s1).reduceLanes(VectorOperators.ADD);
                for (; i < end; i++) {
                    float d = x[off + i] - mean;
                    part += d * d;
                }
                var += part;
            }
            float inv = (float) (1.0 / Math.sqrt(var / dim + eps));
            FloatVector iv = FloatVector.broadcast(F, inv);
            i = 0;
            for (int e = dim & -L; i < e; i += L) {
                FloatVector v = FloatVector.fromArray(F, x, off + i).sub(mv).mul(iv)
                        .mul(FloatVector.fromArray(F, weight, i));
                if (bias != null) {
                    v = v.add(FloatVector.fromArray(F, bias, i));
                }
                v.intoArray(out, off + i);
            }
            for (; i < dim; i++) {
                float v = (x[off + i] - mean) * inv * weight[i];
                out[off + i] = bias != null ? v + bias[i] : v;
            }
        }
    }

    // ---------------------------------------------------------------- activations

    private static final FloatVector ONE = FloatVector.broadcast(F, 1f);
    private static final FloatVector HALF = FloatVector.broadcast(F, 0.5f);

    static FloatVector silu(FloatVector g) {
        return g.div(ONE.add(g.neg().lanewise(VectorOperators.EXP)));
    }

    static float silu(float g) {
        return g / (1f + (float) Math.exp(-g));
    }

    private static final float SQRT_2_OVER_PI = (float) Math.sqrt(2 / Math.PI);
    private static final FloatVector GT_C0 = FloatVector.broadcast(F, SQRT_2_OVER_PI);
    private static final FloatVector GT_C1 = FloatVector.broadcast(F, 0.044715f * SQRT_2_OVER_PI);

    /** 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), "gelu_pytorch_tanh". */
    static FloatVector geluTanh(FloatVector x) {
        FloatVector inner = x.mul(x).fma(GT_C1, GT_C0).mul(x);
        return HALF.mul(x).mul(ONE.add(inner.lanewise(VectorOperators.TANH)));
    }

    static float geluTanh(float x) {
        float inner = SQRT_2_OVER_PI * (x + 0.044715f * x * x * x);
        return 0.5f * x * (1f + (float) Math.tanh(inner));
    }

    /*
     * Exact GELU needs erf, which the Vector API lacks. erfc(z) for z >= 0 uses the Chebyshev-fitted
     * form from Numerical Recipes (relative error < 1.2e-7 everywhere): t = 1/(1+z/2),
     * erfc(z) = t exp(-z^2 + P(t)). Working with erfc keeps the relative error small on the negative
     * side, where GELU tends to zero.
     */
    private static final float[] ERFC_P = {
        -1.26551223f, 1.00002368f, 0.37409196f, 0.09678418f, -0.18628806f,
        0.27886807f, -1.13520398f, 1.48851587f, -0.82215223f, 0.17087277f,
    };
    private static final FloatVector INV_SQRT2 = FloatVector.broadcast(F, (float) (1 / Math.sqrt(2)));

    private static FloatVector erfcNonNeg(FloatVector z) {
        FloatVector t = ONE.div(HALF.fma(z, ONE));
        FloatVector p = FloatVector.broadcast(F, ERFC_P[9]);
        for (int i = 8; i >= 0; i--) {
            p = p.fma(t, FloatVector.broadcast(F, ERFC_P[i]));
        }
        return t.mul(z.mul(z).neg().add(p).lanewise(VectorOperators.EXP));
    }

    /** 0.5 x (1 + erf(x / sqrt 2)) = x (1 - erfc(|x|/sqrt 2)/2) for x >= 0, x erfc(|x|/sqrt 2)/2 below. */
    static FloatVector gelu(FloatVector x) {
        FloatVector h = HALF.mul(erfcNonNeg(x.abs().mul(INV_SQRT2)));
        FloatVector factor = ONE.sub(h).blend(h, x.compare(VectorOperators.LT, 0f));
        return x.mul(factor);
    }

    static float gelu(float x) {
        float z = Math.abs(x) * (float) (1 / Math.sqrt(2));
        float t = 1f / (1f + 0.5f * z);
        float p = ERFC_P[9];
        for (int i = 8; i >= 0; i--) {
            p = p * t + ERFC_P[i];
        }
        float h = 0.5f * t * (float) Math.exp(-z * z + p);
        return x * (x < 0 ? h : 1f - h);
    }

    static final int SILU = 0, GELU_TANH = 1, GELU = 2;

    /** out[i] = act(gate[i]) * up[i], or act(gate[i]) when up is null. */
    static void activation(int kind, float[] gate, float[] up, int n, float[] out) {
        int i = 0;
        for (int e = n & -L; i < e; i += L) {
            FloatVector g = FloatVector.fromArray(F, gate, i);
            FloatVector a = switch (kind) {
                case SILU -> silu(g);
                case GELU_TANH -> geluTanh(g);
                default -> gelu(g);
            };
            if (up != null) {
                a = a.mul(FloatVector.fromArray(F, up, i));
            }
            a.intoArray(out, i);
        }
        for (; i < n; i++) {
            float g = gate[i];
            float a = switch (kind) {
                case SILU -> silu(g);
                case GELU_TANH -> geluTanh(g);
                default -> gelu(g);
            };
            out[i] = up != null ? a * up[i] : a;
        }
    }

    /** In-place softmax of x[off..off+n), subtracting the maximum first. */
    static void softmax(float[] x, int off, int n) {
        if (n <= 0) {
            return;
        }
        FloatVector mv = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int i = 0;
        int vn = n & -L;
        for (; i < vn; i += L) {
            mv = mv.max(FloatVector.fromArray(F, x, off + i));
        }
        float max = mv.reduceLanes(VectorOperators.MAX);
        for (; i < n; i++) {
            max = Math.max(max, x[off + i]);
        }
        if (max == Float.NEGATIVE_INFINITY) {
            // every entry masked: a uniform distribution avoids NaNs downstream
            java.util.Arrays.fill(x, off, off + n, 1f / n);
            return;
        }
        FloatVector m = FloatVector.broadcast(F, max);
        FloatVector sv = FloatVector.zero(F);
        for (i = 0; i < vn; i += L) {
            FloatVector ev = FloatVector.fromArray(F, x, off + i).sub(m).lanewise(VectorOperators.EXP);
            ev.intoArray(x, off + i);
            sv = sv.add(ev);
        }
        float s = sv.reduceLanes(VectorOperators.ADD);
        for (; i < n; i++) {
            float ev = (float) Math.exp(x[off + i] - max);
            x[off + i] = ev;
            s += ev;
        }
        scale(x, off, n, 1f / s);
    }
}
