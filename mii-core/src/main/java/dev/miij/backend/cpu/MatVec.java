package dev.miij.backend.cpu;

import static dev.miij.backend.cpu.WeightLoads.F;
import static dev.miij.backend.cpu.WeightLoads.L;
import static dev.miij.backend.cpu.WeightLoads.bf16;
import static dev.miij.backend.cpu.WeightLoads.bf16Scalar;
import static dev.miij.backend.cpu.WeightLoads.f16;
import static dev.miij.backend.cpu.WeightLoads.f16Scalar;
import static dev.miij.backend.cpu.WeightLoads.f32;
import static dev.miij.backend.cpu.WeightLoads.f32Scalar;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;
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

    private MatVec() {
    }

    // ---------------------------------------------------------------- one activation row

    /** Dot product of BF16 weights at byte {@code off} with {@code x[xOff..xOff+n)}. */
    static float dotBf16(MemorySegment w, long off, float[] x, int xOff, int n) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long end4 = off + 2L * (n & -(4 * L));
        long e = off;
        for (; e < end4; e += 8 * L) {
            int i = xOff + (int) ((e - off) >>> 1);
            a0 = bf16(w, e).fma(FloatVector.fromArray(F, x, i), a0);
            a1 = bf16(w, e + 2 * L).fma(FloatVector.fromArray(F, x, i + L), a1);
            a2 = bf16(w, e + 4 * L).fma(FloatVector.fromArray(F, x, i + 2 * L), a2);
            a3 = bf16(w, e + 6 * L).fma(FloatVector.fromArray(F, x, i + 3 * L), a3);
        }
        long end1 = off + 2L * (n & -L);
        for (; e < end1; e += 2 * L) {
            a0 = bf16(w, e).fma(FloatVector.fromArray(F, x, xOff + (int) ((e - off) >>> 1)), a0);
        }
        float s = a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
        for (int i = n & -L; i < n; i++) {
            s += bf16Scalar(w, off + 2L * i) * x[xOff + i];
        }
        return s;
    }

    /**
     * Dot products of four consecutive BF16 weight rows (row stride {@code rowBytes}) with one x;
     * writes y[yOff..yOff+4). Loading x once per four rows keeps long x vectors from crowding the
     * weight stream out of L1.
     */
    static void dot4Bf16(MemorySegment w, long off, long rowBytes, float[] x, int xOff, int n,
            float[] y, int yOff) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long r1 = rowBytes, r2 = 2 * rowBytes, r3 = 3 * rowBytes;
        long end1 = off + 2L * (n & -L);
        for (long e = off; e < end1; e += 2 * L) {
            FloatVector xv = FloatVector.fromArray(F, x, xOff + (int) ((e - off) >>> 1));
            a0 = bf16(w, e).fma(xv, a0);
            a1 = bf16(w, e + r1).fma(xv, a1);
            a2 = bf16(w, e + r2).fma(xv, a2);
            a3 = bf16(w, e + r3).fma(xv, a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD), s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD), s3 = a3.reduceLanes(VectorOperators.ADD);
        for (int i = n & -L; i < n; i++) {
            float xi = x[xOff + i];
            long e = off + 2L * i;
            s0 += bf16Scalar(w, e) * xi;
            s1 += bf16Scalar(w, e + r1) * xi;
            s2 += bf16Scalar(w, e + r2) * xi;
            s3 += bf16Scalar(w, e + r3) * xi;
        }
        y[yOff] = s0;
        y[yOff + 1] = s1;
        y[yOff + 2] = s2;
        y[yOff + 3] = s3;
    }

    static float dotF16(MemorySegment w, long off, float[] x, int xOff, int n) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long end4 = off + 2L * (n & -(4 * L));
        long e = off;
        for (; e < end4; e += 8 * L) {
            int i = xOff + (int) ((e - off) >>> 1);
            a0 = f16(w, e).fma(FloatVector.fromArray(F, x, i), a0);
            a1 = f16(w, e + 2 * L).fma(FloatVector.fromArray(F, x, i + L), a1);
            a2 = f16(w, e + 4 * L).fma(FloatVector.fromArray(F, x, i + 2 * L), a2);
            a3 = f16(w, e + 6 * L).fma(FloatVector.fromArray(F, x, i + 3 * L), a3);
        }
        long end1 = off + 2L * (n & -L);
        for (; e < end1; e += 2 * L) {
            a0 = f16(w, e).fma(FloatVector.fromArray(F, x, xOff + (int) ((e - off) >>> 1)), a0);
        }
        float s = a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
        for (int i = n & -L; i < n; i++) {
            s += f16Scalar(w, off + 2L * i) * x[xOff + i];
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

    // ---------------------------------------------------------------- 2..4 activation rows

    /**
     * One weight row against four activation rows x[x0..], x[x1..], x[x2..], x[x3..] (callers with
     * fewer rows repeat an offset); writes the sums to y[y0], y[y1], y[y2], y[y3]. Each weight vector
     * is converted once and used four times, so four rows cost about what one does.
     */
    static void dotBf16x4(MemorySegment w, long off, float[] x, int x0, int x1, int x2, int x3, int n,
            float[] y, int y0, int y1, int y2, int y3) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long end1 = off + 2L * (n & -L);
        for (long e = off; e < end1; e += 2 * L) {
            int i = (int) ((e - off) >>> 1);
            FloatVector wv = bf16(w, e);
            a0 = wv.fma(FloatVector.fromArray(F, x, x0 + i), a0);
            a1 = wv.fma(FloatVector.fromArray(F, x, x1 + i), a1);
            a2 = wv.fma(FloatVector.fromArray(F, x, x2 + i), a2);
            a3 = wv.fma(FloatVector.fromArray(F, x, x3 + i), a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD), s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD), s3 = a3.reduceLanes(VectorOperators.ADD);
        for (int i = n & -L; i < n; i++) {
            float wi = bf16Scalar(w, off + 2L * i);
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

    static void dotF16x4(MemorySegment w, long off, float[] x, int x0, int x1, int x2, int x3, int n,
            float[] y, int y0, int y1, int y2, int y3) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0, a2 = a0, a3 = a0;
        long end1 = off + 2L * (n & -L);
        for (long e = off; e < end1; e += 2 * L) {
            int i = (int) ((e - off) >>> 1);
            FloatVector wv = f16(w, e);
            a0 = wv.fma(FloatVector.fromArray(F, x, x0 + i), a0);
            a1 = wv.fma(FloatVector.fromArray(F, x, x1 + i), a1);
            a2 = wv.fma(FloatVector.fromArray(F, x, x2 + i), a2);
            a3 = wv.fma(FloatVector.fromArray(F, x, x3 + i), a3);
        }
        float s0 = a0.reduceLanes(VectorOperators.ADD), s1 = a1.reduceLanes(VectorOperators.ADD);
        float s2 = a2.reduceLanes(VectorOperators.ADD), s3 = a3.reduceLanes(VectorOperators.ADD);
        for (int i = n & -L; i < n; i++) {
            float wi = f16Scalar(w, off + 2L * i);
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
