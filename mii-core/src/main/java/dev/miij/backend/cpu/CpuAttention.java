package dev.miij.backend.cpu;

import static dev.miij.backend.cpu.WeightLoads.F;
import static jdk.incubator.vector.VectorOperators.GT;
import static jdk.incubator.vector.VectorOperators.LT;

import dev.miij.backend.RaggedBatch;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Causal attention over the paged KV cache, for any mix of prompt chunks and decode rows.
 *
 * <p>Work is split into tasks of one sequence, one KV head and up to 16 "query items" (a row and one
 * of the query heads sharing that KV head, in row-major order). A task with at least
 * {@link #MIN_TILED_ITEMS} items runs the tiled kernel: its queries become the 16 lanes of a vector
 * ({@code qt[d][lane]}, scale folded in), so a score for 16 queries against one key costs one
 * broadcast FMA per head dimension, and the output accumulates the same way ({@code ot[d][lane]})
 * under an online softmax over blocks of 8 keys (FlashAttention's recurrence). No horizontal sums
 * and no per-score exponentials are left, which made prompt attention several times faster than a
 * dot product per (query, key). Tasks with fewer items (decode without enough grouped heads to fill
 * lanes) take one dot product per key instead, which wastes no lanes.
 *
 * <p>Tasks are ordered so that the longest (the latest rows of each sequence) are claimed first,
 * which keeps the threads' finishing times close for long prompts.
 */
final class CpuAttention {

    static final int LANES = 16;
    /** Fewer items than this per task use the per-query path. */
    static final int MIN_TILED_ITEMS = 4;
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
        float[] scores = new float[1024];
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    private static final FloatVector NEG_INF = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
    /** The running maximum starts finite so that fully masked blocks give exp(-inf) = 0, never NaN. */
    private static final FloatVector NO_MAX = FloatVector.broadcast(F, -1e30f);

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
            if (n >= MIN_TILED_ITEMS) {
                tiled(sc, c, keys, values, q, out, table, batch.positions(), row0, group, taskKvh[task], item0, n,
                        numHeads, headDim, slidingWindow, scale);
            } else {
                for (int i = item0; i < item0 + n; i++) {
                    int r = row0 + i / group;
                    int h = taskKvh[task] * group + i % group;
                    single(sc, c, keys, values, q, out, table, batch.positions()[r], r, h, taskKvh[task], numHeads,
                            headDim, slidingWindow, scale);
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

    private static int keyOffset(CpuKvCache c, int[] table, int p, int kvh) {
        int bs = c.blockSize;
        return c.slotOffset(table[p / bs] * bs + p % bs) + kvh * c.headDim;
    }

    /** One query (row r, head h) against its keys, a dot product per key. */
    private static void single(Scratch sc, CpuKvCache c, float[] keys, float[] values, float[] q, float[] out,
            int[] table, int pos, int r, int h, int kvh, int numHeads, int headDim, int slidingWindow, float scale) {
        int first = first(pos, slidingWindow);
        int n = pos - first + 1;
        if (sc.scores.length < n) {
            sc.scores = new float[Math.max(n, sc.scores.length * 2)];
        }
        float[] scores = sc.scores;
        int qOff = (r * numHeads + h) * headDim;
        float max = Float.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            float v = VectorOps.dot(q, qOff, keys, keyOffset(c, table, first + j, kvh), headDim) * scale;
            scores[j] = v;
            max = Math.max(max, v);
        }
        float sum = 0;
        for (int j = 0; j < n; j++) {
            scores[j] = (float) Math.exp(scores[j] - max);
            sum += scores[j];
        }
        Arrays.fill(out, qOff, qOff + headDim, 0f);
        float inv = 1f / sum;
        for (int j = 0; j < n; j++) {
            VectorOps.axpy(scores[j] * inv, values, keyOffset(c, table, first + j, kvh), out, qOff, headDim);
        }
    }

    /** Up to 16 query items of one sequence and KV head at once, queries in vector lanes. */
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
            for (int d = 0; d < headDim; d++) {
                FloatVector qd = FloatVector.fromArray(F, qt, d * LANES);
                s0 = FloatVector.broadcast(F, keys[k0 + d]).fma(qd, s0);
                s1 = FloatVector.broadcast(F, keys[k1 + d]).fma(qd, s1);
                s2 = FloatVector.broadcast(F, keys[k2 + d]).fma(qd, s2);
                s3 = FloatVector.broadcast(F, keys[k3 + d]).fma(qd, s3);
                s4 = FloatVector.broadcast(F, keys[k4 + d]).fma(qd, s4);
                s5 = FloatVector.broadcast(F, keys[k5 + d]).fma(qd, s5);
                s6 = FloatVector.broadcast(F, keys[k6 + d]).fma(qd, s6);
                s7 = FloatVector.broadcast(F, keys[k7 + d]).fma(qd, s7);
            }
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
