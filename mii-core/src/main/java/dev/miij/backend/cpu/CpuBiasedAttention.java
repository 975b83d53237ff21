package dev.miij.backend.cpu;

import dev.miij.backend.RaggedBatch;

/**
 * Causal attention over the paged KV cache with what {@link CpuAttention} leaves out: ALiBi (a
 * per-head bias {@code slope * keyPosition} added to each score, BLOOM and Falcon-RW) and tanh
 * soft-capping of the scores ({@code cap * tanh(score / cap)}, Gemma 2). One task per (row, query
 * head), a plain two-pass softmax in FP32; the families that need it are small or rare enough that
 * the kernel favours clarity.
 */
final class CpuBiasedAttention {

    private CpuBiasedAttention() {
    }

    private static final ThreadLocal<float[]> SCORES = ThreadLocal.withInitial(() -> new float[256]);

    static void run(CpuKvCache c, int layer, float[] q, RaggedBatch batch, int numHeads, int numKvHeads, int headDim,
                    int slidingWindow, float scale, float[] alibiSlopes, float softCap, float[] out) {
        int group = numHeads / numKvHeads;
        int rows = batch.numRows();
        int[] rowSeq = new int[rows];
        for (int s = 0; s < batch.numSeqs(); s++) {
            for (int r = batch.seqStarts()[s]; r < batch.seqStarts()[s + 1]; r++) {
                rowSeq[r] = s;
            }
        }
        float[] keys = c.keys[layer];
        float[] values = c.values[layer];
        int bs = c.blockSize;
        CpuParallel.run(rows * numHeads, task -> {
            int r = task / numHeads;
            int h = task % numHeads;
            int kvh = h / group;
            int[] table = batch.blockTables()[rowSeq[r]];
            int pos = batch.positions()[r];
            int first = slidingWindow > 0 ? Math.max(0, pos - slidingWindow + 1) : 0;
            int n = pos - first + 1;
            float[] scores = SCORES.get();
            if (scores.length < n) {
                scores = new float[Math.max(n, scores.length * 2)];
                SCORES.set(scores);
            }
            int qOff = r * numHeads * headDim + h * headDim;
            float max = Float.NEGATIVE_INFINITY;
            for (int i = 0; i < n; i++) {
                int p = first + i;
                int k = c.keyOffset(table[p / bs] * bs + p % bs, kvh);
                float dot = 0;
                for (int d = 0; d < headDim; d++) {
                    dot += q[qOff + d] * keys[k + d * bs];
                }
                float s = dot * scale;
                if (softCap > 0) {
                    s = (float) Math.tanh(s / softCap) * softCap;
                }
                if (alibiSlopes != null) {
                    s += alibiSlopes[h] * p;
                }
                scores[i] = s;
                max = Math.max(max, s);
            }
            double sum = 0;
            for (int i = 0; i < n; i++) {
                float e = (float) Math.exp(scores[i] - max);
                scores[i] = e;
                sum += e;
            }
            float inv = (float) (1.0 / sum);
            int oOff = r * numHeads * headDim + h * headDim;
            java.util.Arrays.fill(out, oOff, oOff + headDim, 0f);
            for (int i = 0; i < n; i++) {
                int p = first + i;
                int v = c.valueOffset(table[p / bs] * bs + p % bs) + kvh * headDim;
                CpuKernels.axpy(scores[i] * inv, values, v, out, oOff, headDim);
            }
        });
    }
}
