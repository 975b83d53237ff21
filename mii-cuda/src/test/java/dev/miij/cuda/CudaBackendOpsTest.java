package dev.miij.cuda;

import static dev.miij.cuda.Gpu.bf16;
import static dev.miij.cuda.Gpu.random;
import static dev.miij.cuda.Gpu.relError;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.arch.TransformerSpec.Activation;
import dev.miij.backend.Backend;
import dev.miij.backend.KvCache;
import dev.miij.backend.RaggedBatch;
import dev.miij.backend.Tensor;
import dev.miij.backend.Weight;
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

/** Each CUDA operation against the CPU backend on the same (BF16-representable) inputs. */
class CudaBackendOpsTest extends OnGpu {

    @Test
    void uploadAndToHostRoundToBf16() {
        float[] a = {1f, -2.5f, 3.14159f, 1e-3f, 65504f, 0f};
        float[] back = gpu.toHost(gpu.upload(a, 2, 3));
        assertArrayEquals(bf16(a), back);
    }

    @ParameterizedTest
    @CsvSource({"1,64,64,BF16,false", "7,96,64,F32,true", "33,512,128,F16,false", "300,256,96,BF16,true"})
    void matmulMatchesCpu(int m, int n, int k, DType type, boolean withBias) {
        Random rnd = new Random(m * 31 + n);
        float[] w = bf16(random(rnd, n * k, 0.1f));
        float[] x = bf16(random(rnd, m * k, 1f));
        float[] bias = bf16(random(rnd, n, 1f));
        Weight gw = gpu.weight(tensor(w, type, n, k));
        Weight cw = cpu.weight(tensor(w, DType.F32, n, k));
        Tensor gb = withBias ? gpu.parameter(tensor(bias, DType.F32, n)) : null;
        Tensor cb = withBias ? cpu.parameter(tensor(bias, DType.F32, n)) : null;
        Tensor gy = gpu.allocate(m, n);
        Tensor cy = cpu.allocate(m, n);
        gpu.matmul(gpu.upload(x, m, k), gw, gb, gy);
        cpu.matmul(cpu.upload(x, m, k), cw, cb, cy);
        double err = relError(gpu.toHost(gy), cpu.toHost(cy));
        assertTrue(err < 1e-2, "matmul " + m + "x" + n + "x" + k + " error " + err);
    }

    @Test
    void embedGathersTableRows() {
        Random rnd = new Random(1);
        float[] table = bf16(random(rnd, 50 * 24, 1f));
        int[] tokens = {3, 0, 49, 3, 17};
        Tensor g = gpu.allocate(tokens.length, 24);
        Tensor c = cpu.allocate(tokens.length, 24);
        gpu.embed(gpu.weight(tensor(table, DType.BF16, 50, 24)), tokens, g);
        cpu.embed(cpu.weight(tensor(table, DType.F32, 50, 24)), tokens, c);
        assertArrayEquals(cpu.toHost(c), gpu.toHost(g));
    }

    @Test
    void rmsNormAloneAndFusedWithTheResidualAdd() {
        Random rnd = new Random(2);
        int rows = 5;
        int cols = 4096;
        float[] x = bf16(random(rnd, rows * cols, 2f));
        float[] y = bf16(random(rnd, rows * cols, 2f));
        float[] w = bf16(random(rnd, cols, 1f));
        Tensor gw = gpu.parameter(tensor(w, DType.F32, cols));
        Tensor cw = cpu.parameter(tensor(w, DType.F32, cols));
        // Alone, in place.
        Tensor gx = gpu.upload(x, rows, cols);
        Tensor cx = cpu.upload(x, rows, cols);
        gpu.rmsNorm(gx, gw, 1e-5f, gx);
        cpu.rmsNorm(cx, cw, 1e-5f, cx);
        assertTrue(relError(gpu.toHost(gx), cpu.toHost(cx)) < 1e-2);
        // add then norm of the sum into the addend, as a pre-norm block does (runs fused).
        gx = gpu.upload(x, rows, cols);
        cx = cpu.upload(x, rows, cols);
        Tensor gy = gpu.upload(y, rows, cols);
        Tensor cy = cpu.upload(y, rows, cols);
        gpu.add(gx, gy);
        gpu.rmsNorm(gx, gw, 1e-5f, gy);
        cpu.add(cx, cy);
        cpu.rmsNorm(cx, cw, 1e-5f, cy);
        assertTrue(relError(gpu.toHost(gx), cpu.toHost(cx)) < 1e-2, "residual");
        assertTrue(relError(gpu.toHost(gy), cpu.toHost(cy)) < 1e-2, "normed");
        // add alone (flushed by toHost).
        gpu.add(gx, gx);
        cpu.add(cx, cx);
        assertTrue(relError(gpu.toHost(gx), cpu.toHost(cx)) < 1e-2, "add");
    }

