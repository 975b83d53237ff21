package dev.miij.backend.cpu;

import static dev.miij.backend.cpu.WeightLoads.F;
import static jdk.incubator.vector.VectorOperators.GT;
import static jdk.incubator.vector.VectorOperators.LT;

import dev.miij.backend.RaggedBatch;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * Causal attention over the paged KV cache, for any mix of prompt chunks and decode rows.
 *
 * <p>Work is split into tasks of one sequence, one KV head and up to {@link #LANES} (the float
 * vector's lanes: 16 with AVX-512, 8 with AVX2, 4 with NEON) "query items" (a row and one
 * of the query heads sharing that KV head, in row-major order). Two kernels:
 * <ul>
 *   <li>{@link #tiled}, for tasks spanning several rows (prompt chunks) with at least
 *       {@link #MIN_TILED_ITEMS} items: the queries become the lanes of a vector
 *       ({@code qt[d][lane]}, scale folded in), so a score for all of them against one key costs one
 *       broadcast FMA per head dimension, and the output accumulates the same way
 *       ({@code ot[d][lane]}) under an online softmax over blocks of 8 keys (FlashAttention's
 *       recurrence). No horizontal sums and no per-score exponentials are left, which made prompt
 *       attention several times faster than a dot product per (query, key).
 *   <li>{@link #row}, for the query heads of one row (decode, and any task with few items): the
 *       keys become the lanes instead. The cache stores keys dimension-major within a block
 *       ({@link CpuKvCache}), so a score vector for LANES keys costs one FMA per dimension with the
 *       query element broadcast, and the output one FMA per LANES dimensions and key. With GQA 4, the
 *       tiled kernel filled 4 of 16 AVX-512 lanes at decode; this fills all of them.
 * </ul>
 *
 * <p>Tasks are ordered so that the longest (the latest rows of each sequence) are claimed first,
 * which keeps the threads' finishing times close for long prompts.
 */
final class CpuAttention {

    /** Query items per task, and keys per tile of the row kernel: the float vector's lanes. */
    static final int LANES = WeightLoads.L;
    /** Tasks of several rows with fewer items than this use the row kernel, row by row. */
    static final int MIN_TILED_ITEMS = 4;
    /** Query heads the row kernel takes at once (their accumulators fill the vector registers). */
    private static final int ROW_GROUP = 4;
    /** Keys per online-softmax block in the tiled kernel. */
    private static final int KB = 8;

    private CpuAttention() {
    }

    /** Per-thread buffers. */
    private static final class Scratch {
        float[] qt = new float[0];
        float[] ot = new float[0];
        final float[] lanePos = new float[LANES];
        final float[] laneFirst = new float[LANES];
        final float[] lsum = new float[LANES];
        float[] qs = new float[0];
        float[] os = new float[0];
        final float[] ps = new float[ROW_GROUP * LANES];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private static final FloatVector NEG_INF = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
    /** The running maximum starts finite so that fully masked blocks give exp(-inf) = 0, never NaN. */
    private static final FloatVector NO_MAX = FloatVector.broadcast(F, -1e30f);
    /** 0, 1, ..., LANES - 1: a lane's key offset within a tile of the row kernel. */
    private static final FloatVector IOTA = FloatVector.zero(F).addIndex(1);

    static void run(CpuKvCache c, int layer, float[] q, RaggedBatch batch, int numHeads, int numKvHeads,
            int headDim, int slidingWindow, float scale, float[] out) {
        int group = numHeads / numKvHeads;
        int seqs = batch.numSeqs();
        int[] starts = batch.seqStarts();
        int tasks = 0;
        for (int s = 0; s < seqs; s++) {
            tasks += numKvHeads * groups((starts[s + 1] - starts[s]) * group);
        }
        int[] taskSeq = new int[tasks];
        int[] taskKvh = new int[tasks];
        int[] taskItem = new int[tasks];
        int t = 0;
        for (int s = 0; s < seqs; s++) {
            for (int g = groups((starts[s + 1] - starts[s]) * group) - 1; g >= 0; g--) {
                for (int kvh = 0; kvh < numKvHeads; kvh++) {
                    taskSeq[t] = s;
                    taskKvh[t] = kvh;
                    taskItem[t] = g * LANES;
                    t++;
                }
            }
        }
        float[] keys = c.keys[layer];
        float[] values = c.values[layer];
        CpuParallel.run(tasks, task -> {
            int s = taskSeq[task];
            int row0 = starts[s];
            int items = (starts[s + 1] - row0) * group;
            int item0 = taskItem[task];
            int n = Math.min(LANES, items - item0);
            int[] table = batch.blockTables()[s];
            Scratch sc = SCRATCH.get();
            int kvh = taskKvh[task];
            boolean oneRow = item0 / group == (item0 + n - 1) / group;
            if (n >= MIN_TILED_ITEMS && !oneRow) {
                tiled(sc, c, keys, values, q, out, table, batch.positions(), row0, group, kvh, item0, n,
                        numHeads, headDim, slidingWindow, scale);
            } else {
                // The task's items, row by row: each row's query heads of this KV head.
                for (int i = item0; i < item0 + n; ) {
                    int r = row0 + i / group;
                    int h = kvh * group + i % group;
                    int heads = Math.min(item0 + n - i, group - i % group);
                    row(sc, c, keys, values, q, out, table, batch.positions()[r], r, h, heads, kvh, numHeads,
                            headDim, slidingWindow, scale);
                    i += heads;
                }
            }
        });
    }

    private static int groups(int items) {
        return (items + LANES - 1) / LANES;
    }

    /** First position a query at {@code pos} attends to. */
    private static int first(int pos, int slidingWindow) {
        return slidingWindow > 0 ? Math.max(0, pos - slidingWindow + 1) : 0;
    }

    /** Where the key of position p (KV head kvh) starts in the layer's key array; dimensions are blockSize apart. */
    private static int keyOffset(CpuKvCache c, int[] table, int p, int kvh) {
        int bs = c.blockSize;
        return c.keyOffset(table[p / bs] * bs + p % bs, kvh);
    }

    /** Where the value vector of position p (KV head kvh) starts in the layer's value array. */
    private static int valueOffset(CpuKvCache c, int[] table, int p, int kvh) {
        int bs = c.blockSize;
        return c.valueOffset(table[p / bs] * bs + p % bs) + kvh * c.headDim;
    }

    /**
     * Query heads h0 .. h0+heads-1 of row r (all of KV head kvh) against their keys, keys in
     * vector lanes: tiles of up to LANES consecutive positions within a cache block, an online softmax
     * over the tiles, {@link #ROW_GROUP} heads at a time so that a tile is read from L1 again. The
     * four heads are written out (not arrays of vectors, which would be boxed).
     */
    private static void row(Scratch sc, CpuKvCache c, float[] keys, float[] values, float[] q, float[] out,
            int[] table, int pos, int r, int h0, int heads, int kvh, int numHeads, int headDim, int slidingWindow,
            float scale) {
        int bs = c.blockSize;
        int first = first(pos, slidingWindow);
        if (sc.qs.length < ROW_GROUP * headDim) {
            sc.qs = new float[ROW_GROUP * headDim];
            sc.os = new float[ROW_GROUP * headDim];
        }
        float[] qs = sc.qs;
        float[] os = sc.os;
        float[] ps = sc.ps;
        int vStride = c.kvHeads * headDim;
        for (int g0 = 0; g0 < heads; g0 += ROW_GROUP) {
            int ng = Math.min(ROW_GROUP, heads - g0);
            for (int g = 0; g < ROW_GROUP; g++) {
                // Missing heads of a short group repeat the last one; their results are dropped.
                int qOff = (r * numHeads + h0 + g0 + Math.min(g, ng - 1)) * headDim;
                for (int d = 0; d < headDim; d++) {
                    qs[g * headDim + d] = q[qOff + d] * scale;
                }
            }
            Arrays.fill(os, 0, ROW_GROUP * headDim, 0f);
            float m0 = -1e30f, m1 = -1e30f, m2 = -1e30f, m3 = -1e30f;
            float l0 = 0f, l1 = 0f, l2 = 0f, l3 = 0f;
            for (int p0 = first - first % bs % LANES; p0 <= pos; ) {
                // A tile: positions p0 .. p0+len-1, all in one block; lanes outside [first, pos]
                // or past the tile are masked.
                int len = Math.min(LANES, bs - p0 % bs);
                int kBase = keyOffset(c, table, p0, kvh);
                FloatVector lanePos = IOTA.add((float) p0);
                VectorMask<Float> inTile = IOTA.compare(LT, (float) len);
                VectorMask<Float> masked = lanePos.compare(GT, (float) pos).or(lanePos.compare(LT, (float) first))
                        .or(inTile.not());
                FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0;
                for (int d = 0; d < headDim; d++) {
                    FloatVector k = FloatVector.fromArray(F, keys, kBase + d * bs, inTile);
                    s0 = k.fma(FloatVector.broadcast(F, qs[d]), s0);
                    s1 = k.fma(FloatVector.broadcast(F, qs[headDim + d]), s1);
                    s2 = k.fma(FloatVector.broadcast(F, qs[2 * headDim + d]), s2);
                    s3 = k.fma(FloatVector.broadcast(F, qs[3 * headDim + d]), s3);
                }
                s0 = s0.blend(NEG_INF, masked);
                s1 = s1.blend(NEG_INF, masked);
                s2 = s2.blend(NEG_INF, masked);
                s3 = s3.blend(NEG_INF, masked);
                float n0 = Math.max(m0, s0.reduceLanes(VectorOperators.MAX));
                float n1 = Math.max(m1, s1.reduceLanes(VectorOperators.MAX));
                float n2 = Math.max(m2, s2.reduceLanes(VectorOperators.MAX));
                float n3 = Math.max(m3, s3.reduceLanes(VectorOperators.MAX));
                float a0 = (float) Math.exp(m0 - n0);
                float a1 = (float) Math.exp(m1 - n1);
                float a2 = (float) Math.exp(m2 - n2);
                float a3 = (float) Math.exp(m3 - n3);
                s0 = s0.sub(n0).lanewise(VectorOperators.EXP);
                s1 = s1.sub(n1).lanewise(VectorOperators.EXP);
                s2 = s2.sub(n2).lanewise(VectorOperators.EXP);
                s3 = s3.sub(n3).lanewise(VectorOperators.EXP);
                l0 = l0 * a0 + s0.reduceLanes(VectorOperators.ADD);
                l1 = l1 * a1 + s1.reduceLanes(VectorOperators.ADD);
                l2 = l2 * a2 + s2.reduceLanes(VectorOperators.ADD);
                l3 = l3 * a3 + s3.reduceLanes(VectorOperators.ADD);
                m0 = n0;
                m1 = n1;
                m2 = n2;
                m3 = n3;
                s0.intoArray(ps, 0);
                s1.intoArray(ps, LANES);
                s2.intoArray(ps, 2 * LANES);
                s3.intoArray(ps, 3 * LANES);
                // os[g] = os[g] * a_g + sum over the tile's keys of p * value, LANES dimensions at once.
                int vBase = valueOffset(c, table, p0, kvh);
                for (int d = 0; d < headDim; d += LANES) {
                    VectorMask<Float> dims = IOTA.compare(LT, (float) (headDim - d));
                    FloatVector o0 = FloatVector.fromArray(F, os, d, dims).mul(a0);
                    FloatVector o1 = FloatVector.fromArray(F, os, headDim + d, dims).mul(a1);
                    FloatVector o2 = FloatVector.fromArray(F, os, 2 * headDim + d, dims).mul(a2);
                    FloatVector o3 = FloatVector.fromArray(F, os, 3 * headDim + d, dims).mul(a3);
                    for (int j = 0; j < len; j++) {
                        FloatVector v = FloatVector.fromArray(F, values, vBase + j * vStride + d, dims);
                        o0 = v.fma(FloatVector.broadcast(F, ps[j]), o0);
                        o1 = v.fma(FloatVector.broadcast(F, ps[LANES + j]), o1);
                        o2 = v.fma(FloatVector.broadcast(F, ps[2 * LANES + j]), o2);
                        o3 = v.fma(FloatVector.broadcast(F, ps[3 * LANES + j]), o3);
                    }
                    o0.intoArray(os, d, dims);
                    o1.intoArray(os, headDim + d, dims);
                    o2.intoArray(os, 2 * headDim + d, dims);
                    o3.intoArray(os, 3 * headDim + d, dims);
                }
                p0 += len;
            }
            float[] l = {l0, l1, l2, l3};
            for (int g = 0; g < ng; g++) {
                int oOff = (r * numHeads + h0 + g0 + g) * headDim;
                float inv = 1f / l[g];
                for (int d = 0; d < headDim; d++) {
                    out[oOff + d] = os[g * headDim + d] * inv;
                }
            }
        }
    }

    /** Up to LANES query items of one sequence and KV head at once, queries in vector lanes. */
    private static void tiled(Scratch sc, CpuKvCache c, float[] keys, float[] values, float[] q, float[] out,
            int[] table, int[] positions, int row0, int group, int kvh, int item0, int n, int numHeads, int headDim,
            int slidingWindow, float scale) {
        if (sc.qt.length < headDim * LANES) {
            sc.qt = new float[headDim * LANES];
            sc.ot = new float[headDim * LANES];
        }
        float[] qt = sc.qt;
        float[] ot = sc.ot;
        int from = Integer.MAX_VALUE;
        int to = -1;
        int minPos = Integer.MAX_VALUE;
        int maxFirst = 0;
        for (int l = 0; l < LANES; l++) {
            if (l < n) {
                int item = item0 + l;
                int r = row0 + item / group;
                int h = kvh * group + item % group;
                int pos = positions[r];
                int f = first(pos, slidingWindow);
                int qOff = (r * numHeads + h) * headDim;
                for (int d = 0; d < headDim; d++) {
                    qt[d * LANES + l] = q[qOff + d] * scale;
                }
                sc.lanePos[l] = pos;
                sc.laneFirst[l] = f;
                from = Math.min(from, f);
                to = Math.max(to, pos);
                minPos = Math.min(minPos, pos);
                maxFirst = Math.max(maxFirst, f);
            } else {
                for (int d = 0; d < headDim; d++) {
                    qt[d * LANES + l] = 0f;
                }
                sc.lanePos[l] = Float.POSITIVE_INFINITY;
                sc.laneFirst[l] = 0f;
            }
        }
        FloatVector posV = FloatVector.fromArray(F, sc.lanePos, 0);
        FloatVector firstV = FloatVector.fromArray(F, sc.laneFirst, 0);
        Arrays.fill(ot, 0, headDim * LANES, 0f);
        FloatVector m = NO_MAX;
        FloatVector lsum = FloatVector.zero(F);
        int d4 = headDim & -4;
        int bs = c.blockSize;
        for (int p0 = from; p0 <= to; p0 += KB) {
            int np = Math.min(KB, to - p0 + 1);
            int k0 = keyOffset(c, table, p0, kvh);
            int k1 = np > 1 ? keyOffset(c, table, p0 + 1, kvh) : k0;
            int k2 = np > 2 ? keyOffset(c, table, p0 + 2, kvh) : k0;
            int k3 = np > 3 ? keyOffset(c, table, p0 + 3, kvh) : k0;
            int k4 = np > 4 ? keyOffset(c, table, p0 + 4, kvh) : k0;
            int k5 = np > 5 ? keyOffset(c, table, p0 + 5, kvh) : k0;
            int k6 = np > 6 ? keyOffset(c, table, p0 + 6, kvh) : k0;
            int k7 = np > 7 ? keyOffset(c, table, p0 + 7, kvh) : k0;
            FloatVector s0 = FloatVector.zero(F), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
            if (k7 == k0 + 7) {
                // The eight keys side by side in one cache block (the usual case): one index per
                // dimension, so the array bounds are checked once for all eight loads.
                for (int d = 0, kd = k0; d < headDim; d++, kd += bs) {
                    FloatVector qd = FloatVector.fromArray(F, qt, d * LANES);
                    s0 = FloatVector.broadcast(F, keys[kd]).fma(qd, s0);
                    s1 = FloatVector.broadcast(F, keys[kd + 1]).fma(qd, s1);
                    s2 = FloatVector.broadcast(F, keys[kd + 2]).fma(qd, s2);
                    s3 = FloatVector.broadcast(F, keys[kd + 3]).fma(qd, s3);
                    s4 = FloatVector.broadcast(F, keys[kd + 4]).fma(qd, s4);
                    s5 = FloatVector.broadcast(F, keys[kd + 5]).fma(qd, s5);
                    s6 = FloatVector.broadcast(F, keys[kd + 6]).fma(qd, s6);
                    s7 = FloatVector.broadcast(F, keys[kd + 7]).fma(qd, s7);
                }
            } else {
                for (int d = 0, kd = 0; d < headDim; d++, kd += bs) { // a key's dimensions are bs apart
                    FloatVector qd = FloatVector.fromArray(F, qt, d * LANES);
                    s0 = FloatVector.broadcast(F, keys[k0 + kd]).fma(qd, s0);
                    s1 = FloatVector.broadcast(F, keys[k1 + kd]).fma(qd, s1);
                    s2 = FloatVector.broadcast(F, keys[k2 + kd]).fma(qd, s2);
                    s3 = FloatVector.broadcast(F, keys[k3 + kd]).fma(qd, s3);
                    s4 = FloatVector.broadcast(F, keys[k4 + kd]).fma(qd, s4);
                    s5 = FloatVector.broadcast(F, keys[k5 + kd]).fma(qd, s5);
                    s6 = FloatVector.broadcast(F, keys[k6 + kd]).fma(qd, s6);
                    s7 = FloatVector.broadcast(F, keys[k7 + kd]).fma(qd, s7);
                }
            }
            k0 = valueOffset(c, table, p0, kvh);
            k1 = np > 1 ? valueOffset(c, table, p0 + 1, kvh) : k0;
            k2 = np > 2 ? valueOffset(c, table, p0 + 2, kvh) : k0;
            k3 = np > 3 ? valueOffset(c, table, p0 + 3, kvh) : k0;
            k4 = np > 4 ? valueOffset(c, table, p0 + 4, kvh) : k0;
            k5 = np > 5 ? valueOffset(c, table, p0 + 5, kvh) : k0;
            k6 = np > 6 ? valueOffset(c, table, p0 + 6, kvh) : k0;
            k7 = np > 7 ? valueOffset(c, table, p0 + 7, kvh) : k0;
            // Mask keys after a lane's position or before its window, and the block's unused keys
            // (placed at +infinity, after every lane). Padding lanes are never masked: their
            // scores are 0 and stay finite, and their results are dropped.
            if (p0 + KB - 1 > minPos || p0 < maxFirst) {
                float inf = Float.POSITIVE_INFINITY;
                float q0 = p0, q1 = np > 1 ? p0 + 1 : inf, q2 = np > 2 ? p0 + 2 : inf, q3 = np > 3 ? p0 + 3 : inf;
                float q4 = np > 4 ? p0 + 4 : inf, q5 = np > 5 ? p0 + 5 : inf, q6 = np > 6 ? p0 + 6 : inf, q7 = np > 7 ? p0 + 7 : inf;
                s0 = s0.blend(NEG_INF, posV.compare(LT, q0).or(firstV.compare(GT, q0)));
                s1 = s1.blend(NEG_INF, posV.compare(LT, q1).or(firstV.compare(GT, q1)));
                s2 = s2.blend(NEG_INF, posV.compare(LT, q2).or(firstV.compare(GT, q2)));
                s3 = s3.blend(NEG_INF, posV.compare(LT, q3).or(firstV.compare(GT, q3)));
                s4 = s4.blend(NEG_INF, posV.compare(LT, q4).or(firstV.compare(GT, q4)));
                s5 = s5.blend(NEG_INF, posV.compare(LT, q5).or(firstV.compare(GT, q5)));
                s6 = s6.blend(NEG_INF, posV.compare(LT, q6).or(firstV.compare(GT, q6)));
                s7 = s7.blend(NEG_INF, posV.compare(LT, q7).or(firstV.compare(GT, q7)));
            }
            FloatVector mNew = m.max(s0.max(s1).max(s2.max(s3)).max(s4.max(s5).max(s6.max(s7))));
            FloatVector alpha = m.sub(mNew).lanewise(VectorOperators.EXP);
            m = mNew;
            s0 = s0.sub(mNew).lanewise(VectorOperators.EXP);
            s1 = s1.sub(mNew).lanewise(VectorOperators.EXP);
            s2 = s2.sub(mNew).lanewise(VectorOperators.EXP);
            s3 = s3.sub(mNew).lanewise(VectorOperators.EXP);
            s4 = s4.sub(mNew).lanewise(VectorOperators.EXP);
            s5 = s5.sub(mNew).lanewise(VectorOperators.EXP);
            s6 = s6.sub(mNew).lanewise(VectorOperators.EXP);
            s7 = s7.sub(mNew).lanewise(VectorOperators.EXP);
            lsum = lsum.mul(alpha).add(s0.add(s1).add(s2.add(s3)).add(s4.add(s5).add(s6.add(s7))));
            // ot[d] = ot[d] * alpha + sum_j p_j * v_j[d]; four dimensions at a time keeps four
            // independent FMA chains in flight.
            int d = 0;
            for (; d < d4; d += 4) {
                int o = d * LANES;
                FloatVector o0 = FloatVector.fromArray(F, ot, o).mul(alpha);
                FloatVector o1 = FloatVector.fromArray(F, ot, o + LANES).mul(alpha);
                FloatVector o2 = FloatVector.fromArray(F, ot, o + 2 * LANES).mul(alpha);
                FloatVector o3 = FloatVector.fromArray(F, ot, o + 3 * LANES).mul(alpha);
                o0 = FloatVector.broadcast(F, values[k0 + d]).fma(s0, o0); o1 = FloatVector.broadcast(F, values[k0 + d + 1]).fma(s0, o1); o2 = FloatVector.broadcast(F, values[k0 + d + 2]).fma(s0, o2); o3 = FloatVector.broadcast(F, values[k0 + d + 3]).fma(s0, o3);
                o0 = FloatVector.broadcast(F, values[k1 + d]).fma(s1, o0); o1 = FloatVector.broadcast(F, values[k1 + d + 1]).fma(s1, o1); o2 = FloatVector.broadcast(F, values[k1 + d + 2]).fma(s1, o2); o3 = FloatVector.broadcast(F, values[k1 + d + 3]).fma(s1, o3);
                o0 = FloatVector.broadcast(F, values[k2 + d]).fma(s2, o0); o1 = FloatVector.broadcast(F, values[k2 + d + 1]).fma(s2, o1); o2 = FloatVector.broadcast(F, values[k2 + d + 2]).fma(s2, o2); o3 = FloatVector.broadcast(F, values[k2 + d + 3]).fma(s2, o3);
                o0 = FloatVector.broadcast(F, values[k3 + d]).fma(s3, o0); o1 = FloatVector.broadcast(F, values[k3 + d + 1]).fma(s3, o1); o2 = FloatVector.broadcast(F, values[k3 + d + 2]).fma(s3, o2); o3 = FloatVector.broadcast(F, values[k3 + d + 3]).fma(s3, o3);
                o0 = FloatVector.broadcast(F, values[k4 + d]).fma(s4, o0); o1 = FloatVector.broadcast(F, values[k4 + d + 1]).fma(s4, o1); o2 = FloatVector.broadcast(F, values[k4 + d + 2]).fma(s4, o2); o3 = FloatVector.broadcast(F, values[k4 + d + 3]).fma(s4, o3);
                o0 = FloatVector.broadcast(F, values[k5 + d]).fma(s5, o0); o1 = FloatVector.broadcast(F, values[k5 + d + 1]).fma(s5, o1); o2 = FloatVector.broadcast(F, values[k5 + d + 2]).fma(s5, o2); o3 = FloatVector.broadcast(F, values[k5 + d + 3]).fma(s5, o3);
                o0 = FloatVector.broadcast(F, values[k6 + d]).fma(s6, o0); o1 = FloatVector.broadcast(F, values[k6 + d + 1]).fma(s6, o1); o2 = FloatVector.broadcast(F, values[k6 + d + 2]).fma(s6, o2); o3 = FloatVector.broadcast(F, values[k6 + d + 3]).fma(s6, o3);
                o0 = FloatVector.broadcast(F, values[k7 + d]).fma(s7, o0); o1 = FloatVector.broadcast(F, values[k7 + d + 1]).fma(s7, o1); o2 = FloatVector.broadcast(F, values[k7 + d + 2]).fma(s7, o2); o3 = FloatVector.broadcast(F, values[k7 + d + 3]).fma(s7, o3);
                o0.intoArray(ot, o);
                o1.intoArray(ot, o + LANES);
                o2.intoArray(ot, o + 2 * LANES);
                o3.intoArray(ot, o + 3 * LANES);
            }
            for (; d < headDim; d++) {
                int o = d * LANES;
                FloatVector o0 = FloatVector.fromArray(F, ot, o).mul(alpha);
                o0 = FloatVector.broadcast(F, values[k0 + d]).fma(s0, o0);
                o0 = FloatVector.broadcast(F, values[k1 + d]).fma(s1, o0);
                o0 = FloatVector.broadcast(F, values[k2 + d]).fma(s2, o0);
                o0 = FloatVector.broadcast(F, values[k3 + d]).fma(s3, o0);
                o0 = FloatVector.broadcast(F, values[k4 + d]).fma(s4, o0);
                o0 = FloatVector.broadcast(F, values[k5 + d]).fma(s5, o0);
                o0 = FloatVector.broadcast(F, values[k6 + d]).fma(s6, o0);
                o0 = FloatVector.broadcast(F, values[k7 + d]).fma(s7, o0);
                o0.intoArray(ot, o);
            }
        }
        lsum.intoArray(sc.lsum, 0);
        for (int l = 0; l < n; l++) {
            int item = item0 + l;
            int r = row0 + item / group;
            int h = kvh * group + item % group;
            int oOff = (r * numHeads + h) * headDim;
            float inv = 1f / sc.lsum[l];
            for (int d = 0; d < headDim; d++) {
                out[oOff + d] = ot[d * LANES + l] * inv;
            }
        }
    }
}
