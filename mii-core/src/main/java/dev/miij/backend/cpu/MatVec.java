package dev.miij.backend.cpu;

import static dev.miij.backend.cpu.WeightLoads.F;
import static dev.miij.backend.cpu.WeightLoads.I32;
import static dev.miij.backend.cpu.WeightLoads.LE;
import static dev.miij.backend.cpu.WeightLoads.L;
import static dev.miij.backend.cpu.WeightLoads.bf16;
import static dev.miij.backend.cpu.WeightLoads.bf16Scalar;
import static dev.miij.backend.cpu.WeightLoads.f32;
import static dev.miij.backend.cpu.WeightLoads.f32Scalar;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Matrix-vector kernels for few activation rows (decode). These are bound by memory bandwidth, so
 * each weight element is read once and converted to FP32 in registers; the loops aim for few
 * instructions per weight byte, since that decides how many cache misses the core keeps in flight.
 *
 * <p>Weight offsets are {@code long} loop variables: C2 hoists the segment bounds checks out of such
 * loops; an int index widened inside the loop body measured 40% slower on streaming reads.
 */
final class MatVec {

    /**
     * Elements per block: one int vector holds a block's BF16 (or F16) values in pairs, 2L elements
     * in 4L bytes (32 elements in 64 bytes with AVX-512, 16 in 32 with AVX2, 8 in 16 with NEON).
     */
    static final int B = 2 * L;
    /** Bytes per block of BF16 or F16 weights. */
    static final int BB = 2 * B;

    private MatVec() {
    }

    // ---------------------------------------------------------------- one activation row

    /*
     * BF16 with one activation row. One integer vector load takes a block of B = 2L BF16 values (32
     * with AVX-512); as L ints, each holds an even element in its low half and an odd one in its
     * high half. Shifting left by 16
     * gives the even elements as floats and masking off the low half gives the odd ones, so a cache
     * line costs one load and two cheap integer operations. The activations are rearranged once per
     * call to match ({@link #deinterleave}). Measured against widening half-width loads (AVX-512),
     * this reads 10-20% more bytes per second. Reading four rows at once ({@link #dot4Half}) halves the
     * activation loads per weight byte, which matters when memory is fast: the loop's own cost, not
     * DRAM, then sets the pace.
     */

    private static final IntVector HIGH_HALF = IntVector.broadcast(I32, 0xFFFF0000);

    private static FloatVector even(IntVector v) {
        return v.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
    }

    private static FloatVector odd(IntVector v) {
        return v.and(HIGH_HALF).reinterpretAsFloats();
    }

    /** Lane indices picking the even (odd) elements out of two consecutive float vectors. */
    private static final FloatVector EVEN_LANES = FloatVector.fromArray(F, lanes(0), 0);
    private static final FloatVector ODD_LANES = FloatVector.fromArray(F, lanes(1), 0);

    private static float[] lanes(int first) {
        float[] a = new float[L];
        for (int j = 0; j < L; j++) {
            a[j] = 2 * j + first;
        }
        return a;
    }

    /**
     * Copies x[xOff..xOff+n) into xd so that each block of B elements holds its L even elements and
     * then its L odd ones; a last partial block stays in order. Two-source permutes keep this at a
     * few instructions per block, since it runs on every decode matmul.
     */
    static void deinterleave(float[] x, int xOff, int n, float[] xd) {
        deinterleave(x, xOff, n, xd, 0);
    }

    /** As above, into xd[xdOff..xdOff+n). */
    static void deinterleave(float[] x, int xOff, int n, float[] xd, int xdOff) {
        int nb = n & -B;
        for (int b = 0; b < nb; b += B) {
            FloatVector v0 = FloatVector.fromArray(F, x, xOff + b);
            FloatVector v1 = FloatVector.fromArray(F, x, xOff + b + L);
            EVEN_LANES.selectFrom(v0, v1).intoArray(xd, xdOff + b);
            ODD_LANES.selectFrom(v0, v1).intoArray(xd, xdOff + b + L);
        }
        System.arraycopy(x, xOff + nb, xd, xdOff + nb, n - nb);
    }

    /** Elements [from, n) of a BF16 row at byte off against xd in plain order (the partial block). */
    private static float tailBf16(MemorySegment w, long off, float[] xd, int from, int n) {
        return tailBf16(w, off, xd, 0, from, n);
    }

    /** As above with the activations at xd[xOff..]. */
    private static float tailBf16(MemorySegment w, long off, float[] xd, int xOff, int from, int n) {
        float s = 0;
        int i = from;
        if (i + L <= n) {
            s = bf16(w, off + 2L * i).mul(FloatVector.fromArray(F, xd, xOff + i)).reduceLanes(VectorOperators.ADD);
            i += L;
        }
        for (; i < n; i++) {
            s += bf16Scalar(w, off + 2L * i) * xd[xOff + i];
        }
        return s;
    }

