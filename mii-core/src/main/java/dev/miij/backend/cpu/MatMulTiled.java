package dev.miij.backend.cpu;

import static dev.miij.backend.cpu.WeightLoads.F;
import static dev.miij.backend.cpu.WeightLoads.L;

import java.util.Arrays;
import jdk.incubator.vector.FloatVector;

/**
 * Matrix-matrix product for prefill ({@code rows} activation rows at once), compute-bound.
 *
 * <p>Layout (BLIS-style, turned around so that no weight transposition is needed): the activations
 * are packed transposed, {@code xp[k][r]} in panels of {@link #NR} rows, so one vector load gives L
 * rows of one column (L = the float vector's lanes: 16 with AVX-512, 8 with AVX2, 4 with NEON).
 * Weights are converted to FP32 an output block at a time ({@code MC} rows, all columns, stored by
 * column blocks of {@code KC}, so the block in use stays in L2) and broadcast one element at a
 * time. A micro-tile holds 6 weight rows by a panel of vectors in accumulator registers. With 32
 * vector registers (AVX-512, NEON) a panel is 4 vectors and the tile 24 accumulators: per column 4
 * vector loads, 6 broadcasts and 24 FMAs, which C2 compiles to code that runs within a few percent
 * of the FMA peak (about 230 of 240 GFLOP/s on one Zen 5 core, in cache). With AVX2's 16 registers
 * a panel is 2 vectors and the tile 12 accumulators (2 loads, 6 broadcasts, 12 FMAs per column);
 * 24 would be spilled to the stack. The x panel of one column block ({@code KC x NR} floats) is
 * reused by every weight tile of the output block. Narrower panels (the last rows) use 12-row
 * tiles, so loads do not outnumber FMAs.
 *
 * <p>The transposed result accumulates in {@code yt[o][r]} and is transposed into y (adding the
 * bias) once per output block. Threads take output blocks; each weight element is read from memory
 * and converted exactly once.
 */
final class MatMulTiled {

    /** Weight rows per micro-tile for full panels. */
    static final int MR = 6;
    /** Weight rows per micro-tile for panels of one or two vectors, so that FMAs still outnumber loads. */
    static final int MR_NARROW = 12;
    /**
     * Vector registers: 32 on AArch64 and with AVX-512, 16 on x86 below it (AVX2, SSE). Read from
     * the architecture and the vector width, since Java cannot ask the CPU; with
     * {@code -XX:MaxVectorSize=32} on an AVX-512 machine this says 16, which only forgoes the larger tile.
     */
    static final int REGISTERS = Integer.getInteger("mii.gemm.registers",
            System.getProperty("os.arch", "").startsWith("aarch") || F.vectorBitSize() >= 512 ? 32 : 16);
    /** Vectors per full panel: as many as a 6-row tile's accumulators leave registers for. */
    static final int PANEL_VECTORS = REGISTERS >= 32 ? 4 : 2;
    /** Activation rows per panel. */
    static final int NR = PANEL_VECTORS * L;
    static final int KC = Integer.getInteger("mii.gemm.kc", 256);
    /** Weight rows per output block; a multiple of MR_NARROW. */
    static final int MC = Math.max(MR_NARROW, Integer.getInteger("mii.gemm.mc", 96) / MR_NARROW * MR_NARROW);

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
        int in;
        WeightMatrix[] ws;
        float[][] biases;
        float[][] ys;
        int[] blockWeight = new int[0];
        int[] blockStart = new int[0];
        int rp; // rows rounded up to L
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

    /**
     * ys[i][r][o] = sum_k x[r][k] ws[i][o][k] + biases[i][o] for each weight i (all of input width
     * in): the activations are packed once, and the output blocks of all weights form one job.
     */
    static void matmul(float[] x, int rows, WeightMatrix[] ws, float[][] biases, float[][] ys) {
        Call c = CALLS.get();
        int in = ws[0].inDim();
        c.x = x;
        c.rows = rows;
        c.in = in;
        c.ws = ws;
        c.biases = biases;
        c.ys = ys;
        c.rp = (rows + L - 1) / L * L;
        long need = (long) c.rp * in;
        if (need > Integer.MAX_VALUE - 64) {
            throw new IllegalArgumentException("activation block too large: " + rows + "x" + in);
        }
        if (c.xp.length < need) {
            c.xp = new float[(int) need];
        }
        int blocks = 0;
        for (WeightMatrix w : ws) {
            blocks += (w.outDim() + MC - 1) / MC;
        }
        if (c.blockWeight.length < blocks) {
            c.blockWeight = new int[blocks];
            c.blockStart = new int[blocks];
        }
        int b = 0;
        for (int i = 0; i < ws.length; i++) {
            for (int o = 0; o < ws[i].outDim(); o += MC) {
                c.blockWeight[b] = i;
                c.blockStart[b] = o;
                b++;
            }
        }
        try {
            c.packing = true;
            CpuParallel.run((c.rp + NR - 1) / NR, c);
            c.packing = false;
            CpuParallel.run(blocks, c);
        } finally {
            c.x = null;
            c.ws = null;
            c.biases = null;
            c.ys = null;
        }
    }