    @ParameterizedTest
    @EnumSource(Activation.class)
    void gatedActivations(Activation act) {
        Random rnd = new Random(act.ordinal());
        int n = 3 * 1000;
        float[] g = bf16(random(rnd, n, 3f));
        float[] u = bf16(random(rnd, n, 1f));
        Tensor gg = gpu.upload(g, 3, 1000);
        Tensor cg = cpu.upload(g, 3, 1000);
        gpu.activationMul(act, gg, gpu.upload(u, 3, 1000), gg);
        cpu.activationMul(act, cg, cpu.upload(u, 3, 1000), cg);
        assertTrue(relError(gpu.toHost(gg), cpu.toHost(cg)) < 1e-2);
    }

    @Test
    void gatherAndScatterAddRows() {
        Random rnd = new Random(3);
        float[] src = bf16(random(rnd, 6 * 40, 1f));
        float[] dst = bf16(random(rnd, 6 * 40, 1f));
        int[] rows = {5, 0, 2};
        float[] scales = {0.5f, 1f, -2f};
        Tensor gOut = gpu.allocate(3, 40);
        Tensor cOut = cpu.allocate(3, 40);
        gpu.gatherRows(gpu.upload(src, 6, 40), rows, gOut);
        cpu.gatherRows(cpu.upload(src, 6, 40), rows, cOut);
        assertArrayEquals(cpu.toHost(cOut), gpu.toHost(gOut));
        Tensor gd = gpu.upload(dst, 6, 40);
        Tensor cd = cpu.upload(dst, 6, 40);
        gpu.scatterAddRows(gOut, rows, scales, gd);
        cpu.scatterAddRows(cOut, rows, scales, cd);
        assertTrue(relError(gpu.toHost(gd), cpu.toHost(cd)) < 1e-2);
    }