    /**
     * Elements [from, n) of an F16 row at byte off against xd[xOff..] in plain order (the partial
     * block), converted exactly.
     */
    private static float tailF16(MemorySegment w, long off, float[] xd, int xOff, int from, int n) {
        float s = 0;
        for (int i = from; i < n; i++) {
            s += Float.float16ToFloat(w.get(WeightLoads.SHORT, off + 2L * i)) * xd[xOff + i];
        }
        return s;
    }

    /** Dot product of the BF16 row at byte {@code off} with deinterleaved activations xd[0..n). */
    static float dotBf16(MemorySegment w, long off, float[] xd, int n) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long e = off;
        for (long end = off + 2L * (n & -(2 * B)); e < end; e += 2 * BB) {
            int i = (int) ((e - off) >>> 1);
            IntVector v0 = IntVector.fromMemorySegment(I32, w, e, LE);
            IntVector v1 = IntVector.fromMemorySegment(I32, w, e + BB, LE);
            a0 = even(v0).fma(FloatVector.fromArray(F, xd, i), a0);
            a1 = odd(v0).fma(FloatVector.fromArray(F, xd, i + L), a1);
            a2 = even(v1).fma(FloatVector.fromArray(F, xd, i + 2 * L), a2);
            a3 = odd(v1).fma(FloatVector.fromArray(F, xd, i + 3 * L), a3);
        }
        if ((n & B) != 0) {
            int i = (int) ((e - off) >>> 1);
            IntVector v0 = IntVector.fromMemorySegment(I32, w, e, LE);
            a0 = even(v0).fma(FloatVector.fromArray(F, xd, i), a0);
            a1 = odd(v0).fma(FloatVector.fromArray(F, xd, i + L), a1);
        }
        float s = a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
        int nb = n & -B;
        return nb == n ? s : s + tailBf16(w, off, xd, nb, n);
    }

    /**
     * Dot product of one BF16 row with deinterleaved activations at xd[xOff..xOff+n) (the last
     * few output rows of the several-row path; the single-row loop above is left as it was measured).
     */
    static float dotBf16(MemorySegment w, long off, float[] xd, int xOff, int n) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        for (long e = off, end = off + 2L * (n & -B); e < end; e += BB) {
            int i = xOff + (int) ((e - off) >>> 1);
            IntVector v = IntVector.fromMemorySegment(I32, w, e, LE);
            a0 = even(v).fma(FloatVector.fromArray(F, xd, i), a0);
            a1 = odd(v).fma(FloatVector.fromArray(F, xd, i + L), a1);
        }
        return a0.add(a1).reduceLanes(VectorOperators.ADD) + tail(w, false, off, xd, xOff, n & -B, n);
    }

    /**
     * Dot products of four BF16 (or F16) rows at off + k * rowBytes (k = 0..3) with deinterleaved
     * xd[0..n), any n; writes y[yOff + k * yStride]. One row of each stream per call: the decode
     * path uses {@link #dot4HalfRows} directly where rows are whole blocks. Returns true when
     * an F16 infinity or NaN was read (see dot4HalfRows).
     */
    static boolean dot4Half(MemorySegment w, boolean f16, long off, long rowBytes, float[] xd, int n, float[] y,
            int yOff, int yStride) {
        int nb = n & -B;
        boolean special = false;
        if (nb > 0) {
            special = dot4HalfRows(w, f16, off, rowBytes, 1, xd, nb, y, yOff, yStride);
        } else {
            for (int k = 0; k < 4; k++) {
                y[yOff + k * yStride] = 0f;
            }
        }
        for (int k = 0; k < 4; k++) {
            y[yOff + k * yStride] += tail(w, f16, off + k * rowBytes, xd, 0, nb, n);
        }
        return special;
    }

    /*
     * F16 with one activation row (dot4HalfRows), along four streams as BF16. A 32-bit lane holds
     * two F16 values. An arithmetic shift right by 3 puts the high value's exponent and mantissa into a
     * float's exponent and mantissa fields, with the exponent 112 too small, and copies its sign
     * into bit 31; the mask 0x8FFFE000 keeps exactly those, and multiplying by 2^112 restores the
     * value exactly, subnormals included (a power-of-two scaling of a float subnormal is exact).
     * The low value is shifted up by 16 first. Converting in registers like this costs a few integer
     * operations per line but reads 29-31 GB/s per core, against 14 for converting chunks into a
     * buffer with the hardware instruction (dotF16), which doubles the loads and adds stores.
     *
     * F16 infinity and NaN (exponent field all ones) would come out finite, so the loop also tracks
     * whether it saw one: adding 0x0400 to a masked exponent field carries into its top bit only
     * when the field is all ones. The caller then recomputes those rows with exact conversions.
     */

    private static final IntVector F16_SIGN_EXP_MANTISSA = IntVector.broadcast(I32, 0x8FFFE000);
    private static final FloatVector F16_REBIAS = FloatVector.broadcast(F, 0x1p112f);
    private static final IntVector F16_EXPONENTS = IntVector.broadcast(I32, 0x7C007C00);
    private static final IntVector F16_EXPONENT_CARRY = IntVector.broadcast(I32, 0x04000400);
    private static final IntVector F16_TOP_BITS = IntVector.broadcast(I32, 0x80008000);

    /**
     * Dot products of {@code rows} consecutive BF16 (or, with {@code f16}, F16) rows in each of four
     * streams (stream k starts at off + k * stride) with deinterleaved xd[0..n); writes
     * y[yOff + k * yStride + r] for row r of stream k. n must be a multiple of B, so that rows are
     * whole 64-byte blocks and each stream is one contiguous run of bytes. Returns true when an F16
     * infinity or NaN was read: the outputs written are then not IEEE results, and the caller must
     * recompute them.
     *
     * <p>This is {@link #dot4Half} over many rows in one loop: the loop runs along each stream
     * without stopping at row ends, and only the accumulators are reduced and reset there. One
     * call per row cost 12-17% of a core's decode throughput (one thread, model pages in DRAM):
     * each call enters and leaves C2's pre-, main- and post-loop, a cost paid every 64 iterations
     * for rows of 2048 elements. C2 unswitches the loop on {@code f16}, so each type runs a loop of
     * its own (measured as fast as two separate methods).
     */
    static boolean dot4HalfRows(MemorySegment w, boolean f16, long off, long stride, int rows, float[] xd, int n,
            float[] y, int yOff, int yStride) {
        FloatVector z = FloatVector.zero(F), a0 = z, a1 = z, a2 = z, a3 = z;
        IntVector special = IntVector.zero(I32);
        long s2 = 2 * stride, s3 = 3 * stride;
        int xi = 0;
        int o = yOff;
        // The conversions are written out in the loop: in a method this large, a helper taking
        // vectors is not always inlined, and then every vector is boxed.
        for (long e = off, end = off + rows * 2L * n; e < end; e += BB) {
            FloatVector xe = FloatVector.fromArray(F, xd, xi);
            FloatVector xo = FloatVector.fromArray(F, xd, xi + L);
            IntVector v0 = IntVector.fromMemorySegment(I32, w, e, LE);
            IntVector v1 = IntVector.fromMemorySegment(I32, w, e + stride, LE);
            IntVector v2 = IntVector.fromMemorySegment(I32, w, e + s2, LE);
            IntVector v3 = IntVector.fromMemorySegment(I32, w, e + s3, LE);
            if (f16) {
                special = special.or(v0.and(F16_EXPONENTS).add(F16_EXPONENT_CARRY))
                        .or(v1.and(F16_EXPONENTS).add(F16_EXPONENT_CARRY))
                        .or(v2.and(F16_EXPONENTS).add(F16_EXPONENT_CARRY))
                        .or(v3.and(F16_EXPONENTS).add(F16_EXPONENT_CARRY));
                a0 = v0.lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA).reinterpretAsFloats().mul(F16_REBIAS)
                        .fma(xo, v0.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3)
                                .and(F16_SIGN_EXP_MANTISSA).reinterpretAsFloats().mul(F16_REBIAS).fma(xe, a0));
                a1 = v1.lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA).reinterpretAsFloats().mul(F16_REBIAS)
                        .fma(xo, v1.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3)
                                .and(F16_SIGN_EXP_MANTISSA).reinterpretAsFloats().mul(F16_REBIAS).fma(xe, a1));
                a2 = v2.lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA).reinterpretAsFloats().mul(F16_REBIAS)
                        .fma(xo, v2.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3)
                                .and(F16_SIGN_EXP_MANTISSA).reinterpretAsFloats().mul(F16_REBIAS).fma(xe, a2));
                a3 = v3.lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA).reinterpretAsFloats().mul(F16_REBIAS)
                        .fma(xo, v3.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3)
                                .and(F16_SIGN_EXP_MANTISSA).reinterpretAsFloats().mul(F16_REBIAS).fma(xe, a3));
            } else {
                a0 = v0.and(HIGH_HALF).reinterpretAsFloats()
                        .fma(xo, v0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a0));
                a1 = v1.and(HIGH_HALF).reinterpretAsFloats()
                        .fma(xo, v1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a1));
                a2 = v2.and(HIGH_HALF).reinterpretAsFloats()
                        .fma(xo, v2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a2));
                a3 = v3.and(HIGH_HALF).reinterpretAsFloats()
                        .fma(xo, v3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats().fma(xe, a3));
            }
            xi += B;
            if (xi == n) {
                y[o] = a0.reduceLanes(VectorOperators.ADD);
                y[o + yStride] = a1.reduceLanes(VectorOperators.ADD);
                y[o + 2 * yStride] = a2.reduceLanes(VectorOperators.ADD);
                y[o + 3 * yStride] = a3.reduceLanes(VectorOperators.ADD);
                a0 = z;
                a1 = z;
                a2 = z;
                a3 = z;
                xi = 0;
                o++;
            }
        }
        return f16 && special.and(F16_TOP_BITS).reduceLanes(VectorOperators.OR) != 0;
    }

    /** {@link #dotF16} converts rows in chunks of this many elements into an L1-resident buffer. */
    static final int F16_CHUNK = Integer.getInteger("mii.gemv.f16Chunk", 512);

    /**
     * Dot product of the F16 row at byte off with x[xOff..xOff+n) in plain order, converted exactly
     * (infinities and NaNs included) through tmp, which holds F16_CHUNK floats: for rows outside
     * the four-row kernels' groups, and to recompute the rows where those met an infinity or NaN.
     */
    static float dotF16(MemorySegment w, long off, float[] x, int xOff, int n, float[] tmp) {
        float s = 0;
        for (int c = 0; c < n; c += F16_CHUNK) {
            int len = Math.min(F16_CHUNK, n - c);
            WeightLoads.f16ToFloats(w, off + 2L * c, tmp, 0, len);
            s += VectorOps.dot(tmp, 0, x, xOff + c, len);
        }
        return s;
    }

    static float dotF32(MemorySegment w, long off, float[] x, int xOff, int n) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long end4 = off + 4L * (n & -(4 * L));
        long e = off;
        for (; e < end4; e += 16 * L) {
            int i = xOff + (int) ((e - off) >>> 2);
            a0 = f32(w, e).fma(FloatVector.fromArray(F, x, i), a0);
            a1 = f32(w, e + 4 * L).fma(FloatVector.fromArray(F, x, i + L), a1);
            a2 = f32(w, e + 8 * L).fma(FloatVector.fromArray(F, x, i + 2 * L), a2);
            a3 = f32(w, e + 12 * L).fma(FloatVector.fromArray(F, x, i + 3 * L), a3);
        }
        long end1 = off + 4L * (n & -L);
        for (; e < end1; e += 4 * L) {
            a0 = f32(w, e).fma(FloatVector.fromArray(F, x, xOff + (int) ((e - off) >>> 2)), a0);
        }
        float s = a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
        for (int i = n & -L; i < n; i++) {
            s += f32Scalar(w, off + 4L * i) * x[xOff + i];
        }
        return s;
    }

    // ---------------------------------------------------------------- several activation rows

    /*
     * BF16 and F16 with several activation rows: each row of x is deinterleaved like the
     * single-row case (row r at xd[r * n ..]), and blocks of four weight rows are read side by side
     * against up to four activation rows at a time. F16 (f16 true) is converted as in
     * dot4HalfRows and needs n to be a multiple of 32; C2 unswitches the loops on f16.
     */

    /**
     * Four BF16 (or F16) weight rows (stride rowBytes) against four deinterleaved activation rows
     * xd[xOff + r * n ..]; writes y[yOff + r * yStride + k * kStride] for weight row k (at
     * off + k * rowBytes), activation row r, and returns true when an F16 infinity or NaN was read
     * (those outputs must then be recomputed). Each
     * weight vector is converted once and used for four activation rows, and each activation vector
     * is loaded once for four weight rows. One weight row at a time against four activation rows
     * (eight activation loads per weight load) ran at under half the bandwidth: the activation rows
     * crowd L1 and the loads leave the core too few misses in flight. Sixteen accumulators, the
     * converted weights and one activation row's pair fit in the 32 vector registers of AVX-512 and
     * NEON; with AVX2's 16, C2 keeps some of them on the stack (L1-resident).
     */
    static boolean dot4x4Half(MemorySegment w, boolean f16, long off, long rowBytes, float[] xd, int xOff, int n,
            float[] y, int yOff, int yStride, int kStride) {
        FloatVector z = FloatVector.zero(F);
        IntVector special = IntVector.zero(I32);
        FloatVector a00 = z, a01 = z, a02 = z, a03 = z;
        FloatVector a10 = z, a11 = z, a12 = z, a13 = z;
        FloatVector a20 = z, a21 = z, a22 = z, a23 = z;
        FloatVector a30 = z, a31 = z, a32 = z, a33 = z;
        long r1 = rowBytes, r2 = 2 * rowBytes, r3 = 3 * rowBytes;
        for (long e = off, end = off + 2L * (n & -B); e < end; e += BB) {
            int i = xOff + (int) ((e - off) >>> 1);
            IntVector v0 = IntVector.fromMemorySegment(I32, w, e, LE);
            IntVector v1 = IntVector.fromMemorySegment(I32, w, e + r1, LE);
            IntVector v2 = IntVector.fromMemorySegment(I32, w, e + r2, LE);
            IntVector v3 = IntVector.fromMemorySegment(I32, w, e + r3, LE);
            FloatVector e0, o0, e1, o1, e2, o2, e3, o3;
            // Written out, not in helpers: in methods this large a helper taking vectors is not
            // always inlined, and then every vector is boxed.
            if (f16) {
                special = special.or(v0.and(F16_EXPONENTS).add(F16_EXPONENT_CARRY))
                        .or(v1.and(F16_EXPONENTS).add(F16_EXPONENT_CARRY))
                        .or(v2.and(F16_EXPONENTS).add(F16_EXPONENT_CARRY))
                        .or(v3.and(F16_EXPONENTS).add(F16_EXPONENT_CARRY));
                e0 = v0.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA)
                        .reinterpretAsFloats().mul(F16_REBIAS);
                o0 = v0.lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA).reinterpretAsFloats().mul(F16_REBIAS);
                e1 = v1.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA)
                        .reinterpretAsFloats().mul(F16_REBIAS);
                o1 = v1.lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA).reinterpretAsFloats().mul(F16_REBIAS);
                e2 = v2.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA)
                        .reinterpretAsFloats().mul(F16_REBIAS);
                o2 = v2.lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA).reinterpretAsFloats().mul(F16_REBIAS);
                e3 = v3.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA)
                        .reinterpretAsFloats().mul(F16_REBIAS);
                o3 = v3.lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA).reinterpretAsFloats().mul(F16_REBIAS);
            } else {
                e0 = v0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                o0 = v0.and(HIGH_HALF).reinterpretAsFloats();
                e1 = v1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                o1 = v1.and(HIGH_HALF).reinterpretAsFloats();
                e2 = v2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                o2 = v2.and(HIGH_HALF).reinterpretAsFloats();
                e3 = v3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                o3 = v3.and(HIGH_HALF).reinterpretAsFloats();
            }
            FloatVector xe0 = FloatVector.fromArray(F, xd, i), xo0 = FloatVector.fromArray(F, xd, i + L);
            a00 = o0.fma(xo0, e0.fma(xe0, a00));
            a10 = o1.fma(xo0, e1.fma(xe0, a10));
            a20 = o2.fma(xo0, e2.fma(xe0, a20));
            a30 = o3.fma(xo0, e3.fma(xe0, a30));
            FloatVector xe1 = FloatVector.fromArray(F, xd, i + n), xo1 = FloatVector.fromArray(F, xd, i + n + L);
            a01 = o0.fma(xo1, e0.fma(xe1, a01));
            a11 = o1.fma(xo1, e1.fma(xe1, a11));
            a21 = o2.fma(xo1, e2.fma(xe1, a21));
            a31 = o3.fma(xo1, e3.fma(xe1, a31));
            FloatVector xe2 = FloatVector.fromArray(F, xd, i + 2 * n), xo2 = FloatVector.fromArray(F, xd, i + 2 * n + L);
            a02 = o0.fma(xo2, e0.fma(xe2, a02));
            a12 = o1.fma(xo2, e1.fma(xe2, a12));
            a22 = o2.fma(xo2, e2.fma(xe2, a22));
            a32 = o3.fma(xo2, e3.fma(xe2, a32));
            FloatVector xe3 = FloatVector.fromArray(F, xd, i + 3 * n), xo3 = FloatVector.fromArray(F, xd, i + 3 * n + L);
            a03 = o0.fma(xo3, e0.fma(xe3, a03));
            a13 = o1.fma(xo3, e1.fma(xe3, a13));
            a23 = o2.fma(xo3, e2.fma(xe3, a23));
            a33 = o3.fma(xo3, e3.fma(xe3, a33));
        }
        int nb = n & -B;
        y[yOff] = a00.reduceLanes(VectorOperators.ADD) + tail(w, f16, off, xd, xOff, nb, n);
        y[yOff + kStride] = a10.reduceLanes(VectorOperators.ADD) + tail(w, f16, off + r1, xd, xOff, nb, n);
        y[yOff + 2 * kStride] = a20.reduceLanes(VectorOperators.ADD) + tail(w, f16, off + r2, xd, xOff, nb, n);
        y[yOff + 3 * kStride] = a30.reduceLanes(VectorOperators.ADD) + tail(w, f16, off + r3, xd, xOff, nb, n);
        y[yOff + yStride] = a01.reduceLanes(VectorOperators.ADD) + tail(w, f16, off, xd, xOff + n, nb, n);
        y[yOff + yStride + kStride] = a11.reduceLanes(VectorOperators.ADD) + tail(w, f16, off + r1, xd, xOff + n, nb, n);
        y[yOff + yStride + 2 * kStride] = a21.reduceLanes(VectorOperators.ADD) + tail(w, f16, off + r2, xd, xOff + n, nb, n);
        y[yOff + yStride + 3 * kStride] = a31.reduceLanes(VectorOperators.ADD) + tail(w, f16, off + r3, xd, xOff + n, nb, n);
        y[yOff + 2 * yStride] = a02.reduceLanes(VectorOperators.ADD) + tail(w, f16, off, xd, xOff + 2 * n, nb, n);
        y[yOff + 2 * yStride + kStride] = a12.reduceLanes(VectorOperators.ADD) + tail(w, f16, off + r1, xd, xOff + 2 * n, nb, n);
        y[yOff + 2 * yStride + 2 * kStride] = a22.reduceLanes(VectorOperators.ADD) + tail(w, f16, off + r2, xd, xOff + 2 * n, nb, n);
        y[yOff + 2 * yStride + 3 * kStride] = a32.reduceLanes(VectorOperators.ADD) + tail(w, f16, off + r3, xd, xOff + 2 * n, nb, n);
        y[yOff + 3 * yStride] = a03.reduceLanes(VectorOperators.ADD) + tail(w, f16, off, xd, xOff + 3 * n, nb, n);
        y[yOff + 3 * yStride + kStride] = a13.reduceLanes(VectorOperators.ADD) + tail(w, f16, off + r1, xd, xOff + 3 * n, nb, n);
        y[yOff + 3 * yStride + 2 * kStride] = a23.reduceLanes(VectorOperators.ADD) + tail(w, f16, off + r2, xd, xOff + 3 * n, nb, n);
        y[yOff + 3 * yStride + 3 * kStride] = a33.reduceLanes(VectorOperators.ADD) + tail(w, f16, off + r3, xd, xOff + 3 * n, nb, n);
        return f16 && special.and(F16_TOP_BITS).reduceLanes(VectorOperators.OR) != 0;
    }

    /** As {@link #dot4x4Half} for two activation rows. */
    static boolean dot4x2Half(MemorySegment w, boolean f16, long off, long rowBytes, float[] xd, int xOff, int n,
            float[] y, int yOff, int yStride, int kStride) {
        FloatVector z = FloatVector.zero(F);
        IntVector special = IntVector.zero(I32);
        FloatVector a00 = z, a01 = z;
        FloatVector a10 = z, a11 = z;
        FloatVector a20 = z, a21 = z;
        FloatVector a30 = z, a31 = z;
        long r1 = rowBytes, r2 = 2 * rowBytes, r3 = 3 * rowBytes;
        for (long e = off, end = off + 2L * (n & -B); e < end; e += BB) {
            int i = xOff + (int) ((e - off) >>> 1);
            IntVector v0 = IntVector.fromMemorySegment(I32, w, e, LE);
            IntVector v1 = IntVector.fromMemorySegment(I32, w, e + r1, LE);
            IntVector v2 = IntVector.fromMemorySegment(I32, w, e + r2, LE);
            IntVector v3 = IntVector.fromMemorySegment(I32, w, e + r3, LE);
            FloatVector e0, o0, e1, o1, e2, o2, e3, o3;
            // Written out, not in helpers: in methods this large a helper taking vectors is not
            // always inlined, and then every vector is boxed.
            if (f16) {
                special = special.or(v0.and(F16_EXPONENTS).add(F16_EXPONENT_CARRY))
                        .or(v1.and(F16_EXPONENTS).add(F16_EXPONENT_CARRY))
                        .or(v2.and(F16_EXPONENTS).add(F16_EXPONENT_CARRY))
                        .or(v3.and(F16_EXPONENTS).add(F16_EXPONENT_CARRY));
                e0 = v0.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA)
                        .reinterpretAsFloats().mul(F16_REBIAS);
                o0 = v0.lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA).reinterpretAsFloats().mul(F16_REBIAS);
                e1 = v1.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA)
                        .reinterpretAsFloats().mul(F16_REBIAS);
                o1 = v1.lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA).reinterpretAsFloats().mul(F16_REBIAS);
                e2 = v2.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA)
                        .reinterpretAsFloats().mul(F16_REBIAS);
                o2 = v2.lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA).reinterpretAsFloats().mul(F16_REBIAS);
                e3 = v3.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA)
                        .reinterpretAsFloats().mul(F16_REBIAS);
                o3 = v3.lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA).reinterpretAsFloats().mul(F16_REBIAS);
            } else {
                e0 = v0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                o0 = v0.and(HIGH_HALF).reinterpretAsFloats();
                e1 = v1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                o1 = v1.and(HIGH_HALF).reinterpretAsFloats();
                e2 = v2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                o2 = v2.and(HIGH_HALF).reinterpretAsFloats();
                e3 = v3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                o3 = v3.and(HIGH_HALF).reinterpretAsFloats();
            }
            FloatVector xe0 = FloatVector.fromArray(F, xd, i), xo0 = FloatVector.fromArray(F, xd, i + L);
            a00 = o0.fma(xo0, e0.fma(xe0, a00));
            a10 = o1.fma(xo0, e1.fma(xe0, a10));
            a20 = o2.fma(xo0, e2.fma(xe0, a20));
            a30 = o3.fma(xo0, e3.fma(xe0, a30));
            FloatVector xe1 = FloatVector.fromArray(F, xd, i + n), xo1 = FloatVector.fromArray(F, xd, i + n + L);
            a01 = o0.fma(xo1, e0.fma(xe1, a01));
            a11 = o1.fma(xo1, e1.fma(xe1, a11));
            a21 = o2.fma(xo1, e2.fma(xe1, a21));
            a31 = o3.fma(xo1, e3.fma(xe1, a31));
        }
        int nb = n & -B;
        y[yOff] = a00.reduceLanes(VectorOperators.ADD) + tail(w, f16, off, xd, xOff, nb, n);
        y[yOff + kStride] = a10.reduceLanes(VectorOperators.ADD) + tail(w, f16, off + r1, xd, xOff, nb, n);
        y[yOff + 2 * kStride] = a20.reduceLanes(VectorOperators.ADD) + tail(w, f16, off + r2, xd, xOff, nb, n);
        y[yOff + 3 * kStride] = a30.reduceLanes(VectorOperators.ADD) + tail(w, f16, off + r3, xd, xOff, nb, n);
        y[yOff + yStride] = a01.reduceLanes(VectorOperators.ADD) + tail(w, f16, off, xd, xOff + n, nb, n);
        y[yOff + yStride + kStride] = a11.reduceLanes(VectorOperators.ADD) + tail(w, f16, off + r1, xd, xOff + n, nb, n);
        y[yOff + yStride + 2 * kStride] = a21.reduceLanes(VectorOperators.ADD) + tail(w, f16, off + r2, xd, xOff + n, nb, n);
        y[yOff + yStride + 3 * kStride] = a31.reduceLanes(VectorOperators.ADD) + tail(w, f16, off + r3, xd, xOff + n, nb, n);
        return f16 && special.and(F16_TOP_BITS).reduceLanes(VectorOperators.OR) != 0;
    }

    /** As {@link #dot4x4Half} for one activation row (at any offset of xd). */
    static boolean dot4x1Half(MemorySegment w, boolean f16, long off, long rowBytes, float[] xd, int xOff, int n,
            float[] y, int yOff, int yStride, int kStride) {
        FloatVector z = FloatVector.zero(F);
        IntVector special = IntVector.zero(I32);
        FloatVector a00 = z;
        FloatVector a10 = z;
        FloatVector a20 = z;
        FloatVector a30 = z;
        long r1 = rowBytes, r2 = 2 * rowBytes, r3 = 3 * rowBytes;
        for (long e = off, end = off + 2L * (n & -B); e < end; e += BB) {
            int i = xOff + (int) ((e - off) >>> 1);
            IntVector v0 = IntVector.fromMemorySegment(I32, w, e, LE);
            IntVector v1 = IntVector.fromMemorySegment(I32, w, e + r1, LE);
            IntVector v2 = IntVector.fromMemorySegment(I32, w, e + r2, LE);
            IntVector v3 = IntVector.fromMemorySegment(I32, w, e + r3, LE);
            FloatVector e0, o0, e1, o1, e2, o2, e3, o3;
            // Written out, not in helpers: in methods this large a helper taking vectors is not
            // always inlined, and then every vector is boxed.
            if (f16) {
                special = special.or(v0.and(F16_EXPONENTS).add(F16_EXPONENT_CARRY))
                        .or(v1.and(F16_EXPONENTS).add(F16_EXPONENT_CARRY))
                        .or(v2.and(F16_EXPONENTS).add(F16_EXPONENT_CARRY))
                        .or(v3.and(F16_EXPONENTS).add(F16_EXPONENT_CARRY));
                e0 = v0.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA)
                        .reinterpretAsFloats().mul(F16_REBIAS);
                o0 = v0.lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA).reinterpretAsFloats().mul(F16_REBIAS);
                e1 = v1.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA)
                        .reinterpretAsFloats().mul(F16_REBIAS);
                o1 = v1.lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA).reinterpretAsFloats().mul(F16_REBIAS);
                e2 = v2.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA)
                        .reinterpretAsFloats().mul(F16_REBIAS);
                o2 = v2.lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA).reinterpretAsFloats().mul(F16_REBIAS);
                e3 = v3.lanewise(VectorOperators.LSHL, 16).lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA)
                        .reinterpretAsFloats().mul(F16_REBIAS);
                o3 = v3.lanewise(VectorOperators.ASHR, 3).and(F16_SIGN_EXP_MANTISSA).reinterpretAsFloats().mul(F16_REBIAS);
            } else {
                e0 = v0.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                o0 = v0.and(HIGH_HALF).reinterpretAsFloats();
                e1 = v1.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                o1 = v1.and(HIGH_HALF).reinterpretAsFloats();
                e2 = v2.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                o2 = v2.and(HIGH_HALF).reinterpretAsFloats();
                e3 = v3.lanewise(VectorOperators.LSHL, 16).reinterpretAsFloats();
                o3 = v3.and(HIGH_HALF).reinterpretAsFloats();
            }
            FloatVector xe0 = FloatVector.fromArray(F, xd, i), xo0 = FloatVector.fromArray(F, xd, i + L);
            a00 = o0.fma(xo0, e0.fma(xe0, a00));
            a10 = o1.fma(xo0, e1.fma(xe0, a10));
            a20 = o2.fma(xo0, e2.fma(xe0, a20));
            a30 = o3.fma(xo0, e3.fma(xe0, a30));
        }
        int nb = n & -B;
        y[yOff] = a00.reduceLanes(VectorOperators.ADD) + tail(w, f16, off, xd, xOff, nb, n);
        y[yOff + kStride] = a10.reduceLanes(VectorOperators.ADD) + tail(w, f16, off + r1, xd, xOff, nb, n);
        y[yOff + 2 * kStride] = a20.reduceLanes(VectorOperators.ADD) + tail(w, f16, off + r2, xd, xOff, nb, n);
        y[yOff + 3 * kStride] = a30.reduceLanes(VectorOperators.ADD) + tail(w, f16, off + r3, xd, xOff, nb, n);
        return f16 && special.and(F16_TOP_BITS).reduceLanes(VectorOperators.OR) != 0;
    }

    /**
     * The partial block [nb, n) of the weight row at off against xd[xOff..], or 0 when there is
     * none. Kernels reduce their accumulators themselves and pass only scalars here: a vector
     * argument to a method C2 does not inline (these kernels are large) is boxed on the heap.
     */
    private static float tail(MemorySegment w, boolean f16, long off, float[] xd, int xOff, int nb, int n) {
        return nb == n ? 0f : f16 ? tailF16(w, off, xd, xOff, nb, n) : tailBf16(w, off, xd, xOff, nb, n);
    }

    static void dotF32x4(MemorySegment w, long off, float[] x, int x0, int x1, int x2, int x3, int n,
            float[] y, int y0, int y1, int y2, int y3) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long end1 = off + 4L * (n & -L);
        for (long e = off; e < end1; e += 4 * L) {
            int i = (int) ((e - off) >>> 2);
            FloatVector wv = f32(w, e);
            a0 = wv.fma(FloatVector.fromArray(F, x, x0 + i), a0);
            a1 = wv.fma(FloatVector.fromArray(F, x, x1 + i), a1);
            a2 = wv.fma(FloatVector.fromArray(F, x, x2 + i), a2);
            a3 = wv.fma(FloatVector.fromArray(F, x, x3 + i), a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD), s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD), s3 = a3.reduceLanes(VectorOperators.ADD);
        for (int i = n & -L; i < n; i++) {
            float wi = f32Scalar(w, off + 4L * i);
            s0 += wi * x[x0 + i];
            s1 += wi * x[x1 + i];
            s2 += wi * x[x2 + i];
            s3 += wi * x[x3 + i];
        }
        y[y0] = s0;
        y[y1] = s1;
        y[y2] = s2;
        y[y3] = s3;
    }
}
