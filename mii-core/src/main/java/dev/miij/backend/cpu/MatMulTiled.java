package dev.miij.backend.cpu;

import static dev.miij.backend.cpu.WeightLoads.F;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;

/**
 * Matrix-matrix product for prefill ({@code rows} activation rows at once), compute-bound.
 *
 * <p>Layout (BLIS-style, turned around so that no weight transposition is needed): the activations
 * are packed transposed, {@code xp[k][r]} in panels of 64 rows, so one 512-bit load gives 16 rows of
 * one column. Weights are converted to FP32 a block at a time ({@code MC} rows by {@code KC} columns,
 * kept in L2) and broadcast one element at a time. A micro-tile holds 4 weight rows by 64 activation
 * rows in 16 accumulator registers: per column it does 4 vector loads, 4 broadcasts and 16 FMAs,
 * which C2 compiles to code that runs at the FMA peak. The x panel for one column block
 * ({@code KC x 64} floats) stays in L1 while every weight tile of the block passes over it.
 *
 * <p>The transposed result accumulates in {@code yt[o][r]} and is transposed into y (adding the
 * bias) once per output block. Threads take output blocks; each weight element is read from memory
 * and converted exactly once.
 */
final class MatMulTiled {

    static final int MR = 4;
    static final int NR = 64;
    static final int KC = Integer.getInteger("mii.gemm.kc", 256);
    static final int MC = Integer.getInteger("mii.gemm.mc", 128);

    private MatMulTiled() {
    }

    /** Per-thread buffers: converted weight block and transposed output block. */
    private static final class Scratch {
        float[] wb = new float[0];
        float[] yt = new float[0];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /** Per-calling-thread job state and packed activations, reused across calls. */
    private static final class Call implements CpuParallel.Job {
        float[] x;
        int rows;
        WeightMatrix w;
        float[] bias;
        float[] y;
        int rp; // rows rounded up to 16
        float[] xp = new float[0];
        boolean packing;

        @Override
        public void run(int item) {
            if (packing) {
                pack(this, item);
            } else {
                block(this, item);
            }
        }
    }

    private static final ThreadLocal<Call> CALLS = ThreadLocal.withInitial(Call::new);

    /** y[r][o] = sum_i x[r][i] W[o][i] + bias[o]. */
    static void matmul(float[] x, int rows, WeightMatrix w, float[] bias, float[] y) {
        Call c = CALLS.get();
        int in = w.inDim();
        c.x = x;
        c.rows = rows;
        c.w = w;
        c.bias = bias;
        c.y = y;
        c.rp = (rows + 15) & -16;
        long need = (long) c.rp * in;
        if (need > Integer.MAX_VALUE - 64) {
            throw new IllegalArgumentException("activation block too large: " + rows + "x" + in);
        }
        if (c.xp.length < need) {
            c.xp = new float[(int) need];
        }
        try {
            c.packing = true;
            CpuParallel.run((c.rp + NR - 1) / NR, c);
            c.packing = false;
            CpuParallel.run((w.outDim() + MC - 1) / MC, c);
        } finally {
            c.x = null;
            c.w = null;
            c.bias = null;
            c.y = null;
        }
    }

    /**
     * Packs rows [64t, 64t+64) of x as xp[k][r] (zeros for padding rows). A panel of width nr starts
     * at element 64t*K, so each column block of it is contiguous.
     */
    private static void pack(Call c, int t) {
        int in = c.w.inDim();
        int r0 = t * NR;
        int nr = Math.min(NR, c.rp - r0);
        float[] xp = c.xp;
        float[] x = c.x;
        int base = r0 * in;
        // Column blocks keep the lines being written (64 per column) in L1; a whole panel of a
        // long row can exceed L2, and then every strided store would miss.
        for (int k0 = 0; k0 < in; k0 += PACK_K) {
            int k1 = Math.min(in, k0 + PACK_K);
            for (int rr = 0; rr < nr; rr++) {
                int r = r0 + rr;
                int p = base + k0 * nr + rr;
                if (r < c.rows) {
                    int xo = r * in;
                    for (int k = k0; k < k1; k++, p += nr) {
                        xp[p] = x[xo + k];
                    }
                } else {
                    for (int k = k0; k < k1; k++, p += nr) {
                        xp[p] = 0f;
                    }
                }
            }
        }
    }

