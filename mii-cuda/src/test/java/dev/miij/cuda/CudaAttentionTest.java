package dev.miij.cuda;

import static dev.miij.cuda.Gpu.bf16;
import static dev.miij.cuda.Gpu.random;
import static dev.miij.cuda.Gpu.relError;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.backend.Backend;
import dev.miij.backend.KvCache;
import dev.miij.backend.RaggedBatch;
import dev.miij.backend.SamplingParams;
import dev.miij.backend.Tensor;
import dev.miij.backend.cpu.CpuBackend;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * CUDA attention (the prefill and decode kernels and the choice between them) against the CPU
 * backend on the same cache contents and queries: fresh prompt chunks, chunks after cached keys,
 * mixed steps of decode rows and chunks, decode batches (one long row that is split, many short
 * ones), with sliding windows, ALiBi and soft-capping, over head sizes and GQA groups the kernels
 * treat differently. Each case runs twice: with the metadata uploaded for the batch alone, and with
 * the step's packed inputs ({@code beginStep(batch, sampling)}), which for a pure decode step is
 * the launch a decode graph captures.
 */
class CudaAttentionTest extends OnGpu {

    /** Each sequence as "rows+cached", separated by spaces: its new rows and the keys already cached before them. */
    private static int[][] layout(String spec, Random rnd) {
        List<int[]> seqs = new ArrayList<>();
        for (String s : spec.trim().split(" +")) {
            if (s.startsWith("decode")) { // decodeN/C: N single rows over up to C cached keys
                String[] nc = s.substring(6).split("/");
                for (int i = 0, n = Integer.parseInt(nc[0]); i < n; i++) {
                    seqs.add(new int[] {1, rnd.nextInt(Integer.parseInt(nc[1]))});
                }
            } else {
                String[] rc = s.split("\\+");
                seqs.add(new int[] {Integer.parseInt(rc[0]), Integer.parseInt(rc[1])});
            }
        }
        return seqs.toArray(new int[0][]);
    }