    /**
     * Packs rows [NR t, NR t + NR) of x as xp[k][r] (zeros for padding rows). A panel of width nr
     * starts at element NR t K, so each column block of it is contiguous. Full groups of L rows are
     * transposed L x L at a time in registers (log2 L rounds of two-source permutes); this is about
     * twice as fast as scalar copying, which matters because packing is not amortized over the
     * output columns the way the weight conversion is over rows.
     */
    private static void pack(Call c, int t) {
        int in = c.in;
        int rows = c.rows;
        int r0 = t * NR;
        int nr = Math.min(NR, c.rp - r0);
        float[] xp = c.xp;
        float[] x = c.x;
        int base = r0 * in;
        int kv = TRANSPOSE_IN_REGISTERS ? in & -L : 0;
        for (int g = 0; g < nr; g += L) {
            int rg = r0 + g;
            int kScalar = 0;
            if (kv > 0 && rg + L <= rows) {
                kScalar = kv;
                for (int k = 0; k < kv; k += L) {
                    int xo = rg * in + k;
                    int po = base + k * nr + g;
                    switch (L) {
                        case 16 -> transpose16(x, xo, in, xp, po, nr);
                        case 8 -> transpose8(x, xo, in, xp, po, nr);
                        default -> transpose4(x, xo, in, xp, po, nr);
                    }
                }
            }
            for (int k = kScalar; k < in; k++) {
                int p = base + k * nr + g;
                for (int i = 0; i < L; i++) {
                    int r = rg + i;
                    xp[p + i] = r < rows ? x[r * in + k] : 0f;
                }
            }
        }
    }

    /** The widths with an in-register transpose below; others pack with scalar copies. */
    private static final boolean TRANSPOSE_IN_REGISTERS = L == 4 || L == 8 || L == 16;