    /**
     * Two sequences in one ragged step, over a paged cache with scattered blocks: the first decodes
     * one token after 37 cached ones, the second prefills a 21-token chunk after 11 cached ones.
     * Each backend first fills its cache with the earlier tokens, then runs rope, storeKv and
     * attention on the step; queries, keys and outputs must agree.
     */
    @ParameterizedTest
    @CsvSource({"8,2,64,0,64", "4,4,128,0,128", "4,1,32,5,16", "4,2,96,0,48", "2,2,256,0,256"})
    void ropeStoreKvAndPagedAttention(int heads, int kvHeads, int headDim, int window, int rotaryDim) {
        Random rnd = new Random(heads * 1000 + headDim);
        int blockSize = 4;
        int numBlocks = 40;
        int[] contexts = {38, 32};
        int[] newRows = {1, 21};
        int[][] tables = {new int[10], new int[8]};
        int next = numBlocks - 1;
        for (int[] t : tables) {
            for (int i = 0; i < t.length; i++) {
                t[i] = next--; // blocks handed out from the top, interleaved between sequences
            }
        }
        float scale = (float) (1 / Math.sqrt(headDim));
        KvCache gCache = gpu.allocateKvCache(2, kvHeads, headDim, numBlocks, blockSize);
        KvCache cCache = cpu.allocateKvCache(2, kvHeads, headDim, numBlocks, blockSize);
        // Earlier tokens of both sequences, in one prefill-like batch, on layer 1.
        RaggedBatch past = batch(new int[] {contexts[0] - newRows[0], contexts[1] - newRows[1]}, new int[] {0, 0},
                tables, blockSize);
        RaggedBatch step = batch(newRows, new int[] {contexts[0] - newRows[0], contexts[1] - newRows[1]}, tables, blockSize);
        for (RaggedBatch b : new RaggedBatch[] {past, step}) {
            int rows = b.numRows();
            float[] q = bf16(random(rnd, rows * heads * headDim, 1f));
            float[] k = bf16(random(rnd, rows * kvHeads * headDim, 1f));
            float[] v = bf16(random(rnd, rows * kvHeads * headDim, 1f));
            int half = rotaryDim / 2;
            float[] cos = new float[rows * half];
            float[] sin = new float[rows * half];
            for (int r = 0; r < rows; r++) {
                for (int i = 0; i < half; i++) {
                    double angle = b.positions()[r] * Math.pow(10000, -2.0 * i / rotaryDim);
                    cos[r * half + i] = (float) Math.cos(angle);
                    sin[r * half + i] = (float) Math.sin(angle);
                }
            }
            cos = bf16(cos);
            sin = bf16(sin);
            float[] gOut = run(gpu, gCache, b, q, k, v, cos, sin, heads, kvHeads, headDim, window, scale, half);
            float[] cOut = run(cpu, cCache, b, q, k, v, cos, sin, heads, kvHeads, headDim, window, scale, half);
            double err = relError(gOut, cOut);
            assertTrue(err < 2e-2, "attention error " + err);
        }
    }

    private static float[] run(Backend be, KvCache cache, RaggedBatch b, float[] q, float[] k, float[] v, float[] cos,
                               float[] sin, int heads, int kvHeads, int headDim, int window, float scale, int half) {
        be.beginStep();
        int rows = b.numRows();
        Tensor qt = be.upload(q, rows, heads * headDim);
        Tensor kt = be.upload(k, rows, kvHeads * headDim);
        Tensor vt = be.upload(v, rows, kvHeads * headDim);
        Tensor c = be.upload(cos, rows, half);
        Tensor s = be.upload(sin, rows, half);
        Tensor out = be.allocate(rows, heads * headDim);
        be.rope(qt, headDim, c, s);
        be.rope(kt, headDim, c, s);
        be.storeKv(cache, 1, kt, vt, b);
        be.attention(cache, 1, qt, b, heads, kvHeads, headDim, window, scale, out);
        float[] o = be.toHost(out);
        float[] rotatedK = be.toHost(kt);
        float[] all = new float[o.length + rotatedK.length];
        System.arraycopy(o, 0, all, 0, o.length);
        System.arraycopy(rotatedK, 0, all, o.length, rotatedK.length);
        return all;
    }

