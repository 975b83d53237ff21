package dev.miij.backend.cpu;

import static dev.miij.backend.cpu.WeightLoads.F;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;

/**
 * Matrix-matrix product for prefill ({@code rows} activation rows at once), compute-bound.
 *
 * <p>Layout (BLIS-style, turned around so that no weight transposition is needed): the activations
 * are packed transposed, {@code xp[k][r]} in panels of 64 rows, so one 512-bit load gives 16 rows of
 * one column. Weights are converted to FP32 an output block at a time ({@code MC} rows, all columns,
 * stored by column blocks of {@code KC}, so the block in use stays in L2) and broadcast one element
 * at a time. A micro-tile holds 4 weight rows by 64 activation rows in 16 accumulator registers: per
 * column it does 4 vector loads, 4 broadcasts and 16 FMAs, which C2 compiles to code that runs at
 * the FMA peak (about 230 GFLOP/s on one Zen 5 core, measured in cache). The x panel of one column
 * block ({@code KC x 64} floats, 32 KiB) stays in L1 while every weight tile of the output block
 * passes over it. Panels of 16 or 32 rows use 8-row tiles instead, so loads do not outnumber FMAs.
 *
 * <p>The transposed result accumulates in {@code yt[o][r]} and is transposed into y (adding the
 * bias) once per output block. Threads take output blocks; each weight element is read from memory
 * and converted exactly once.
 */
final class MatMulTiled {

