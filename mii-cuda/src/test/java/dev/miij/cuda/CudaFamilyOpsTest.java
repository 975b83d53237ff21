package dev.miij.cuda;

import static dev.miij.cuda.Gpu.bf16;
import static dev.miij.cuda.Gpu.random;
import static dev.miij.cuda.Gpu.relError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.arch.TransformerSpec.Activation;
import dev.miij.backend.Backend;
import dev.miij.backend.KvCache;
import dev.miij.backend.RaggedBatch;
import dev.miij.backend.Tensor;
import dev.miij.backend.cpu.CpuBackend;
import dev.miij.model.DType;
import dev.miij.model.TensorData;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The CUDA operations of the families beyond Llama's shape against the CPU backend on the same
 * (BF16-representable) inputs: LayerNorm (alone, in place, fused with the residual add), activations
 * without a gate, scaling, soft-capping, learned positions, the sigmoid-gated shared expert, and
 * attention with ALiBi and soft-capped scores over a ragged prefill + decode step.
 */
class CudaFamilyOpsTest extends OnGpu {

    @ParameterizedTest
    @CsvSource({"5,64,true", "3,4096,true", "2,1000,false", "1,2560,true"})
    void layerNormAloneInPlaceAndFusedWithTheResidualAdd(int rows, int cols, boolean withBias) {
        Random rnd = new Random(rows * 7 + cols);
        // An offset row, as LayerNorm inputs often are: the mean must not eat the digits.
        float[] x = random(rnd, rows * cols, 2f);
        for (int i = 0; i < x.length; i++) {
            x[i] += 5f;
        }
        x = bf16(x);
        float[] y = bf16(random(rnd, rows * cols, 1f));
        float[] w = bf16(random(rnd, cols, 1f));
        float[] b = bf16(random(rnd, cols, 1f));
        Tensor gw = gpu.parameter(tensor(w, DType.F32, cols));
        Tensor cw = cpu.parameter(tensor(w, DType.F32, cols));
        Tensor gb = withBias ? gpu.parameter(tensor(b, DType.F32, cols)) : null;
        Tensor cb = withBias ? cpu.parameter(tensor(b, DType.F32, cols)) : null;
        // Into another tensor.
        Tensor gx = gpu.upload(x, rows, cols);
        Tensor cx = cpu.upload(x, rows, cols);
        Tensor go = gpu.allocate(rows, cols);
        Tensor co = cpu.allocate(rows, cols);
        gpu.layerNorm(gx, gw, gb, 1e-5f, go);
        cpu.layerNorm(cx, cw, cb, 1e-5f, co);
        assertTrue(relError(gpu.toHost(go), cpu.toHost(co)) < 1e-2, "layerNorm");
        // In place (BLOOM's embedding norm).
        gpu.layerNorm(gx, gw, gb, 1e-5f, gx);
        cpu.layerNorm(cx, cw, cb, 1e-5f, cx);
        assertTrue(relError(gpu.toHost(gx), cpu.toHost(cx)) < 1e-2, "layerNorm in place");
        // add then norm into a third tensor (pre-LN), and into the sum itself (post-LN, OPT-350m).
        for (boolean inPlace : new boolean[] {false, true}) {
            gx = gpu.upload(x, rows, cols);
            cx = cpu.upload(x, rows, cols);
            Tensor gy = gpu.upload(y, rows, cols);
            Tensor cy = cpu.upload(y, rows, cols);
            Tensor gOut = inPlace ? gx : gpu.allocate(rows, cols);
            Tensor cOut = inPlace ? cx : cpu.allocate(rows, cols);
            gpu.add(gx, gy);
            gpu.layerNorm(gx, gw, gb, 1e-5f, gOut);
            cpu.add(cx, cy);
            cpu.layerNorm(cx, cw, cb, 1e-5f, cOut);
            assertTrue(relError(gpu.toHost(gOut), cpu.toHost(cOut)) < 1e-2, "fused, in place " + inPlace);
            if (!inPlace) {
                assertTrue(relError(gpu.toHost(gx), cpu.toHost(cx)) < 1e-2, "the residual sum");
            }
        }
    }