    @ParameterizedTest(name = "{0}: {1}/{2} heads, head {3}, blocks of {4}, window {5}, alibi {6}, cap {7}")
    @CsvSource(delimiter = ';', value = {
        "prefill;         32; 8; 128; 64; 0;   false; 0;  57+0 130+0",
        "chunked;         32; 8; 128; 64; 0;   false; 0;  40+100 70+64 1+500",
        "mixed;           32; 8; 128; 16; 0;   false; 0;  1+33 1+0 1+200 45+0 20+77",
        "decode batch;    32; 8; 128; 64; 0;   false; 0;  decode40/700",
        "decode split;    32; 8; 128; 64; 0;   false; 0;  1+3000",
        "window prefill;  16; 4; 64;  16; 50;  false; 0;  120+30 3+200",
        "window decode;   16; 4; 64;  16; 50;  false; 0;  1+10 1+400 1+49",
        "window mixed;    8;  8; 80;  64; 100; false; 0;  1+300 1+0 66+150",
        "alibi;           16; 16; 96; 16; 0;   true;  0;  1+250 1+7 33+40",
        "alibi decode;    16; 16; 96; 16; 0;   true;  0;  1+1500",
        "soft cap;        8;  4; 256; 64; 0;   false; 30; 1+90 1+800 70+20",
        "all three;       8;  2; 128; 16; 64;  true;  20; 1+90 1+800 70+20",
        "MQA;             32; 1; 128; 64; 0;   false; 0;  1+700 1+3 50+10",
        "group of 7;      28; 4; 128; 64; 0;   false; 0;  1+600 9+9",
        "small head;      4;  1; 32;  4;  5;   false; 0;  1+37 21+11",
        "head 112;        16; 2; 112; 16; 0;   false; 0;  1+333 50+60",
    })
    void matchesCpu(String name, int heads, int kvHeads, int headDim, int blockSize, int window, boolean alibi,
                    float softCap, String spec) {
        Random rnd = new Random(name.hashCode());
        int[][] seqs = layout(spec, rnd);
        int n = seqs.length;
        int[][] tables = new int[n][];
        int blocks = 0;
        for (int s = 0; s < n; s++) {
            tables[s] = new int[(seqs[s][0] + seqs[s][1] + blockSize - 1) / blockSize];
            blocks += tables[s].length;
        }
        int numBlocks = blocks + 2;
        List<Integer> ids = new ArrayList<>();
        for (int i = 0; i < numBlocks; i++) {
            ids.add(i);
        }
        Collections.shuffle(ids, rnd);
        int next = 0;
        for (int[] t : tables) {
            for (int i = 0; i < t.length; i++) {
                t[i] = ids.get(next++);
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
        // Every key of every sequence (cached and new), written once; then the step's rows attend.
        int[] all = new int[n];
        int[] none = new int[n];
        int[] rows = new int[n];
        int[] cached = new int[n];
        for (int s = 0; s < n; s++) {
            rows[s] = seqs[s][0];
            cached[s] = seqs[s][1];
            all[s] = rows[s] + cached[s];
        }
        RaggedBatch fill = batch(all, none, tables, blockSize);
        RaggedBatch step = batch(rows, cached, tables, blockSize);
        int width = kvHeads * headDim;
        float[] k = bf16(random(rnd, fill.numRows() * width, 1f));
        float[] v = bf16(random(rnd, fill.numRows() * width, 1f));
        float[] q = bf16(random(rnd, step.numRows() * heads * headDim, 1f));
        float[] expected = null;
        for (Backend be : new Backend[] {cpu, gpu}) {
            KvCache cache = be.allocateKvCache(2, kvHeads, headDim, numBlocks, blockSize);
            be.beginStep();
            be.storeKv(cache, 1, be.upload(k, fill.numRows(), width), be.upload(v, fill.numRows(), width), fill);
            for (boolean packed : be == gpu ? new boolean[] {false, true} : new boolean[] {false}) {
                if (packed) {
                    SamplingParams[] sampling = new SamplingParams[step.logitRows().length];
                    java.util.Arrays.fill(sampling, SamplingParams.GREEDY);
                    be.beginStep(step, sampling);
                } else {
                    be.beginStep();
                }
                Tensor qt = be.upload(q, step.numRows(), heads * headDim);
                Tensor out = be.allocate(step.numRows(), heads * headDim);
                be.attention(cache, 1, qt, step, heads, kvHeads, headDim, window, scale, slopes, softCap, out);
                float[] o = be.toHost(out);
                if (expected == null) {
                    expected = o;
                } else {
                    double err = relError(o, expected);
                    assertTrue(err < 2e-2, name + (packed ? " (step inputs)" : "") + ": error " + err);
                }
            }
            cache.close();
        }
    }

    /** Sequences with {@code rows[s]} new tokens after {@code cached[s]} cached ones; each last row's logits wanted. */
    private static RaggedBatch batch(int[] rows, int[] cached, int[][] tables, int blockSize) {
        int n = rows.length;
        int[] starts = new int[n + 1];
        for (int s = 0; s < n; s++) {
            starts[s + 1] = starts[s] + rows[s];
        }
        int total = starts[n];
        int[] pos = new int[total];
        int[] slots = new int[total];
        int[] ctx = new int[n];
        int[] logitRows = new int[n];
        for (int s = 0; s < n; s++) {
            for (int i = 0; i < rows[s]; i++) {
                int r = starts[s] + i;
                pos[r] = cached[s] + i;
                slots[r] = tables[s][pos[r] / blockSize] * blockSize + pos[r] % blockSize;
            }
            ctx[s] = cached[s] + rows[s];
            logitRows[s] = starts[s + 1] - 1;
        }
        RaggedBatch b = new RaggedBatch(new int[total], pos, slots, starts, ctx, tables, logitRows);
        b.check(blockSize);
        return b;
    }
}