    static final int MR = 4;
    static final int NR = 64;
    static final int KC = Integer.getInteger("mii.gemm.kc", 128);
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
     * at element 64t*K, so each column block of it is contiguous. Full groups of 16 rows are
     * transposed 16x16 at a time in registers (four rounds of two-source permutes); this is about
     * twice as fast as scalar copying, which matters because packing is not amortized over the
     * output columns the way the weight conversion is over rows.
     */
    private static void pack(Call c, int t) {
        int in = c.w.inDim();
        int rows = c.rows;
        int r0 = t * NR;
        int nr = Math.min(NR, c.rp - r0);
        float[] xp = c.xp;
        float[] x = c.x;
        int base = r0 * in;
        int k16 = in & -16;
        for (int g = 0; g < nr; g += 16) {
            int rg = r0 + g;
            int kScalar = 0;
            if (rg + 16 <= rows) {
                kScalar = k16;
                for (int k = 0; k < k16; k += 16) {
                    int xo = rg * in + k;
                    FloatVector v0 = FloatVector.fromArray(F, x, xo + 0 * in);
                    FloatVector v1 = FloatVector.fromArray(F, x, xo + 1 * in);
                    FloatVector v2 = FloatVector.fromArray(F, x, xo + 2 * in);
                    FloatVector v3 = FloatVector.fromArray(F, x, xo + 3 * in);
                    FloatVector v4 = FloatVector.fromArray(F, x, xo + 4 * in);
                    FloatVector v5 = FloatVector.fromArray(F, x, xo + 5 * in);
                    FloatVector v6 = FloatVector.fromArray(F, x, xo + 6 * in);
                    FloatVector v7 = FloatVector.fromArray(F, x, xo + 7 * in);
                    FloatVector v8 = FloatVector.fromArray(F, x, xo + 8 * in);
                    FloatVector v9 = FloatVector.fromArray(F, x, xo + 9 * in);
                    FloatVector v10 = FloatVector.fromArray(F, x, xo + 10 * in);
                    FloatVector v11 = FloatVector.fromArray(F, x, xo + 11 * in);
                    FloatVector v12 = FloatVector.fromArray(F, x, xo + 12 * in);
                    FloatVector v13 = FloatVector.fromArray(F, x, xo + 13 * in);
                    FloatVector v14 = FloatVector.fromArray(F, x, xo + 14 * in);
                    FloatVector v15 = FloatVector.fromArray(F, x, xo + 15 * in);
                    // swap bit 8 of the row and column index
                    FloatVector t0 = SWAP_LO[0].selectFrom(v0, v8), t1 = SWAP_HI[0].selectFrom(v0, v8);
                    FloatVector t2 = SWAP_LO[0].selectFrom(v1, v9), t3 = SWAP_HI[0].selectFrom(v1, v9);
                    FloatVector t4 = SWAP_LO[0].selectFrom(v2, v10), t5 = SWAP_HI[0].selectFrom(v2, v10);
                    FloatVector t6 = SWAP_LO[0].selectFrom(v3, v11), t7 = SWAP_HI[0].selectFrom(v3, v11);
                    FloatVector t8 = SWAP_LO[0].selectFrom(v4, v12), t9 = SWAP_HI[0].selectFrom(v4, v12);
                    FloatVector t10 = SWAP_LO[0].selectFrom(v5, v13), t11 = SWAP_HI[0].selectFrom(v5, v13);
                    FloatVector t12 = SWAP_LO[0].selectFrom(v6, v14), t13 = SWAP_HI[0].selectFrom(v6, v14);
                    FloatVector t14 = SWAP_LO[0].selectFrom(v7, v15), t15 = SWAP_HI[0].selectFrom(v7, v15);
                    // swap bit 4 of the row and column index
                    FloatVector t16 = SWAP_LO[1].selectFrom(t0, t8), t17 = SWAP_HI[1].selectFrom(t0, t8);
                    FloatVector t18 = SWAP_LO[1].selectFrom(t2, t10), t19 = SWAP_HI[1].selectFrom(t2, t10);
                    FloatVector t20 = SWAP_LO[1].selectFrom(t4, t12), t21 = SWAP_HI[1].selectFrom(t4, t12);
                    FloatVector t22 = SWAP_LO[1].selectFrom(t6, t14), t23 = SWAP_HI[1].selectFrom(t6, t14);
                    FloatVector t24 = SWAP_LO[1].selectFrom(t1, t9), t25 = SWAP_HI[1].selectFrom(t1, t9);
                    FloatVector t26 = SWAP_LO[1].selectFrom(t3, t11), t27 = SWAP_HI[1].selectFrom(t3, t11);
                    FloatVector t28 = SWAP_LO[1].selectFrom(t5, t13), t29 = SWAP_HI[1].selectFrom(t5, t13);
                    FloatVector t30 = SWAP_LO[1].selectFrom(t7, t15), t31 = SWAP_HI[1].selectFrom(t7, t15);
                    // swap bit 2 of the row and column index
                    FloatVector t32 = SWAP_LO[2].selectFrom(t16, t20), t33 = SWAP_HI[2].selectFrom(t16, t20);
                    FloatVector t34 = SWAP_LO[2].selectFrom(t18, t22), t35 = SWAP_HI[2].selectFrom(t18, t22);
                    FloatVector t36 = SWAP_LO[2].selectFrom(t17, t21), t37 = SWAP_HI[2].selectFrom(t17, t21);
                    FloatVector t38 = SWAP_LO[2].selectFrom(t19, t23), t39 = SWAP_HI[2].selectFrom(t19, t23);
                    FloatVector t40 = SWAP_LO[2].selectFrom(t24, t28), t41 = SWAP_HI[2].selectFrom(t24, t28);
                    FloatVector t42 = SWAP_LO[2].selectFrom(t26, t30), t43 = SWAP_HI[2].selectFrom(t26, t30);
                    FloatVector t44 = SWAP_LO[2].selectFrom(t25, t29), t45 = SWAP_HI[2].selectFrom(t25, t29);
                    FloatVector t46 = SWAP_LO[2].selectFrom(t27, t31), t47 = SWAP_HI[2].selectFrom(t27, t31);
                    // swap bit 1 of the row and column index
                    FloatVector t48 = SWAP_LO[3].selectFrom(t32, t34), t49 = SWAP_HI[3].selectFrom(t32, t34);
                    FloatVector t50 = SWAP_LO[3].selectFrom(t33, t35), t51 = SWAP_HI[3].selectFrom(t33, t35);
                    FloatVector t52 = SWAP_LO[3].selectFrom(t36, t38), t53 = SWAP_HI[3].selectFrom(t36, t38);
                    FloatVector t54 = SWAP_LO[3].selectFrom(t37, t39), t55 = SWAP_HI[3].selectFrom(t37, t39);
                    FloatVector t56 = SWAP_LO[3].selectFrom(t40, t42), t57 = SWAP_HI[3].selectFrom(t40, t42);
                    FloatVector t58 = SWAP_LO[3].selectFrom(t41, t43), t59 = SWAP_HI[3].selectFrom(t41, t43);
                    FloatVector t60 = SWAP_LO[3].selectFrom(t44, t46), t61 = SWAP_HI[3].selectFrom(t44, t46);
                    FloatVector t62 = SWAP_LO[3].selectFrom(t45, t47), t63 = SWAP_HI[3].selectFrom(t45, t47);
                    int po = base + k * nr + g;
                    t48.intoArray(xp, po + 0 * nr);
                    t49.intoArray(xp, po + 1 * nr);
                    t50.intoArray(xp, po + 2 * nr);
                    t51.intoArray(xp, po + 3 * nr);
                    t52.intoArray(xp, po + 4 * nr);
                    t53.intoArray(xp, po + 5 * nr);
                    t54.intoArray(xp, po + 6 * nr);
                    t55.intoArray(xp, po + 7 * nr);
                    t56.intoArray(xp, po + 8 * nr);
                    t57.intoArray(xp, po + 9 * nr);
                    t58.intoArray(xp, po + 10 * nr);
                    t59.intoArray(xp, po + 11 * nr);
                    t60.intoArray(xp, po + 12 * nr);
                    t61.intoArray(xp, po + 13 * nr);
                    t62.intoArray(xp, po + 14 * nr);
                    t63.intoArray(xp, po + 15 * nr);
                }
            }
            for (int k = kScalar; k < in; k++) {
                int p = base + k * nr + g;
                for (int i = 0; i < 16; i++) {
                    int r = rg + i;
                    xp[p + i] = r < rows ? x[r * in + k] : 0f;
                }
            }
        }
    }