    /** x[xo + r * in + j] (16 rows r, 16 columns j) to xp[po + j * nr + r]. */
    private static void transpose16(float[] x, int xo, int in, float[] xp, int po, int nr) {
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

    /** As {@link #transpose16} for 8 x 8 (AVX2): swaps bits 4, 2 and 1 of the row and column index. */
    private static void transpose8(float[] x, int xo, int in, float[] xp, int po, int nr) {
        FloatVector v0 = FloatVector.fromArray(F, x, xo);
        FloatVector v1 = FloatVector.fromArray(F, x, xo + in);
        FloatVector v2 = FloatVector.fromArray(F, x, xo + 2 * in);
        FloatVector v3 = FloatVector.fromArray(F, x, xo + 3 * in);
        FloatVector v4 = FloatVector.fromArray(F, x, xo + 4 * in);
        FloatVector v5 = FloatVector.fromArray(F, x, xo + 5 * in);
        FloatVector v6 = FloatVector.fromArray(F, x, xo + 6 * in);
        FloatVector v7 = FloatVector.fromArray(F, x, xo + 7 * in);
        // swap bit 4: rows i and i + 4
        FloatVector a0 = SWAP_LO[0].selectFrom(v0, v4), a4 = SWAP_HI[0].selectFrom(v0, v4);
        FloatVector a1 = SWAP_LO[0].selectFrom(v1, v5), a5 = SWAP_HI[0].selectFrom(v1, v5);
        FloatVector a2 = SWAP_LO[0].selectFrom(v2, v6), a6 = SWAP_HI[0].selectFrom(v2, v6);
        FloatVector a3 = SWAP_LO[0].selectFrom(v3, v7), a7 = SWAP_HI[0].selectFrom(v3, v7);
        // swap bit 2: rows i and i + 2
        FloatVector b0 = SWAP_LO[1].selectFrom(a0, a2), b2 = SWAP_HI[1].selectFrom(a0, a2);
        FloatVector b1 = SWAP_LO[1].selectFrom(a1, a3), b3 = SWAP_HI[1].selectFrom(a1, a3);
        FloatVector b4 = SWAP_LO[1].selectFrom(a4, a6), b6 = SWAP_HI[1].selectFrom(a4, a6);
        FloatVector b5 = SWAP_LO[1].selectFrom(a5, a7), b7 = SWAP_HI[1].selectFrom(a5, a7);
        // swap bit 1: rows i and i + 1
        SWAP_LO[2].selectFrom(b0, b1).intoArray(xp, po);
        SWAP_HI[2].selectFrom(b0, b1).intoArray(xp, po + nr);
        SWAP_LO[2].selectFrom(b2, b3).intoArray(xp, po + 2 * nr);
        SWAP_HI[2].selectFrom(b2, b3).intoArray(xp, po + 3 * nr);
        SWAP_LO[2].selectFrom(b4, b5).intoArray(xp, po + 4 * nr);
        SWAP_HI[2].selectFrom(b4, b5).intoArray(xp, po + 5 * nr);
        SWAP_LO[2].selectFrom(b6, b7).intoArray(xp, po + 6 * nr);
        SWAP_HI[2].selectFrom(b6, b7).intoArray(xp, po + 7 * nr);
    }

    /** As {@link #transpose16} for 4 x 4 (NEON): swaps bits 2 and 1 of the row and column index. */
    private static void transpose4(float[] x, int xo, int in, float[] xp, int po, int nr) {
        FloatVector v0 = FloatVector.fromArray(F, x, xo);
        FloatVector v1 = FloatVector.fromArray(F, x, xo + in);
        FloatVector v2 = FloatVector.fromArray(F, x, xo + 2 * in);
        FloatVector v3 = FloatVector.fromArray(F, x, xo + 3 * in);
        FloatVector a0 = SWAP_LO[0].selectFrom(v0, v2), a2 = SWAP_HI[0].selectFrom(v0, v2);
        FloatVector a1 = SWAP_LO[0].selectFrom(v1, v3), a3 = SWAP_HI[0].selectFrom(v1, v3);
        SWAP_LO[1].selectFrom(a0, a1).intoArray(xp, po);
        SWAP_HI[1].selectFrom(a0, a1).intoArray(xp, po + nr);
        SWAP_LO[1].selectFrom(a2, a3).intoArray(xp, po + 2 * nr);
        SWAP_HI[1].selectFrom(a2, a3).intoArray(xp, po + 3 * nr);
    }

    /*
     * Permute indices for the L x L transpose: round st swaps bit s = L/2 >> st between row and
     * column index. For the row pair (i, i + s), the new row i takes a's lanes where bit s of the
     * lane is 0 and b's lanes j - s where it is 1; the new row i + s takes a's lanes j + s and b's
     * lanes j. Indices L..2L-1 select from the second vector.
     */
    private static final int ROUNDS = Integer.numberOfTrailingZeros(L);
    private static final FloatVector[] SWAP_LO = new FloatVector[ROUNDS];
    private static final FloatVector[] SWAP_HI = new FloatVector[ROUNDS];

    static {
        for (int st = 0; st < ROUNDS; st++) {
            int s = (L / 2) >> st;
            float[] lo = new float[L];
            float[] hi = new float[L];
            for (int j = 0; j < L; j++) {
                lo[j] = (j & s) == 0 ? j : L + j - s;
                hi[j] = (j & s) == 0 ? j + s : L + j;
            }
            SWAP_LO[st] = FloatVector.fromArray(F, lo, 0);
            SWAP_HI[st] = FloatVector.fromArray(F, hi, 0);
        }
    }

    /** Computes outputs [o0, o0+MC) of weight blockWeight[b] for all rows, o0 = blockStart[b]. */
    private static void block(Call c, int b) {
        int wi = c.blockWeight[b];
        WeightMatrix w = c.ws[wi];
        int in = w.inDim();
        int out = w.outDim();
        int o0 = c.blockStart[b];
        int mc = Math.min(MC, out - o0);
        int mp = (mc + MR_NARROW - 1) / MR_NARROW * MR_NARROW;
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
                int yOff = r0;
                switch (nr / L) {
                    case 4 -> {
                        for (int m = 0; m < mp; m += MR) {
                            tile6x4v(wb, wBlock + m * kc, kc, kc, xp, xOff, yt, m * rp + yOff, rp);
                        }
                    }
                    case 3 -> {
                        for (int m = 0; m < mp; m += MR) {
                            tile6x3v(wb, wBlock + m * kc, kc, kc, xp, xOff, yt, m * rp + yOff, rp);
                        }
                    }
                    case 2 -> {
                        if (PANEL_VECTORS == 2) {
                            for (int m = 0; m < mp; m += MR) {
                                tile6x2v(wb, wBlock + m * kc, kc, kc, xp, xOff, yt, m * rp + yOff, rp);
                            }
                        } else {
                            for (int m = 0; m < mp; m += MR_NARROW) {
                                tile12x2v(wb, wBlock + m * kc, kc, kc, xp, xOff, yt, m * rp + yOff, rp);
                            }
                        }
                    }
                    default -> {
                        for (int m = 0; m < mp; m += MR_NARROW) {
                            tile12x1v(wb, wBlock + m * kc, kc, kc, xp, xOff, yt, m * rp + yOff, rp);
                        }
                    }
                }
            }
        }
        float[] y = c.ys[wi];
        float[] bias = c.biases == null ? null : c.biases[wi];
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

    /*
     * Micro-kernels: yt[m][r] += sum_k wb[m][k] xp[k][r] for MR weight rows m (row stride ldw) and
     * one panel of activation rows r (xp row stride = panel width), over kc columns. Written out per
     * shape because the accumulators must be plain locals for C2 to keep them in registers, and
     * loaded from / stored to yt inside the kernel: passing a vector to a helper method that C2
     * declines to inline (it does, in methods this large) boxes it on the heap, which cost a third
     * of the kernel's speed.
     */