    /** Sequences with {@code rows[s]} new tokens starting at position {@code start[s]}. */
    private static RaggedBatch batch(int[] rows, int[] start, int[][] tables, int blockSize) {
        int total = rows[0] + rows[1];
        int[] tokens = new int[total];
        int[] pos = new int[total];
        int[] slots = new int[total];
        int[] starts = {0, rows[0], total};
        int[] ctx = new int[2];
        int[] logitRows = new int[2];
        for (int s = 0; s < 2; s++) {
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

    @Test
    void copyBlockCopiesEveryLayer() {
        Random rnd = new Random(9);
        KvCache cache = gpu.allocateKvCache(3, 2, 16, 4, 2);
        int[][] tables = {{0, 1}, {2, 3}};
        RaggedBatch b = batch(new int[] {2, 1}, new int[] {0, 0}, tables, 2);
        float[] k = bf16(random(rnd, 3 * 32, 1f));
        float[] q = bf16(random(rnd, 3 * 32, 1f));
        for (int layer = 0; layer < 3; layer++) {
            gpu.storeKv(cache, layer, gpu.upload(k, 3, 32), gpu.upload(k, 3, 32), b);
        }
        cache.copyBlock(0, 3); // the second sequence now sees the first one's two tokens
        RaggedBatch shared = batch(new int[] {1, 1}, new int[] {1, 1}, new int[][] {{0, 1}, {3, 0}}, 2);
        float[] qFirst = java.util.Arrays.copyOfRange(q, 0, 32);
        Tensor out = gpu.allocate(2, 32);
        // Both rows attend with the same query over (what should be) the same two keys.
        Tensor same = gpu.upload(concat(qFirst, qFirst), 2, 32);
        gpu.attention(cache, 2, same, shared, 2, 2, 16, 0, 0.25f, out);
        float[] o = gpu.toHost(out);
        assertArrayEquals(java.util.Arrays.copyOfRange(o, 0, 32), java.util.Arrays.copyOfRange(o, 32, 64));
    }

    private static float[] concat(float[] a, float[] b) {
        float[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    /**
     * A decode layer's MLP half as the forward pass issues it: norm into h, gate/up of h, activation
     * into gate, down projection, add into the residual, the next layer's norm. At up to 8 rows the
     * CUDA backend runs it as a norm and two GEMVs (the activation fused into the first, the add and
     * the next norm into the second); the results and the intermediates the fused kernels still write
     * (h, up) match the CPU backend.
     */
    @ParameterizedTest
    @CsvSource({"1,256,512,SILU", "3,512,384,GELU_TANH", "8,256,256,GELU", "8,4096,64,SILU", "9,256,512,SILU"})
    void decodeFusionsMatchCpu(int rows, int hidden, int inter, Activation act) {
        Random rnd = new Random(rows * 7 + hidden);
        float[] x = bf16(random(rnd, rows * hidden, 2f));
        float[] norm = bf16(random(rnd, hidden, 1f));
        float[] gate = bf16(random(rnd, inter * hidden, 0.1f));
        float[] up = bf16(random(rnd, inter * hidden, 0.1f));
        float[] down = bf16(random(rnd, hidden * inter, 0.1f));
        float[][] results = new float[2][];
        float[][] hs = new float[2][];
        float[][] ups = new float[2][];
        float[][] nexts = new float[2][];
        Backend[] backends = {gpu, cpu};
        for (int i = 0; i < 2; i++) {
            Backend b = backends[i];
            DType type = b == gpu ? DType.BF16 : DType.F32;
            Tensor nw = b.parameter(tensor(norm, DType.F32, hidden));
            Weight[] gu = {b.weight(tensor(gate, type, inter, hidden)), b.weight(tensor(up, type, inter, hidden))};
            Weight dw = b.weight(tensor(down, type, hidden, inter));
            Tensor residual = b.upload(x, rows, hidden);
            Tensor h = b.allocate(rows, hidden);
            Tensor g = b.allocate(rows, inter);
            Tensor u = b.allocate(rows, inter);
            Tensor m = b.allocate(rows, hidden);
            b.rmsNorm(residual, nw, 1e-5f, h);
            b.matmul(h, gu, null, new Tensor[] {g, u});
            b.activationMul(act, g, u, g);
            b.matmul(g, dw, null, m);
            b.add(residual, m);
            Tensor next = b.allocate(rows, hidden);
            b.rmsNorm(residual, nw, 1e-5f, next); // the next layer's norm
            results[i] = b.toHost(residual);
            nexts[i] = b.toHost(next);
            hs[i] = b.toHost(h);
            ups[i] = b.toHost(u);
        }
        assertTrue(relError(hs[0], hs[1]) < 1e-2, "norm output " + relError(hs[0], hs[1]));
        assertTrue(relError(ups[0], ups[1]) < 2e-2, "up output " + relError(ups[0], ups[1]));
        assertTrue(relError(results[0], results[1]) < 2e-2, "residual " + relError(results[0], results[1]));
        assertTrue(relError(nexts[0], nexts[1]) < 2e-2, "next norm " + relError(nexts[0], nexts[1]));
    }
}