    /*
     * Permute indices for the 16x16 transpose: round st swaps bit s = 8 >> st between row and column
     * index. For the row pair (i, i + s), the new row i takes a's lanes where bit s of the lane is 0
     * and b's lanes j - s where it is 1; the new row i + s takes a's lanes j + s and b's lanes j.
     * Indices 16..31 select from the second vector.
     */
    private static final FloatVector[] SWAP_LO = new FloatVector[4];
    private static final FloatVector[] SWAP_HI = new FloatVector[4];

    static {
        for (int st = 0; st < 4; st++) {
            int s = 8 >> st;
            float[] lo = new float[16];
            float[] hi = new float[16];
            for (int j = 0; j < 16; j++) {
                lo[j] = (j & s) == 0 ? j : 16 + j - s;
                hi[j] = (j & s) == 0 ? j + s : 16 + j;
            }
            SWAP_LO[st] = FloatVector.fromArray(F, lo, 0);
            SWAP_HI[st] = FloatVector.fromArray(F, hi, 0);
        }
    }

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
        if (s.wb.length < mp * in) {
            s.wb = new float[Math.max(mp * in, MC * in)];
        }
        if (s.yt.length < mp * rp) {
            s.yt = new float[Math.max(mp * rp, MC * rp)];
        }
        float[] wb = s.wb;
        float[] yt = s.yt;
        float[] xp = c.xp;
        // Convert the block's weight rows whole, in memory order: the rows are contiguous, so this
        // reads one sequential stream. Converting a column block at a time instead reads short
        // pieces of many rows, which the prefetchers do not follow, and was 30% slower overall when
        // the weights come from DRAM. Column block j of row m lands at j*KC*mp + m*kc(j).
        for (int m = 0; m < mp; m++) {
            for (int k0 = 0; k0 < in; k0 += KC) {
                int kc = Math.min(KC, in - k0);
                int at = k0 * mp + m * kc;
                if (m < mc) {
                    WeightLoads.toFloats(w.data(), w.dtype(), (long) (o0 + m) * in + k0, wb, at, kc);
                } else {
                    Arrays.fill(wb, at, at + kc, 0f);
                }
            }
        }
        Arrays.fill(yt, 0, mp * rp, 0f);
        for (int k0 = 0; k0 < in; k0 += KC) {
            int kc = Math.min(KC, in - k0);
            int wBlock = k0 * mp;
            for (int r0 = 0; r0 < rp; r0 += NR) {
                int nr = Math.min(NR, rp - r0);
                int xOff = r0 * in + k0 * nr;
                int m = 0;
                if (nr <= 32) {
                    // Narrow panels: eight weight rows per tile, so the vector loads of x are shared
                    // by twice as many FMAs (with four, loads would outnumber FMAs for 16 rows).
                    for (; m + 8 <= mp; m += 8) {
                        if (nr == 32) {
                            tile2x8(wb, wBlock + m * kc, kc, kc, xp, xOff, yt, m * rp + r0, rp);
                        } else {
                            tile1x8(wb, wBlock + m * kc, kc, kc, xp, xOff, yt, m * rp + r0, rp);
                        }
                    }
                }
                for (; m < mp; m += MR) {
                    tile(nr, wb, wBlock + m * kc, kc, kc, xp, xOff, yt, m * rp + r0, rp);
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


    private static void tile2x8(float[] wb, int wOff, int ldw, int kc, float[] xp, int xOff, float[] yt, int yOff, int ldy) {
        FloatVector c00 = FloatVector.zero(F), c01 = FloatVector.zero(F);
        FloatVector c10 = FloatVector.zero(F), c11 = FloatVector.zero(F);
        FloatVector c20 = FloatVector.zero(F), c21 = FloatVector.zero(F);
        FloatVector c30 = FloatVector.zero(F), c31 = FloatVector.zero(F);
        FloatVector c40 = FloatVector.zero(F), c41 = FloatVector.zero(F);
        FloatVector c50 = FloatVector.zero(F), c51 = FloatVector.zero(F);
        FloatVector c60 = FloatVector.zero(F), c61 = FloatVector.zero(F);
        FloatVector c70 = FloatVector.zero(F), c71 = FloatVector.zero(F);
        int w0 = wOff, w1 = w0 + ldw, w2 = w1 + ldw, w3 = w2 + ldw, w4 = w3 + ldw, w5 = w4 + ldw, w6 = w5 + ldw, w7 = w6 + ldw;
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
            FloatVector b4 = FloatVector.broadcast(F, wb[w4 + k]);
            c40 = b4.fma(x0, c40); c41 = b4.fma(x1, c41);
            FloatVector b5 = FloatVector.broadcast(F, wb[w5 + k]);
            c50 = b5.fma(x0, c50); c51 = b5.fma(x1, c51);
            FloatVector b6 = FloatVector.broadcast(F, wb[w6 + k]);
            c60 = b6.fma(x0, c60); c61 = b6.fma(x1, c61);
            FloatVector b7 = FloatVector.broadcast(F, wb[w7 + k]);
            c70 = b7.fma(x0, c70); c71 = b7.fma(x1, c71);
        }
        acc(yt, yOff, c00); acc(yt, yOff + 16, c01);
        acc(yt, yOff + ldy, c10); acc(yt, yOff + ldy + 16, c11);
        acc(yt, yOff + 2 * ldy, c20); acc(yt, yOff + 2 * ldy + 16, c21);
        acc(yt, yOff + 3 * ldy, c30); acc(yt, yOff + 3 * ldy + 16, c31);
        acc(yt, yOff + 4 * ldy, c40); acc(yt, yOff + 4 * ldy + 16, c41);
        acc(yt, yOff + 5 * ldy, c50); acc(yt, yOff + 5 * ldy + 16, c51);
        acc(yt, yOff + 6 * ldy, c60); acc(yt, yOff + 6 * ldy + 16, c61);
        acc(yt, yOff + 7 * ldy, c70); acc(yt, yOff + 7 * ldy + 16, c71);
    }

    private static void tile1x8(float[] wb, int wOff, int ldw, int kc, float[] xp, int xOff, float[] yt, int yOff, int ldy) {
        FloatVector c00 = FloatVector.zero(F);
        FloatVector c10 = FloatVector.zero(F);
        FloatVector c20 = FloatVector.zero(F);
        FloatVector c30 = FloatVector.zero(F);
        FloatVector c40 = FloatVector.zero(F);
        FloatVector c50 = FloatVector.zero(F);
        FloatVector c60 = FloatVector.zero(F);
        FloatVector c70 = FloatVector.zero(F);
        int w0 = wOff, w1 = w0 + ldw, w2 = w1 + ldw, w3 = w2 + ldw, w4 = w3 + ldw, w5 = w4 + ldw, w6 = w5 + ldw, w7 = w6 + ldw;
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
            FloatVector b4 = FloatVector.broadcast(F, wb[w4 + k]);
            c40 = b4.fma(x0, c40);
            FloatVector b5 = FloatVector.broadcast(F, wb[w5 + k]);
            c50 = b5.fma(x0, c50);
            FloatVector b6 = FloatVector.broadcast(F, wb[w6 + k]);
            c60 = b6.fma(x0, c60);
            FloatVector b7 = FloatVector.broadcast(F, wb[w7 + k]);
            c70 = b7.fma(x0, c70);
        }
        acc(yt, yOff, c00);
        acc(yt, yOff + ldy, c10);
        acc(yt, yOff + 2 * ldy, c20);
        acc(yt, yOff + 3 * ldy, c30);
        acc(yt, yOff + 4 * ldy, c40);
        acc(yt, yOff + 5 * ldy, c50);
        acc(yt, yOff + 6 * ldy, c60);
        acc(yt, yOff + 7 * ldy, c70);
    }

}