    private static final int PACK_K = 64;

    /** Computes outputs [MC*b, MC*b+MC) for all rows. */
    private static void block(Call c, int b) {
        WeightMatrix w = c.w;
        int in = w.inDim();
        int out = w.outDim();
        int o0 = b * MC;
        int mc = Math.min(MC, out - o0);
        int mp = (mc + MR - 1) & -MR;
        int rp = c.rp;
        Scratch s = SCRATCH.get();
        if (s.wb.length < MC * KC) {
            s.wb = new float[MC * KC];
        }
        if (s.yt.length < mp * rp) {
            s.yt = new float[Math.max(mp * rp, MC * rp)];
        }
        float[] wb = s.wb;
        float[] yt = s.yt;
        float[] xp = c.xp;
        Arrays.fill(yt, 0, mp * rp, 0f);
        for (int k0 = 0; k0 < in; k0 += KC) {
            int kc = Math.min(KC, in - k0);
            for (int m = 0; m < mc; m++) {
                WeightLoads.toFloats(w.data(), w.dtype(), (long) (o0 + m) * in + k0, wb, m * kc, kc);
            }
            Arrays.fill(wb, mc * kc, mp * kc, 0f);
            for (int r0 = 0; r0 < rp; r0 += NR) {
                int nr = Math.min(NR, rp - r0);
                int xOff = r0 * in + k0 * nr;
                for (int m = 0; m < mp; m += MR) {
                    tile(nr, wb, m * kc, kc, kc, xp, xOff, yt, m * rp + r0, rp);
                }
            }
        }
        float[] y = c.y;
        float[] bias = c.bias;
        int rows = c.rows;
        for (int r = 0; r < rows; r++) {
            int yo = r * out + o0;
            if (bias == null) {
                for (int m = 0; m < mc; m++) {
                    y[yo + m] = yt[m * rp + r];
                }
            } else {
                for (int m = 0; m < mc; m++) {
                    y[yo + m] = yt[m * rp + r] + bias[o0 + m];
                }
            }
        }
    }

    /**
     * yt[m][r] += sum_k wb[m][k] xp[k][r] for 4 weight rows m (row stride ldw) and nr activation rows
     * (nr = 16, 32, 48 or 64; xp row stride nr), over kc columns.
     */
    private static void tile(int nr, float[] wb, int wOff, int ldw, int kc, float[] xp, int xOff,
            float[] yt, int yOff, int ldy) {
        switch (nr) {
            case 64 -> tile4(wb, wOff, ldw, kc, xp, xOff, yt, yOff, ldy);
            case 48 -> tile3(wb, wOff, ldw, kc, xp, xOff, yt, yOff, ldy);
            case 32 -> tile2(wb, wOff, ldw, kc, xp, xOff, yt, yOff, ldy);
            default -> tile1(wb, wOff, ldw, kc, xp, xOff, yt, yOff, ldy);
        }
    }

    private static void acc(float[] yt, int off, FloatVector v) {
        FloatVector.fromArray(F, yt, off).add(v).intoArray(yt, off);
    }

    // The four micro-kernels below differ only in the number of 16-row vectors; they are written
    // out because the accumulators must be plain locals for C2 to keep them in registers.

