package dev.miij.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.backend.RaggedBatch;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The attention kernels (tiled and per-query) against a plain float64 softmax attention, on batches
 * that mix decode rows and prompt chunks with earlier context, over shuffled cache blocks.
 */
class CpuAttentionTest {

    /**
     * heads, kvHeads, headDim, blockSize, slidingWindow, then the sequences as
     * "rows/contextLen" pairs separated by spaces.
     */
    @ParameterizedTest
    @CsvSource({
        "32, 8, 64, 16, 0, 512/512",          // a whole prompt, GQA 4
        "32, 8, 64, 16, 0, 1/37 1/300 1/5",   // decode rows: 4 items per task
        "8, 8, 16, 16, 0, 1/40 1/3",          // MHA decode: per-query path
        "8, 2, 16, 5, 0, 23/60 1/7 9/9",      // odd block size, chunk after cached context
        "4, 1, 6, 4, 0, 17/17 2/30",          // MQA, head dim not a multiple of 4
        "16, 16, 8, 16, 0, 3/3 1/19",         // 3 rows x 1 head: fewer than 4 items
        "8, 4, 32, 16, 7, 40/40 1/50 12/30",  // sliding window shorter than the context
        "12, 4, 80, 16, 33, 70/100",          // head dim 80, window across blocks
        "64, 2, 16, 8, 0, 1/20 3/11",         // 32 heads per KV head: two tasks for one row
    })
    void matchesReference(int heads, int kvHeads, int headDim, int blockSize, int window, String seqSpec) {
        SplittableRandom rnd = new SplittableRandom(heads * 31L + headDim * 7L + blockSize + window);
        List<int[]> seqs = new ArrayList<>();
        for (String p : seqSpec.trim().split(" +")) {
            String[] a = p.split("/");
            seqs.add(new int[] {Integer.parseInt(a[0]), Integer.parseInt(a[1])});
        }
        int totalBlocks = 0;
        for (int[] s : seqs) {
            totalBlocks += (s[1] + blockSize - 1) / blockSize;
        }
        // Blocks handed out in a shuffled order, so sequences are not contiguous in the cache.
        int[] order = new int[totalBlocks + 3];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        for (int i = order.length - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        CpuKvCache cache = new CpuKvCache(1, kvHeads, headDim, order.length, blockSize);
        for (int i = 0; i < cache.keys[0].length; i++) {
            cache.keys[0][i] = (float) rnd.nextGaussian();
            cache.values[0][i] = (float) rnd.nextGaussian();
        }
        int rows = seqs.stream().mapToInt(s -> s[0]).sum();
        int[] positions = new int[rows];
        int[] slots = new int[rows];
        int[] starts = new int[seqs.size() + 1];
        int[] ctx = new int[seqs.size()];
        int[][] tables = new int[seqs.size()][];
        int nextBlock = 0;
        int r = 0;
        for (int s = 0; s < seqs.size(); s++) {
            int n = seqs.get(s)[0];
            ctx[s] = seqs.get(s)[1];
            tables[s] = new int[(ctx[s] + blockSize - 1) / blockSize];
            for (int b = 0; b < tables[s].length; b++) {
                tables[s][b] = order[nextBlock++];
            }
            starts[s] = r;
            for (int i = 0; i < n; i++, r++) {
                positions[r] = ctx[s] - n + i;
                slots[r] = tables[s][positions[r] / blockSize] * blockSize + positions[r] % blockSize;
            }
        }
        starts[seqs.size()] = rows;
        RaggedBatch batch = new RaggedBatch(new int[rows], positions, slots, starts, ctx, tables, new int[0]);
        batch.check(blockSize);

        float[] q = new float[rows * heads * headDim];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) rnd.nextGaussian();
        }
        float scale = (float) (1 / Math.sqrt(headDim));
        float[] out = new float[q.length];
        CpuAttention.run(cache, 0, q, batch, heads, kvHeads, headDim, window, scale, out);

        int group = heads / kvHeads;
        double worst = 0;
        for (int s = 0; s < seqs.size(); s++) {
            for (int row = starts[s]; row < starts[s + 1]; row++) {
                for (int h = 0; h < heads; h++) {
                    double[] ref = reference(cache, tables[s], positions[row], q, (row * heads + h) * headDim, h / group,
                            headDim, window, scale);
                    for (int d = 0; d < headDim; d++) {
                        float got = out[(row * heads + h) * headDim + d];
                        assertTrue(Float.isFinite(got), "non-finite output at row " + row + " head " + h);
                        worst = Math.max(worst, Math.abs(got - ref[d]));
                    }
                }
            }
        }
        assertEquals(0, worst, 2e-5, "largest difference from the float64 reference");
    }

    private static double[] reference(CpuKvCache c, int[] table, int pos, float[] q, int qOff, int kvh, int headDim,
            int window, float scale) {
        int first = window > 0 ? Math.max(0, pos - window + 1) : 0;
        double[] scores = new double[pos - first + 1];
        double max = Double.NEGATIVE_INFINITY;
        for (int p = first; p <= pos; p++) {
            int off = c.keyOffset(table[p / c.blockSize] * c.blockSize + p % c.blockSize, kvh);
            double dot = 0;
            for (int d = 0; d < headDim; d++) {
                dot += (double) q[qOff + d] * c.keys[0][off + d * c.blockSize];
            }
            scores[p - first] = dot * scale;
            max = Math.max(max, scores[p - first]);
        }
        double sum = 0;
        for (int i = 0; i < scores.length; i++) {
            scores[i] = Math.exp(scores[i] - max);
            sum += scores[i];
        }
        double[] out = new double[headDim];
        for (int p = first; p <= pos; p++) {
            int off = c.valueOffset(table[p / c.blockSize] * c.blockSize + p % c.blockSize) + kvh * headDim;
            for (int d = 0; d < headDim; d++) {
                out[d] += scores[p - first] / sum * c.values[0][off + d];
            }
        }
        return out;
    }
}