    private static void tile6x4v(float[] wb, int wOff, int ldw, int kc, float[] xp, int xOff, float[] yt, int yOff, int ldy) {
        int y0 = yOff;
        int y1 = yOff + 1 * ldy;
        int y2 = yOff + 2 * ldy;
        int y3 = yOff + 3 * ldy;
        int y4 = yOff + 4 * ldy;
        int y5 = yOff + 5 * ldy;
        FloatVector c0_0 = FloatVector.fromArray(F, yt, y0), c0_1 = FloatVector.fromArray(F, yt, y0 + L), c0_2 = FloatVector.fromArray(F, yt, y0 + 2 * L), c0_3 = FloatVector.fromArray(F, yt, y0 + 3 * L);
        FloatVector c1_0 = FloatVector.fromArray(F, yt, y1), c1_1 = FloatVector.fromArray(F, yt, y1 + L), c1_2 = FloatVector.fromArray(F, yt, y1 + 2 * L), c1_3 = FloatVector.fromArray(F, yt, y1 + 3 * L);
        FloatVector c2_0 = FloatVector.fromArray(F, yt, y2), c2_1 = FloatVector.fromArray(F, yt, y2 + L), c2_2 = FloatVector.fromArray(F, yt, y2 + 2 * L), c2_3 = FloatVector.fromArray(F, yt, y2 + 3 * L);
        FloatVector c3_0 = FloatVector.fromArray(F, yt, y3), c3_1 = FloatVector.fromArray(F, yt, y3 + L), c3_2 = FloatVector.fromArray(F, yt, y3 + 2 * L), c3_3 = FloatVector.fromArray(F, yt, y3 + 3 * L);
        FloatVector c4_0 = FloatVector.fromArray(F, yt, y4), c4_1 = FloatVector.fromArray(F, yt, y4 + L), c4_2 = FloatVector.fromArray(F, yt, y4 + 2 * L), c4_3 = FloatVector.fromArray(F, yt, y4 + 3 * L);
        FloatVector c5_0 = FloatVector.fromArray(F, yt, y5), c5_1 = FloatVector.fromArray(F, yt, y5 + L), c5_2 = FloatVector.fromArray(F, yt, y5 + 2 * L), c5_3 = FloatVector.fromArray(F, yt, y5 + 3 * L);
        for (int k = 0; k < kc; k++) {
            int xo = xOff + k * 4 * L;
            FloatVector x0 = FloatVector.fromArray(F, xp, xo);
            FloatVector x1 = FloatVector.fromArray(F, xp, xo + L);
            FloatVector x2 = FloatVector.fromArray(F, xp, xo + 2 * L);
            FloatVector x3 = FloatVector.fromArray(F, xp, xo + 3 * L);
            FloatVector b0 = FloatVector.broadcast(F, wb[wOff + k]);
            c0_0 = b0.fma(x0, c0_0); c0_1 = b0.fma(x1, c0_1); c0_2 = b0.fma(x2, c0_2); c0_3 = b0.fma(x3, c0_3);
            FloatVector b1 = FloatVector.broadcast(F, wb[wOff + 1 * ldw + k]);
            c1_0 = b1.fma(x0, c1_0); c1_1 = b1.fma(x1, c1_1); c1_2 = b1.fma(x2, c1_2); c1_3 = b1.fma(x3, c1_3);
            FloatVector b2 = FloatVector.broadcast(F, wb[wOff + 2 * ldw + k]);
            c2_0 = b2.fma(x0, c2_0); c2_1 = b2.fma(x1, c2_1); c2_2 = b2.fma(x2, c2_2); c2_3 = b2.fma(x3, c2_3);
            FloatVector b3 = FloatVector.broadcast(F, wb[wOff + 3 * ldw + k]);
            c3_0 = b3.fma(x0, c3_0); c3_1 = b3.fma(x1, c3_1); c3_2 = b3.fma(x2, c3_2); c3_3 = b3.fma(x3, c3_3);
            FloatVector b4 = FloatVector.broadcast(F, wb[wOff + 4 * ldw + k]);
            c4_0 = b4.fma(x0, c4_0); c4_1 = b4.fma(x1, c4_1); c4_2 = b4.fma(x2, c4_2); c4_3 = b4.fma(x3, c4_3);
            FloatVector b5 = FloatVector.broadcast(F, wb[wOff + 5 * ldw + k]);
            c5_0 = b5.fma(x0, c5_0); c5_1 = b5.fma(x1, c5_1); c5_2 = b5.fma(x2, c5_2); c5_3 = b5.fma(x3, c5_3);
        }
        c0_0.intoArray(yt, y0); c0_1.intoArray(yt, y0 + L); c0_2.intoArray(yt, y0 + 2 * L); c0_3.intoArray(yt, y0 + 3 * L);
        c1_0.intoArray(yt, y1); c1_1.intoArray(yt, y1 + L); c1_2.intoArray(yt, y1 + 2 * L); c1_3.intoArray(yt, y1 + 3 * L);
        c2_0.intoArray(yt, y2); c2_1.intoArray(yt, y2 + L); c2_2.intoArray(yt, y2 + 2 * L); c2_3.intoArray(yt, y2 + 3 * L);
        c3_0.intoArray(yt, y3); c3_1.intoArray(yt, y3 + L); c3_2.intoArray(yt, y3 + 2 * L); c3_3.intoArray(yt, y3 + 3 * L);
        c4_0.intoArray(yt, y4); c4_1.intoArray(yt, y4 + L); c4_2.intoArray(yt, y4 + 2 * L); c4_3.intoArray(yt, y4 + 3 * L);
        c5_0.intoArray(yt, y5); c5_1.intoArray(yt, y5 + L); c5_2.intoArray(yt, y5 + 2 * L); c5_3.intoArray(yt, y5 + 3 * L);
    }