    @ParameterizedTest
    @EnumSource(Activation.class)
    void activationsWithoutAGate(Activation act) {
        Random rnd = new Random(10 + act.ordinal());
        float[] x = bf16(random(rnd, 3 * 700, 3f));
        Tensor gx = gpu.upload(x, 3, 700);
        Tensor cx = cpu.upload(x, 3, 700);
        Tensor go = gpu.allocate(3, 700);
        Tensor co = cpu.allocate(3, 700);
        gpu.activation(act, gx, go);
        cpu.activation(act, cx, co);
        assertTrue(relError(gpu.toHost(go), cpu.toHost(co)) < 1e-2, "into another tensor");
        gpu.activation(act, gx, gx);
        cpu.activation(act, cx, cx);
        assertTrue(relError(gpu.toHost(gx), cpu.toHost(cx)) < 1e-2, "in place");
    }

    @Test
    void scaleAndSoftCap() {
        Random rnd = new Random(11);
        float[] x = bf16(random(rnd, 4 * 500, 40f));
        Tensor gx = gpu.upload(x, 4, 500);
        Tensor cx = cpu.upload(x, 4, 500);
        gpu.scale(gx, 8f);
        cpu.scale(cx, 8f);
        assertArrayEquals(cpu.toHost(cx), gpu.toHost(gx), "times a power of two is exact");
        gpu.scale(gx, 0.1f);
        cpu.scale(cx, 0.1f);
        assertTrue(relError(gpu.toHost(gx), cpu.toHost(cx)) < 1e-2, "scale");
        gpu.softCap(gx, 30f);
        cpu.softCap(cx, 30f);
        float[] capped = gpu.toHost(gx);
        assertTrue(relError(capped, cpu.toHost(cx)) < 1e-2, "softCap");
        for (float v : capped) {
            assertTrue(Math.abs(v) <= 30f, "capped to 30: " + v);
        }
    }

    @Test
    void learnedPositionsWithAnOffset() {
        Random rnd = new Random(12);
        int dim = 48;
        float[] table = bf16(random(rnd, 40 * dim, 1f));
        int[] positions = {0, 7, 1, 2, 3, 30};
        RaggedBatch b = new RaggedBatch(new int[6], positions, new int[] {0, 7, 8, 9, 10, 11},
                new int[] {0, 2, 6}, new int[] {8, 31}, new int[][] {{0, 1}, {2, 3, 4, 5, 6, 7, 8, 9}}, new int[] {1, 5});
        Tensor g = gpu.allocate(6, dim);
        Tensor c = cpu.allocate(6, dim);
        gpu.beginStep();
        gpu.embedPositions(gpu.weight(tensor(table, DType.F32, 40, dim)), b, 2, g);
        cpu.embedPositions(cpu.weight(tensor(table, DType.F32, 40, dim)), b, 2, c);
        assertArrayEquals(cpu.toHost(c), gpu.toHost(g));
    }

    @Test
    void sigmoidGatedAdd() {
        Random rnd = new Random(13);
        int rows = 9;
        int cols = 200;
        float[] x = bf16(random(rnd, rows * cols, 1f));
        float[] y = bf16(random(rnd, rows * cols, 1f));
        float[] gate = bf16(random(rnd, rows, 3f));
        Tensor gx = gpu.upload(x, rows, cols);
        Tensor cx = cpu.upload(x, rows, cols);
        gpu.sigmoidGatedAdd(gx, gpu.upload(y, rows, cols), gpu.upload(gate, rows, 1));
        cpu.sigmoidGatedAdd(cx, cpu.upload(y, rows, cols), cpu.upload(gate, rows, 1));
        assertTrue(relError(gpu.toHost(gx), cpu.toHost(cx)) < 1e-2);
    }

