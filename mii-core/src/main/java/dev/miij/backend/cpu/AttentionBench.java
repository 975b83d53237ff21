package dev.miij.backend.cpu;

import dev.miij.backend.RaggedBatch;
import java.util.SplittableRandom;

/**
 * Times the CPU attention kernels alone on one layer of a given shape: one decode row (the query
 * heads of one token against the whole context) and a 256-row prompt chunk ending at that context,
 * for several context lengths. Random cache contents; the pool's threads ({@code mii.threads}).
 * Usage: {@code AttentionBench [heads kvHeads headDim blockSize contexts]}, defaults
 * {@code 32 8 64 64 512,4000} (the Llama-3.2-1B shape). Prints microseconds per decode row and
 * milliseconds per prompt chunk, best of several runs.
 */
public final class AttentionBench {

    private AttentionBench() {
    }

    public static void main(String[] args) {
        int heads = args.length > 0 ? Integer.parseInt(args[0]) : 32;
        int kvHeads = args.length > 1 ? Integer.parseInt(args[1]) : 8;
        int headDim = args.length > 2 ? Integer.parseInt(args[2]) : 64;
        int blockSize = args.length > 3 ? Integer.parseInt(args[3]) : 64;
        String contexts = args.length > 4 ? args[4] : "512,4000";
        float scale = (float) (1 / Math.sqrt(headDim));
        System.out.printf("attention, one layer: %d heads, %d KV heads, head dim %d, blocks of %d, %d threads%n", heads,
                kvHeads, headDim, blockSize, CpuParallel.threads());
        for (String spec : contexts.split(",")) {
            int ctx = Integer.parseInt(spec.trim());
            int blocks = (ctx + blockSize - 1) / blockSize;
            CpuKvCache cache = new CpuKvCache(1, kvHeads, headDim, blocks, blockSize);
            SplittableRandom rnd = new SplittableRandom(ctx);
            for (int i = 0; i < cache.keys[0].length; i++) {
                cache.keys[0][i] = (float) rnd.nextGaussian();
                cache.values[0][i] = (float) rnd.nextGaussian();
            }
            int[] table = new int[blocks];
            for (int i = 0; i < blocks; i++) {
                table[i] = i;
            }
            double decodeMicros = best(batch(ctx, 1, table), heads, kvHeads, headDim, scale, cache, rnd,
                    Math.max(20, Math.min(1000, 200_000 / ctx))) / 1e3;
            int rows = Math.min(256, ctx);
            double promptMillis = best(batch(ctx, rows, table), heads, kvHeads, headDim, scale, cache, rnd, 2) / 1e6;
            System.out.printf("context %6d: decode row %9.1f us   prompt chunk of %d rows %10.4f ms%n", ctx, decodeMicros,
                    rows, promptMillis);
        }
    }

    /** The last {@code rows} positions of a sequence of {@code ctx} tokens. */
    private static RaggedBatch batch(int ctx, int rows, int[] table) {
        int[] positions = new int[rows];
        for (int i = 0; i < rows; i++) {
            positions[i] = ctx - rows + i;
        }
        return new RaggedBatch(new int[rows], positions, positions.clone(), new int[] {0, rows}, new int[] {ctx},
                new int[][] {table}, new int[0]);
    }

    /** Nanoseconds per call, best of 5 timings of {@code reps} calls each (after as many to warm up). */
    private static double best(RaggedBatch b, int heads, int kvHeads, int headDim, float scale, CpuKvCache cache,
            SplittableRandom rnd, int reps) {
        float[] q = new float[b.numRows() * heads * headDim];
        for (int i = 0; i < q.length; i++) {
            q[i] = (float) rnd.nextGaussian();
        }
        float[] out = new float[q.length];
        for (int i = 0; i < 5 * reps; i++) {
            CpuAttention.run(cache, 0, q, b, heads, kvHeads, headDim, 0, scale, out);
        }
        double best = Double.MAX_VALUE;
        for (int t = 0; t < 5; t++) {
            long t0 = System.nanoTime();
            for (int i = 0; i < reps; i++) {
                CpuAttention.run(cache, 0, q, b, heads, kvHeads, headDim, 0, scale, out);
            }
            best = Math.min(best, (double) (System.nanoTime() - t0) / reps);
        }
        return best;
    }
}