    /** Six weight rows by two vectors: the full-panel tile for 16 vector registers (AVX2). */
    private static void tile6x2v(float[] wb, int wOff, int ldw, int kc, float[] xp, int xOff, float[] yt, int yOff, int ldy) {
        int y0 = yOff;
        int y1 = yOff + 1 * ldy;
        int y2 = yOff + 2 * ldy;
        int y3 = yOff + 3 * ldy;
        int y4 = yOff + 4 * ldy;
        int y5 = yOff + 5 * ldy;
        FloatVector c0_0 = FloatVector.fromArray(F, yt, y0), c0_1 = FloatVector.fromArray(F, yt, y0 + L);
        FloatVector c1_0 = FloatVector.fromArray(F, yt, y1), c1_1 = FloatVector.fromArray(F, yt, y1 + L);
        FloatVector c2_0 = FloatVector.fromArray(F, yt, y2), c2_1 = FloatVector.fromArray(F, yt, y2 + L);
        FloatVector c3_0 = FloatVector.fromArray(F, yt, y3), c3_1 = FloatVector.fromArray(F, yt, y3 + L);
        FloatVector c4_0 = FloatVector.fromArray(F, yt, y4), c4_1 = FloatVector.fromArray(F, yt, y4 + L);
        FloatVector c5_0 = FloatVector.fromArray(F, yt, y5), c5_1 = FloatVector.fromArray(F, yt, y5 + L);
        for (int k = 0; k < kc; k++) {
            int xo = xOff + k * 2 * L;
            FloatVector x0 = FloatVector.fromArray(F, xp, xo);
            FloatVector x1 = FloatVector.fromArray(F, xp, xo + L);
            FloatVector b0 = FloatVector.broadcast(F, wb[wOff + k]);
            c0_0 = b0.fma(x0, c0_0); c0_1 = b0.fma(x1, c0_1);
            FloatVector b1 = FloatVector.broadcast(F, wb[wOff + 1 * ldw + k]);
            c1_0 = b1.fma(x0, c1_0); c1_1 = b1.fma(x1, c1_1);
            FloatVector b2 = FloatVector.broadcast(F, wb[wOff + 2 * ldw + k]);
            c2_0 = b2.fma(x0, c2_0); c2_1 = b2.fma(x1, c2_1);
            FloatVector b3 = FloatVector.broadcast(F, wb[wOff + 3 * ldw + k]);
            c3_0 = b3.fma(x0, c3_0); c3_1 = b3.fma(x1, c3_1);
            FloatVector b4 = FloatVector.broadcast(F, wb[wOff + 4 * ldw + k]);
            c4_0 = b4.fma(x0, c4_0); c4_1 = b4.fma(x1, c4_1);
            FloatVector b5 = FloatVector.broadcast(F, wb[wOff + 5 * ldw + k]);
            c5_0 = b5.fma(x0, c5_0); c5_1 = b5.fma(x1, c5_1);
        }
        c0_0.intoArray(yt, y0); c0_1.intoArray(yt, y0 + L);
        c1_0.intoArray(yt, y1); c1_1.intoArray(yt, y1 + L);
        c2_0.intoArray(yt, y2); c2_1.intoArray(yt, y2 + L);
        c3_0.intoArray(yt, y3); c3_1.intoArray(yt, y3 + L);
        c4_0.intoArray(yt, y4); c4_1.intoArray(yt, y4 + L);
        c5_0.intoArray(yt, y5); c5_1.intoArray(yt, y5 + L);
    }

