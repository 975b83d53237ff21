package dev.miij.backend.cpu;

import dev.miij.model.DType;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * The CPU kernels the forward pass calls. Activations are FP32 arrays, row-major; weights are
 * {@link WeightMatrix} views of checkpoint bytes (F32, F16 or BF16, any alignment), converted to
 * FP32 in registers. All accumulation is FP32.
 *
 * <p>{@link #matmul} runs on the {@link CpuParallel} pool (threads: {@code mii.threads}, default the
 * available processors), so weight segments must be readable from any thread (a shared, global or
 * automatic arena, as file mappings are). Up to {@link #GEMV_MAX_ROWS} activation rows ({@link
 * #BF16_GEMV_MAX_ROWS} for BF16 and F16 weights) use the
 * bandwidth-bound matrix-vector kernels ({@link MatVec}); more rows use the tiled matrix-matrix
 * kernel ({@link MatMulTiled}). The other kernels are single-threaded. Reusable scratch buffers
 * are kept per calling thread, so different threads may call concurrently (their pool jobs then run
 * one after the other, or inline).
 */
public final class CpuKernels {

    /** Above this many activation rows, matmul switches to the tiled kernel (F32 weights). */
    static final int GEMV_MAX_ROWS = Integer.getInteger("mii.gemv.maxRows", 4);

    /**
     * The same for BF16 and F16 weights. Over the Llama-3.2-1B decode sequence of matmuls (2
     * threads, BF16), the multi-row matrix-vector kernels beat the tiled one by 33% at 16 rows and
     * 21% at 24, and lose by 17% at 32: below that the tiled kernel's FP32 copy of each weight
     * block costs more than it saves.
     */
    static final int BF16_GEMV_MAX_ROWS = Integer.getInteger("mii.gemv.bf16MaxRows", 24);

    /** The smallest matrix-vector work item, in output rows (a multiple of 4). */
    static final int GEMV_MIN_ITEM_ROWS = Integer.getInteger("mii.gemv.minItemRows", 32) + 3 & -4;

    /** Each matrix-vector item takes 1 / (this * threads) of the rows still unassigned. */
    static final int GEMV_GUIDED_DIVISOR = Integer.getInteger("mii.gemv.guidedDivisor", 4);

    private CpuKernels() {
    }

    /**
     * y[r*outDim + o] = sum_i x[r*inDim + i] * W[o][i] (+ bias[o] when bias != null), r in [0, rows).
     */
    public static void matmul(float[] x, int rows, WeightMatrix w, float[] bias, float[] y) {
        matmul(x, rows, new WeightMatrix[] {w}, new float[][] {bias}, new float[][] {y});
    }

    /**
     * The same for several weights with the same input width, in one parallel job: ys[i] = x ws[i]^T
     * (+ biases[i]). {@code biases} may be null, or hold nulls.
     */
    public static void matmul(float[] x, int rows, WeightMatrix[] ws, float[][] biases, float[][] ys) {
        check(ws.length == ys.length && (biases == null || biases.length == ws.length), "one output per weight");
        if (rows <= 0 || ws.length == 0) {
            return;
        }
        int in = ws[0].inDim();
        boolean vectorPath = true;
        for (int i = 0; i < ws.length; i++) {
            WeightMatrix w = ws[i];
            int out = w.outDim();
            float[] bias = biases == null ? null : biases[i];
            check(w.inDim() == in, "weights of one call must share the input width");
            check(x.length >= (long) rows * in, "x has " + x.length + " floats, needs " + (long) rows * in);
            check(ys[i].length >= (long) rows * out, "y has " + ys[i].length + " floats, needs " + (long) rows * out);
            check(bias == null || bias.length >= out, "bias shorter than " + out);
            vectorPath &= rows <= (w.dtype() == DType.F32 ? GEMV_MAX_ROWS : BF16_GEMV_MAX_ROWS);
        }
        if (in == 0) {
            for (int i = 0; i < ws.length; i++) {
                float[] bias = biases == null ? null : biases[i];
                int out = ws[i].outDim();
                for (int r = 0; r < rows; r++) {
                    for (int o = 0; o < out; o++) {
                        ys[i][r * out + o] = bias == null ? 0f : bias[o];
                    }
                }
            }
            return;
        }
        if (vectorPath) {
            MatVecJob.run(x, rows, ws, biases, ys);
        } else {
            MatMulTiled.matmul(x, rows, ws, biases, ys);
        }
    }

    /** matmul with W as FP32 on the heap, row-major outDim x inDim (small matrices). */
    public static void matmul(float[] x, int rows, float[] w, int outDim, int inDim, float[] bias, float[] y) {
        check(w.length >= (long) outDim * inDim, "w has " + w.length + " floats, needs " + (long) outDim * inDim);
        check(x.length >= (long) rows * inDim, "x too short");
        check(y.length >= (long) rows * outDim, "y too short");
        for (int r = 0; r < rows; r++) {
            int xo = r * inDim;
            int yo = r * outDim;
            for (int o = 0; o < outDim; o++) {
                float s = VectorOps.dot(x, xo, w, o * inDim, inDim);
                y[yo + o] = bias == null ? s : s + bias[o];
            }
        }
    }

    /** out = x / sqrt(mean(x^2) + eps) * weight per row of dim; out may be x. */
    public static void rmsNorm(float[] x, int rows, int dim, float[] weight, float eps, float[] out) {
        VectorOps.rmsNorm(x, rows, dim, weight, eps, out);
    }

    /** out = (x - mean) / sqrt(var + eps) * weight + bias per row; bias may be null; out may be x. */
    public static void layerNorm(float[] x, int rows, int dim, float[] weight, float[] bias, float eps, float[] out) {
        VectorOps.layerNorm(x, rows, dim, weight, bias, eps, out);
    }

    /** out[i] = silu(gate[i]) * up[i]; out may be gate or up. */
    public static void siluMul(float[] gate, float[] up, int n, float[] out) {
        VectorOps.activation(VectorOps.SILU, gate, up, n, out);
    }

    /** out[i] = gelu_tanh(gate[i]) * up[i] (PyTorch's approximate="tanh"). */
    public static void geluTanhMul(float[] gate, float[] up, int n, float[] out) {
        VectorOps.activation(VectorOps.GELU_TANH, gate, up, n, out);
    }

    /** out[i] = gelu(gate[i]) * up[i], exact (erf) GELU. */
    public static void geluMul(float[] gate, float[] up, int n, float[] out) {
        VectorOps.activation(VectorOps.GELU, gate, up, n, out);
    }

    /** out[i] = silu(x[i]). */
    public static void silu(float[] x, int n, float[] out) {
        VectorOps.activation(VectorOps.SILU, x, null, n, out);
    }

    /** out[i] = gelu_tanh(x[i]). */
    public static void geluTanh(float[] x, int n, float[] out) {
        VectorOps.activation(VectorOps.GELU_TANH, x, null, n, out);
    }

    /** out[i] = gelu(x[i]), exact (erf) GELU. */
    public static void gelu(float[] x, int n, float[] out) {
        VectorOps.activation(VectorOps.GELU, x, null, n, out);
    }

    /** x[i] += y[i] for i in [0, n). */
    public static void add(float[] x, float[] y, int n) {
        VectorOps.add(x, y, n);
    }

    /** x[off..off+n) *= s. */
    public static void scale(float[] x, int off, int n, float s) {
        VectorOps.scale(x, off, n, s);
    }

    public static float dot(float[] a, int aOff, float[] b, int bOff, int n) {
        return VectorOps.dot(a, aOff, b, bOff, n);
    }

    /** y[yOff..] += a * x[xOff..], n elements. */
    public static void axpy(float a, float[] x, int xOff, float[] y, int yOff, int n) {
        VectorOps.axpy(a, x, xOff, y, yOff, n);
    }

    /** In-place softmax of x[off..off+n). */
    public static void softmax(float[] x, int off, int n) {
        VectorOps.softmax(x, off, n);
    }

    /** Row {@code row} of w as FP32 into dst[dstOff..dstOff+inDim) (embedding lookups). */
    public static void rowToFloats(WeightMatrix w, int row, float[] dst, int dstOff) {
        WeightLoads.toFloats(w.data(), w.dtype(), (long) row * w.inDim(), dst, dstOff, w.inDim());
    }

    private static void check(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    /**
     * The parallel matrix-vector job over one or more weights: each item is a contiguous block of
     * output rows of one weight.
     */
    static final class MatVecJob implements CpuParallel.Job {
        private static final ThreadLocal<MatVecJob> JOBS = ThreadLocal.withInitial(MatVecJob::new);
        /** Per executing thread: an F16 row chunk converted to FP32. */
        private static final ThreadLocal<float[]> F16_TMP = ThreadLocal.withInitial(() -> new float[MatVec.F16_CHUNK]);

        private float[] x;
        private int rows;
        private int in;
        private WeightMatrix[] ws;
        private float[][] biases;
        private float[][] ys;
        // Work items of the current call (see planItems); package-visible for DecodeReadProbe.
        int[] itemWeight = new int[0];
        int[] itemStart = new int[0];
        int[] itemEnd = new int[0];
        private float[] xd = new float[0]; // x rearranged for the BF16 and F16 kernels

        static void run(float[] x, int rows, WeightMatrix[] ws, float[][] biases, float[][] ys) {
            MatVecJob j = JOBS.get();
            j.x = x;
            j.rows = rows;
            j.in = ws[0].inDim();
            j.ws = ws;
            j.biases = biases;
            j.ys = ys;
            boolean halfPrecision = false;
            for (WeightMatrix w : ws) {
                halfPrecision |= w.dtype() == DType.BF16 || w.dtype() == DType.F16;
            }
            if (halfPrecision) {
                if (j.xd.length < rows * j.in) {
                    j.xd = new float[rows * j.in];
                }
                for (int r = 0; r < rows; r++) {
                    MatVec.deinterleave(x, r * j.in, j.in, j.xd, r * j.in);
                }
            }
            int items = j.planItems(ws);
            try {
                CpuParallel.run(items, j);
            } finally {
                j.x = null;
                j.ws = null;
                j.biases = null;
                j.ys = null;
            }
        }

        /**
         * Splits the output rows of {@code ws} into work items (itemWeight/itemStart/itemEnd) and
         * returns their number. Guided split: items start at a quarter of each thread's share of
         * what is left and shrink to GEMV_MIN_ITEM_ROWS, so the streams are long at first, and at
         * the end a thread waits for at most one small item. A thread that gets ahead (the other
         * lost its core for a while) simply claims more. Items are multiples of 4 rows for the
         * four-row kernels and never span two weights.
         */
        int planItems(WeightMatrix[] ws) {
            int total = 0;
            for (WeightMatrix w : ws) {
                total += w.outDim();
            }
            int threads = CpuParallel.threads();
            int items = 0;
            int left = total;
            for (int i = 0; i < ws.length; i++) {
                int out = ws[i].outDim();
                for (int o = 0; o < out; ) {
                    int size = threads == 1 ? out - o
                            : Math.max(GEMV_MIN_ITEM_ROWS, (left / (GEMV_GUIDED_DIVISOR * threads) + 3) & -4);
                    size = Math.min(size, out - o);
                    if (items == itemWeight.length) {
                        itemWeight = Arrays.copyOf(itemWeight, 2 * items + 16);
                        itemStart = Arrays.copyOf(itemStart, 2 * items + 16);
                        itemEnd = Arrays.copyOf(itemEnd, 2 * items + 16);
                    }
                    itemWeight[items] = i;
                    itemStart[items] = o;
                    itemEnd[items] = o + size;
                    items++;
                    o += size;
                    left -= size;
                }
            }
            return items;
        }

        @Override
        public void run(int item) {
            int wi = itemWeight[item];
            WeightMatrix w = ws[wi];
            float[] y = ys[wi];
            int o0 = itemStart[item];
            int o1 = itemEnd[item];
            if (rows == 1) {
                one(w, y, o0, o1);
            } else {
                many(w, y, o0, o1);
            }
            float[] bias = biases == null ? null : biases[wi];
            if (bias != null) {
                int out = w.outDim();
                for (int r = 0; r < rows; r++) {
                    int yo = r * out;
                    for (int o = o0; o < o1; o++) {
                        y[yo + o] += bias[o];
                    }
                }
            }
        }

        private void one(WeightMatrix w, float[] y, int o0, int o1) {
            MemorySegment seg = w.data();
            DType dtype = w.dtype();
            long rowBytes = (long) in * dtype.bytes();
            int o = o0;
            switch (dtype) {
                case BF16, F16 -> {
                    // Four rows a quarter of the item apart: four long sequential streams, each
                    // activation vector loaded once for four weight vectors. Measured 7-14% faster
                    // over a whole decode step than one row at a time (one stream, two activation
                    // loads per weight load), and ahead of four adjacent rows, whose streams are a
                    // row long each. F16 is converted in registers like BF16 (2.2x per core over
                    // converting chunks into a buffer).
                    boolean f16 = dtype == DType.F16;
                    int q = (o1 - o0) / 4;
                    long stride = q * rowBytes;
                    boolean special = false;
                    if (in % MatVec.B == 0) {
                        if (q > 0) {
                            special = MatVec.dot4HalfRows(seg, f16, o0 * rowBytes, stride, q, xd, in, y, o0, q);
                        }
                    } else {
                        for (int i = 0; i < q; i++) {
                            special |= MatVec.dot4Half(seg, f16, (o0 + i) * rowBytes, stride, xd, in, y, o0 + i, q);
                        }
                    }
                    if (special) {
                        // An F16 infinity or NaN among the weights: exact conversions give IEEE results.
                        float[] tmp = F16_TMP.get();
                        for (; o < o0 + 4 * q; o++) {
                            y[o] = MatVec.dotF16(seg, o * rowBytes, x, 0, in, tmp);
                        }
                    }
                    for (o = o0 + 4 * q; o < o1; o++) {
                        y[o] = f16 ? MatVec.dotF16(seg, o * rowBytes, x, 0, in, F16_TMP.get())
                                : MatVec.dotBf16(seg, o * rowBytes, xd, in);
                    }
                }
                default -> {
                    for (; o < o1; o++) {
                        y[o] = MatVec.dotF32(seg, o * rowBytes, x, 0, in);
                    }
                }
            }
        }

        /**
         * BF16 or F16 with several activation rows: blocks of four
         * weight rows a quarter of the item apart, as in one() (5-13% faster than four adjacent
         * rows at 4 and 8 activation rows), each against the activation rows four (then two, then
         * one) at a time, so a block is still in L1 when it is read again.
         */
        private void manyHalf(MemorySegment seg, boolean f16, int out, float[] y, int o0, int o1, long rowBytes) {
            int q = (o1 - o0) / 4;
            long stride = q * rowBytes;
            for (int i = 0; i < q; i++) {
                int o = o0 + i;
                long off = o * rowBytes;
                int r = 0;
                boolean special = false;
                for (; r + 4 <= rows; r += 4) {
                    special |= MatVec.dot4x4Half(seg, f16, off, stride, xd, r * in, in, y, r * out + o, out, q);
                }
                if (r + 2 <= rows) {
                    special |= MatVec.dot4x2Half(seg, f16, off, stride, xd, r * in, in, y, r * out + o, out, q);
                    r += 2;
                }
                if (r < rows) {
                    special |= MatVec.dot4x1Half(seg, f16, off, stride, xd, r * in, in, y, r * out + o, out, q);
                }
                if (special) {
                    // An F16 infinity or NaN among these four weight rows: exact conversions give IEEE results.
                    float[] tmp = F16_TMP.get();
                    for (int k = 0; k < 4; k++) {
                        for (r = 0; r < rows; r++) {
                            y[r * out + o + k * q] = MatVec.dotF16(seg, off + k * stride, x, r * in, in, tmp);
                        }
                    }
                }
            }
            for (int o = o0 + 4 * q; o < o1; o++) {
                for (int r = 0; r < rows; r++) {
                    y[r * out + o] = f16 ? MatVec.dotF16(seg, o * rowBytes, x, r * in, in, F16_TMP.get())
                            : MatVec.dotBf16(seg, o * rowBytes, xd, r * in, in);
                }
            }
        }

        /** Several activation rows; F32 takes four at a time against each weight row. */
        private void many(WeightMatrix w, float[] y, int o0, int o1) {
            MemorySegment seg = w.data();
            DType dtype = w.dtype();
            int out = w.outDim();
            long rowBytes = (long) in * dtype.bytes();
            if (dtype != DType.F32) {
                manyHalf(seg, dtype == DType.F16, out, y, o0, o1, rowBytes);
                return;
            }
            for (int r = 0; r < rows; r += 4) {
                int n = Math.min(4, rows - r);
                // Fewer than four rows repeat the last one; the duplicate sums land on the same slot.
                int r1 = r + Math.min(1, n - 1), r2 = r + Math.min(2, n - 1), r3 = r + Math.min(3, n - 1);
                int x0 = r * in, x1 = r1 * in, x2 = r2 * in, x3 = r3 * in;
                int y0 = r * out, y1 = r1 * out, y2 = r2 * out, y3 = r3 * out;
                for (int o = o0; o < o1; o++) {
                    MatVec.dotF32x4(seg, o * rowBytes, x, x0, x1, x2, x3, in, y, y0 + o, y1 + o, y2 + o, y3 + o);
                }
            }
        }
    }
}