    private static void tile4(float[] wb, int wOff, int ldw, int kc, float[] xp, int xOff, float[] yt, int yOff, int ldy) {
        FloatVector c00 = FloatVector.zero(F), c01 = FloatVector.zero(F), c02 = FloatVector.zero(F), c03 = FloatVector.zero(F);
        FloatVector c10 = FloatVector.zero(F), c11 = FloatVector.zero(F), c12 = FloatVector.zero(F), c13 = FloatVector.zero(F);
        FloatVector c20 = FloatVector.zero(F), c21 = FloatVector.zero(F), c22 = FloatVector.zero(F), c23 = FloatVector.zero(F);
        FloatVector c30 = FloatVector.zero(F), c31 = FloatVector.zero(F), c32 = FloatVector.zero(F), c33 = FloatVector.zero(F);
        int w0 = wOff, w1 = w0 + ldw, w2 = w1 + ldw, w3 = w2 + ldw;
        for (int k = 0; k < kc; k++) {
            int xo = xOff + k * 64;
            FloatVector x0 = FloatVector.fromArray(F, xp, xo);
            FloatVector x1 = FloatVector.fromArray(F, xp, xo + 16);
            FloatVector x2 = FloatVector.fromArray(F, xp, xo + 32);
            FloatVector x3 = FloatVector.fromArray(F, xp, xo + 48);
            FloatVector b0 = FloatVector.broadcast(F, wb[w0 + k]);
            c00 = b0.fma(x0, c00); c01 = b0.fma(x1, c01); c02 = b0.fma(x2, c02); c03 = b0.fma(x3, c03);
            FloatVector b1 = FloatVector.broadcast(F, wb[w1 + k]);
            c10 = b1.fma(x0, c10); c11 = b1.fma(x1, c11); c12 = b1.fma(x2, c12); c13 = b1.fma(x3, c13);
            FloatVector b2 = FloatVector.broadcast(F, wb[w2 + k]);
            c20 = b2.fma(x0, c20); c21 = b2.fma(x1, c21); c22 = b2.fma(x2, c22); c23 = b2.fma(x3, c23);
            FloatVector b3 = FloatVector.broadcast(F, wb[w3 + k]);
            c30 = b3.fma(x0, c30); c31 = b3.fma(x1, c31); c32 = b3.fma(x2, c32); c33 = b3.fma(x3, c33);
        }
        acc(yt, yOff, c00); acc(yt, yOff + 16, c01); acc(yt, yOff + 32, c02); acc(yt, yOff + 48, c03);
        acc(yt, yOff + ldy, c10); acc(yt, yOff + ldy + 16, c11); acc(yt, yOff + ldy + 32, c12); acc(yt, yOff + ldy + 48, c13);
        acc(yt, yOff + 2*ldy, c20); acc(yt, yOff + 2*ldy + 16, c21); acc(yt, yOff + 2*ldy + 32, c22); acc(yt, yOff + 2*ldy + 48, c23);
        acc(yt, yOff + 3*ldy, c30); acc(yt, yOff + 3*ldy + 16, c31); acc(yt, yOff + 3*ldy + 32, c32); acc(yt, yOff + 3*ldy + 48, c33);
    }

    private static void tile3(float[] wb, int wOff, int ldw, int kc, float[] xp, int xOff, float[] yt, int yOff, int ldy) {
        FloatVector c00 = FloatVector.zero(F), c01 = FloatVector.zero(F), c02 = FloatVector.zero(F);
        FloatVector c10 = FloatVector.zero(F), c11 = FloatVector.zero(F), c12 = FloatVector.zero(F);
        FloatVector c20 = FloatVector.zero(F), c21 = FloatVector.zero(F), c22 = FloatVector.zero(F);
        FloatVector c30 = FloatVector.zero(F), c31 = FloatVector.zero(F), c32 = FloatVector.zero(F);
        int w0 = wOff, w1 = w0 + ldw, w2 = w1 + ldw, w3 = w2 + ldw;
        for (int k = 0; k < kc; k++) {
            int xo = xOff + k * 48;
            FloatVector x0 = FloatVector.fromArray(F, xp, xo);
            FloatVector x1 = FloatVector.fromArray(F, xp, xo + 16);
            FloatVector x2 = FloatVector.fromArray(F, xp, xo + 32);
            FloatVector b0 = FloatVector.broadcast(F, wb[w0 + k]);
            c00 = b0.fma(x0, c00); c01 = b0.fma(x1, c01); c02 = b0.fma(x2, c02);
            FloatVector b1 = FloatVector.broadcast(F, wb[w1 + k]);
            c10 = b1.fma(x0, c10); c11 = b1.fma(x1, c11); c12 = b1.fma(x2, c12);
            FloatVector b2 = FloatVector.broadcast(F, wb[w2 + k]);
            c20 = b2.fma(x0, c20); c21 = b2.fma(x1, c21); c22 = b2.fma(x2, c22);
            FloatVector b3 = FloatVector.broadcast(F, wb[w3 + k]);
            c30 = b3.fma(x0, c30); c31 = b3.fma(x1, c31); c32 = b3.fma(x2, c32);
        }
        acc(yt, yOff, c00); acc(yt, yOff + 16, c01); acc(yt, yOff + 32, c02);
        acc(yt, yOff + ldy, c10); acc(yt, yOff + ldy + 16, c11); acc(yt, yOff + ldy + 32, c12);
        acc(yt, yOff + 2*ldy, c20); acc(yt, yOff + 2*ldy + 16, c21); acc(yt, yOff + 2*ldy + 32, c22);
        acc(yt, yOff + 3*ldy, c30); acc(yt, yOff + 3*ldy + 16, c31); acc(yt, yOff + 3*ldy + 32, c32);
    }