    private static void tile6x3v(float[] wb, int wOff, int ldw, int kc, float[] xp, int xOff, float[] yt, int yOff, int ldy) {
        int y0 = yOff;
        int y1 = yOff + 1 * ldy;
        int y2 = yOff + 2 * ldy;
        int y3 = yOff + 3 * ldy;
        int y4 = yOff + 4 * ldy;
        int y5 = yOff + 5 * ldy;
        FloatVector c0_0 = FloatVector.fromArray(F, yt, y0), c0_1 = FloatVector.fromArray(F, yt, y0 + L), c0_2 = FloatVector.fromArray(F, yt, y0 + 2 * L);
        FloatVector c1_0 = FloatVector.fromArray(F, yt, y1), c1_1 = FloatVector.fromArray(F, yt, y1 + L), c1_2 = FloatVector.fromArray(F, yt, y1 + 2 * L);
        FloatVector c2_0 = FloatVector.fromArray(F, yt, y2), c2_1 = FloatVector.fromArray(F, yt, y2 + L), c2_2 = FloatVector.fromArray(F, yt, y2 + 2 * L);
        FloatVector c3_0 = FloatVector.fromArray(F, yt, y3), c3_1 = FloatVector.fromArray(F, yt, y3 + L), c3_2 = FloatVector.fromArray(F, yt, y3 + 2 * L);
        FloatVector c4_0 = FloatVector.fromArray(F, yt, y4), c4_1 = FloatVector.fromArray(F, yt, y4 + L), c4_2 = FloatVector.fromArray(F, yt, y4 + 2 * L);
        FloatVector c5_0 = FloatVector.fromArray(F, yt, y5), c5_1 = FloatVector.fromArray(F, yt, y5 + L), c5_2 = FloatVector.fromArray(F, yt, y5 + 2 * L);
        for (int k = 0; k < kc; k++) {
            int xo = xOff + k * 3 * L;
            FloatVector x0 = FloatVector.fromArray(F, xp, xo);
            FloatVector x1 = FloatVector.fromArray(F, xp, xo + L);
            FloatVector x2 = FloatVector.fromArray(F, xp, xo + 2 * L);
            FloatVector b0 = FloatVector.broadcast(F, wb[wOff + k]);
            c0_0 = b0.fma(x0, c0_0); c0_1 = b0.fma(x1, c0_1); c0_2 = b0.fma(x2, c0_2);
            FloatVector b1 = FloatVector.broadcast(F, wb[wOff + 1 * ldw + k]);
            c1_0 = b1.fma(x0, c1_0); c1_1 = b1.fma(x1, c1_1); c1_2 = b1.fma(x2, c1_2);
            FloatVector b2 = FloatVector.broadcast(F, wb[wOff + 2 * ldw + k]);
            c2_0 = b2.fma(x0, c2_0); c2_1 = b2.fma(x1, c2_1); c2_2 = b2.fma(x2, c2_2);
            FloatVector b3 = FloatVector.broadcast(F, wb[wOff + 3 * ldw + k]);
            c3_0 = b3.fma(x0, c3_0); c3_1 = b3.fma(x1, c3_1); c3_2 = b3.fma(x2, c3_2);
            FloatVector b4 = FloatVector.broadcast(F, wb[wOff + 4 * ldw + k]);
            c4_0 = b4.fma(x0, c4_0); c4_1 = b4.fma(x1, c4_1); c4_2 = b4.fma(x2, c4_2);
            FloatVector b5 = FloatVector.broadcast(F, wb[wOff + 5 * ldw + k]);
            c5_0 = b5.fma(x0, c5_0); c5_1 = b5.fma(x1, c5_1); c5_2 = b5.fma(x2, c5_2);
        }
        c0_0.intoArray(yt, y0); c0_1.intoArray(yt, y0 + L); c0_2.intoArray(yt, y0 + 2 * L);
        c1_0.intoArray(yt, y1); c1_1.intoArray(yt, y1 + L); c1_2.intoArray(yt, y1 + 2 * L);
        c2_0.intoArray(yt, y2); c2_1.intoArray(yt, y2 + L); c2_2.intoArray(yt, y2 + 2 * L);
        c3_0.intoArray(yt, y3); c3_1.intoArray(yt, y3 + L); c3_2.intoArray(yt, y3 + 2 * L);
        c4_0.intoArray(yt, y4); c4_1.intoArray(yt, y4 + L); c4_2.intoArray(yt, y4 + 2 * L);
        c5_0.intoArray(yt, y5); c5_1.intoArray(yt, y5 + L); c5_2.intoArray(yt, y5 + 2 * L);
    }