    /**
     * Two sequences in one ragged step over a paged cache with scattered blocks, as in
     * CudaBackendOpsTest: one decodes after 37 cached tokens, the other prefills 21 tokens after 11.
     * ALiBi slopes (BLOOM's for 8 heads, so that far keys matter), soft-capping, both, and a sliding
     * window with soft-capping (Gemma 2's local layers).
     */
    @ParameterizedTest
    @CsvSource({"8,8,64,0,true,0", "4,2,64,0,false,50", "4,4,32,0,true,20", "4,2,16,5,false,50",
            "2,1,256,0,true,0"})
    void attentionWithAlibiAndSoftCapping(int heads, int kvHeads, int headDim, int window, boolean alibi, float cap) {
        Random rnd = new Random(heads * 100 + headDim + window);
        int blockSize = 4;
        int numBlocks = 40;
        int[] contexts = {38, 32};
        int[] newRows = {1, 21};
        int[][] tables = {new int[10], new int[8]};
        int next = numBlocks - 1;
        for (int[] t : tables) {
            for (int i = 0; i < t.length; i++) {
                t[i] = next--;
            }
        }
        float[] slopes = null;
        if (alibi) {
            slopes = new float[heads];
            for (int h = 0; h < heads; h++) {
                slopes[h] = (float) Math.pow(2, -8.0 * (h + 1) / heads);
            }
        }
        float scale = (float) (1 / Math.sqrt(headDim));
        KvCache gCache = gpu.allocateKvCache(2, kvHeads, headDim, numBlocks, blockSize);
        KvCache cCache = cpu.allocateKvCache(2, kvHeads, headDim, numBlocks, blockSize);
        RaggedBatch past = batch(new int[] {contexts[0] - newRows[0], contexts[1] - newRows[1]}, new int[] {0, 0}, tables,
                blockSize);
        RaggedBatch step = batch(newRows, new int[] {contexts[0] - newRows[0], contexts[1] - newRows[1]}, tables, blockSize);
        for (RaggedBatch b : new RaggedBatch[] {past, step}) {
            int rows = b.numRows();
            // Larger queries so that capping at 20 bites.
            float[] q = bf16(random(rnd, rows * heads * headDim, 3f));
            float[] k = bf16(random(rnd, rows * kvHeads * headDim, 1f));
            float[] v = bf16(random(rnd, rows * kvHeads * headDim, 1f));
            float[] g = run(gpu, gCache, b, q, k, v, heads, kvHeads, headDim, window, scale, slopes, cap);
            float[] c = run(cpu, cCache, b, q, k, v, heads, kvHeads, headDim, window, scale, slopes, cap);
            double err = relError(g, c);
            assertTrue(err < 2e-2, "attention error " + err);
        }
    }

    private static float[] run(Backend be, KvCache cache, RaggedBatch b, float[] q, float[] k, float[] v, int heads,
                               int kvHeads, int headDim, int window, float scale, float[] slopes, float cap) {
        be.beginStep();
        int rows = b.numRows();
        Tensor qt = be.upload(q, rows, heads * headDim);
        Tensor out = be.allocate(rows, heads * headDim);
        be.storeKv(cache, 1, be.upload(k, rows, kvHeads * headDim), be.upload(v, rows, kvHeads * headDim), b);
        be.attention(cache, 1, qt, b, heads, kvHeads, headDim, window, scale, slopes, cap, out);
        return be.toHost(out);
    }

    /** Sequences with {@code rows[s]} new tokens starting at position {@code start[s]}. */
    static RaggedBatch batch(int[] rows, int[] start, int[][] tables, int blockSize) {
        int seqs = rows.length;
        int total = 0;
        for (int r : rows) {
            total += r;
        }
        int[] tokens = new int[total];
        int[] pos = new int[total];
        int[] slots = new int[total];
        int[] starts = new int[seqs + 1];
        int[] ctx = new int[seqs];
        int[] logitRows = new int[seqs];
        for (int s = 0; s < seqs; s++) {
            starts[s + 1] = starts[s] + rows[s];
            for (int i = 0; i < rows[s]; i++) {
                int r = starts[s] + i;
                pos[r] = start[s] + i;
                slots[r] = tables[s][pos[r] / blockSize] * blockSize + pos[r] % blockSize;
            }
            ctx[s] = start[s] + rows[s];
            logitRows[s] = starts[s + 1] - 1;
        }
        RaggedBatch b = new RaggedBatch(tokens, pos, slots, starts, ctx, tables, logitRows);
        b.check(blockSize);
        return b;
    }
}