    private static void tile2(float[] wb, int wOff, int ldw, int kc, float[] xp, int xOff, float[] yt, int yOff, int ldy) {
        FloatVector c00 = FloatVector.zero(F), c01 = FloatVector.zero(F);
        FloatVector c10 = FloatVector.zero(F), c11 = FloatVector.zero(F);
        FloatVector c20 = FloatVector.zero(F), c21 = FloatVector.zero(F);
        FloatVector c30 = FloatVector.zero(F), c31 = FloatVector.zero(F);
        int w0 = wOff, w1 = w0 + ldw, w2 = w1 + ldw, w3 = w2 + ldw;
        for (int k = 0; k < kc; k++) {
            int xo = xOff + k * 32;
            FloatVector x0 = FloatVector.fromArray(F, xp, xo);
            FloatVector x1 = FloatVector.fromArray(F, xp, xo + 16);
            FloatVector b0 = FloatVector.broadcast(F, wb[w0 + k]);
            c00 = b0.fma(x0, c00); c01 = b0.fma(x1, c01);
            FloatVector b1 = FloatVector.broadcast(F, wb[w1 + k]);
            c10 = b1.fma(x0, c10); c11 = b1.fma(x1, c11);
            FloatVector b2 = FloatVector.broadcast(F, wb[w2 + k]);
            c20 = b2.fma(x0, c20); c21 = b2.fma(x1, c21);
            FloatVector b3 = FloatVector.broadcast(F, wb[w3 + k]);
            c30 = b3.fma(x0, c30); c31 = b3.fma(x1, c31);
        }
        acc(yt, yOff, c00); acc(yt, yOff + 16, c01);
        acc(yt, yOff + ldy, c10); acc(yt, yOff + ldy + 16, c11);
        acc(yt, yOff + 2*ldy, c20); acc(yt, yOff + 2*ldy + 16, c21);
        acc(yt, yOff + 3*ldy, c30); acc(yt, yOff + 3*ldy + 16, c31);
    }

    private static void tile1(float[] wb, int wOff, int ldw, int kc, float[] xp, int xOff, float[] yt, int yOff, int ldy) {
        FloatVector c00 = FloatVector.zero(F);
        FloatVector c10 = FloatVector.zero(F);
        FloatVector c20 = FloatVector.zero(F);
        FloatVector c30 = FloatVector.zero(F);
        int w0 = wOff, w1 = w0 + ldw, w2 = w1 + ldw, w3 = w2 + ldw;
        for (int k = 0; k < kc; k++) {
            int xo = xOff + k * 16;
            FloatVector x0 = FloatVector.fromArray(F, xp, xo);
            FloatVector b0 = FloatVector.broadcast(F, wb[w0 + k]);
            c00 = b0.fma(x0, c00);
            FloatVector b1 = FloatVector.broadcast(F, wb[w1 + k]);
            c10 = b1.fma(x0, c10);
            FloatVector b2 = FloatVector.broadcast(F, wb[w2 + k]);
            c20 = b2.fma(x0, c20);
            FloatVector b3 = FloatVector.broadcast(F, wb[w3 + k]);
            c30 = b3.fma(x0, c30);
        }
        acc(yt, yOff, c00);
        acc(yt, yOff + ldy, c10);
        acc(yt, yOff + 2*ldy, c20);
        acc(yt, yOff + 3*ldy, c30);
    }

}