    private static void tile12x2v(float[] wb, int wOff, int ldw, int kc, float[] xp, int xOff, float[] yt, int yOff, int ldy) {
        int y0 = yOff;
        int y1 = yOff + 1 * ldy;
        int y2 = yOff + 2 * ldy;
        int y3 = yOff + 3 * ldy;
        int y4 = yOff + 4 * ldy;
        int y5 = yOff + 5 * ldy;
        int y6 = yOff + 6 * ldy;
        int y7 = yOff + 7 * ldy;
        int y8 = yOff + 8 * ldy;
        int y9 = yOff + 9 * ldy;
        int y10 = yOff + 10 * ldy;
        int y11 = yOff + 11 * ldy;
        FloatVector c0_0 = FloatVector.fromArray(F, yt, y0), c0_1 = FloatVector.fromArray(F, yt, y0 + L);
        FloatVector c1_0 = FloatVector.fromArray(F, yt, y1), c1_1 = FloatVector.fromArray(F, yt, y1 + L);
        FloatVector c2_0 = FloatVector.fromArray(F, yt, y2), c2_1 = FloatVector.fromArray(F, yt, y2 + L);
        FloatVector c3_0 = FloatVector.fromArray(F, yt, y3), c3_1 = FloatVector.fromArray(F, yt, y3 + L);
        FloatVector c4_0 = FloatVector.fromArray(F, yt, y4), c4_1 = FloatVector.fromArray(F, yt, y4 + L);
        FloatVector c5_0 = FloatVector.fromArray(F, yt, y5), c5_1 = FloatVector.fromArray(F, yt, y5 + L);
        FloatVector c6_0 = FloatVector.fromArray(F, yt, y6), c6_1 = FloatVector.fromArray(F, yt, y6 + L);
        FloatVector c7_0 = FloatVector.fromArray(F, yt, y7), c7_1 = FloatVector.fromArray(F, yt, y7 + L);
        FloatVector c8_0 = FloatVector.fromArray(F, yt, y8), c8_1 = FloatVector.fromArray(F, yt, y8 + L);
        FloatVector c9_0 = FloatVector.fromArray(F, yt, y9), c9_1 = FloatVector.fromArray(F, yt, y9 + L);
        FloatVector c10_0 = FloatVector.fromArray(F, yt, y10), c10_1 = FloatVector.fromArray(F, yt, y10 + L);
        FloatVector c11_0 = FloatVector.fromArray(F, yt, y11), c11_1 = FloatVector.fromArray(F, yt, y11 + L);
        for (int k = 0; k < kc; k++) {
            int xo = xOff + k * 2 * L;
            FloatVector x0 = FloatVector.fromArray(F, xp, xo);
            FloatVector x1 = FloatVector.fromArray(F, xp, xo + L);
            FloatVector b0 = FloatVector.broadcast(F, wb[wOff + k]);
            c0_0 = b0.fma(x0, c0_0); c0_1 = b0.fma(x1, c0_1);
            FloatVector b1 = FloatVector.broadcast(F, wb[wOff + 1 * ldw + k]);
            c1_0 = b1.fma(x0, c1_0); c1_1 = b1.fma(x1, c1_1);
            FloatVector b2 = FloatVector.broadcast(F, wb[wOff + 2 * ldw + k]);
            c2_0 = b2.fma(x0, c2_0); c2_1 = b2.fma(x1, c2_1);
            FloatVector b3 = FloatVector.broadcast(F, wb[wOff + 3 * ldw + k]);
            c3_0 = b3.fma(x0, c3_0); c3_1 = b3.fma(x1, c3_1);
            FloatVector b4 = FloatVector.broadcast(F, wb[wOff + 4 * ldw + k]);
            c4_0 = b4.fma(x0, c4_0); c4_1 = b4.fma(x1, c4_1);
            FloatVector b5 = FloatVector.broadcast(F, wb[wOff + 5 * ldw + k]);
            c5_0 = b5.fma(x0, c5_0); c5_1 = b5.fma(x1, c5_1);
            FloatVector b6 = FloatVector.broadcast(F, wb[wOff + 6 * ldw + k]);
            c6_0 = b6.fma(x0, c6_0); c6_1 = b6.fma(x1, c6_1);
            FloatVector b7 = FloatVector.broadcast(F, wb[wOff + 7 * ldw + k]);
            c7_0 = b7.fma(x0, c7_0); c7_1 = b7.fma(x1, c7_1);
            FloatVector b8 = FloatVector.broadcast(F, wb[wOff + 8 * ldw + k]);
            c8_0 = b8.fma(x0, c8_0); c8_1 = b8.fma(x1, c8_1);
            FloatVector b9 = FloatVector.broadcast(F, wb[wOff + 9 * ldw + k]);
            c9_0 = b9.fma(x0, c9_0); c9_1 = b9.fma(x1, c9_1);
            FloatVector b10 = FloatVector.broadcast(F, wb[wOff + 10 * ldw + k]);
            c10_0 = b10.fma(x0, c10_0); c10_1 = b10.fma(x1, c10_1);
            FloatVector b11 = FloatVector.broadcast(F, wb[wOff + 11 * ldw + k]);
            c11_0 = b11.fma(x0, c11_0); c11_1 = b11.fma(x1, c11_1);
        }
        c0_0.intoArray(yt, y0); c0_1.intoArray(yt, y0 + L);
        c1_0.intoArray(yt, y1); c1_1.intoArray(yt, y1 + L);
        c2_0.intoArray(yt, y2); c2_1.intoArray(yt, y2 + L);
        c3_0.intoArray(yt, y3); c3_1.intoArray(yt, y3 + L);
        c4_0.intoArray(yt, y4); c4_1.intoArray(yt, y4 + L);
        c5_0.intoArray(yt, y5); c5_1.intoArray(yt, y5 + L);
        c6_0.intoArray(yt, y6); c6_1.intoArray(yt, y6 + L);
        c7_0.intoArray(yt, y7); c7_1.intoArray(yt, y7 + L);
        c8_0.intoArray(yt, y8); c8_1.intoArray(yt, y8 + L);
        c9_0.intoArray(yt, y9); c9_1.intoArray(yt, y9 + L);
        c10_0.intoArray(yt, y10); c10_1.intoArray(yt, y10 + L);
        c11_0.intoArray(yt, y11); c11_1.intoArray(yt, y11 + L);
    }

    private static void tile12x1v(float[] wb, int wOff, int ldw, int kc, float[] xp, int xOff, float[] yt, int yOff, int ldy) {
        int y0 = yOff;
        int y1 = yOff + 1 * ldy;
        int y2 = yOff + 2 * ldy;
        int y3 = yOff + 3 * ldy;
        int y4 = yOff + 4 * ldy;
        int y5 = yOff + 5 * ldy;
        int y6 = yOff + 6 * ldy;
        int y7 = yOff + 7 * ldy;
        int y8 = yOff + 8 * ldy;
        int y9 = yOff + 9 * ldy;
        int y10 = yOff + 10 * ldy;
        int y11 = yOff + 11 * ldy;
        FloatVector c0_0 = FloatVector.fromArray(F, yt, y0);
        FloatVector c1_0 = FloatVector.fromArray(F, yt, y1);
        FloatVector c2_0 = FloatVector.fromArray(F, yt, y2);
        FloatVector c3_0 = FloatVector.fromArray(F, yt, y3);
        FloatVector c4_0 = FloatVector.fromArray(F, yt, y4);
        FloatVector c5_0 = FloatVector.fromArray(F, yt, y5);
        FloatVector c6_0 = FloatVector.fromArray(F, yt, y6);
        FloatVector c7_0 = FloatVector.fromArray(F, yt, y7);
        FloatVector c8_0 = FloatVector.fromArray(F, yt, y8);
        FloatVector c9_0 = FloatVector.fromArray(F, yt, y9);
        FloatVector c10_0 = FloatVector.fromArray(F, yt, y10);
        FloatVector c11_0 = FloatVector.fromArray(F, yt, y11);
        for (int k = 0; k < kc; k++) {
            int xo = xOff + k * L;
            FloatVector x0 = FloatVector.fromArray(F, xp, xo);
            FloatVector b0 = FloatVector.broadcast(F, wb[wOff + k]);
            c0_0 = b0.fma(x0, c0_0);
            FloatVector b1 = FloatVector.broadcast(F, wb[wOff + 1 * ldw + k]);
            c1_0 = b1.fma(x0, c1_0);
            FloatVector b2 = FloatVector.broadcast(F, wb[wOff + 2 * ldw + k]);
            c2_0 = b2.fma(x0, c2_0);
            FloatVector b3 = FloatVector.broadcast(F, wb[wOff + 3 * ldw + k]);
            c3_0 = b3.fma(x0, c3_0);
            FloatVector b4 = FloatVector.broadcast(F, wb[wOff + 4 * ldw + k]);
            c4_0 = b4.fma(x0, c4_0);
            FloatVector b5 = FloatVector.broadcast(F, wb[wOff + 5 * ldw + k]);
            c5_0 = b5.fma(x0, c5_0);
            FloatVector b6 = FloatVector.broadcast(F, wb[wOff + 6 * ldw + k]);
            c6_0 = b6.fma(x0, c6_0);
            FloatVector b7 = FloatVector.broadcast(F, wb[wOff + 7 * ldw + k]);
            c7_0 = b7.fma(x0, c7_0);
            FloatVector b8 = FloatVector.broadcast(F, wb[wOff + 8 * ldw + k]);
            c8_0 = b8.fma(x0, c8_0);
            FloatVector b9 = FloatVector.broadcast(F, wb[wOff + 9 * ldw + k]);
            c9_0 = b9.fma(x0, c9_0);
            FloatVector b10 = FloatVector.broadcast(F, wb[wOff + 10 * ldw + k]);
            c10_0 = b10.fma(x0, c10_0);
            FloatVector b11 = FloatVector.broadcast(F, wb[wOff + 11 * ldw + k]);
            c11_0 = b11.fma(x0, c11_0);
        }
        c0_0.intoArray(yt, y0);
        c1_0.intoArray(yt, y1);
        c2_0.intoArray(yt, y2);
        c3_0.intoArray(yt, y3);
        c4_0.intoArray(yt, y4);
        c5_0.intoArray(yt, y5);
        c6_0.intoArray(yt, y6);
        c7_0.intoArray(yt, y7);
        c8_0.intoArray(yt, y8);
        c9_0.intoArray(yt, y9);
        c10_0.intoArray(yt, y10);
        c11_0.intoArray(yt, y11);
    }
}
