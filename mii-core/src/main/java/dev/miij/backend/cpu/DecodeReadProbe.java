package dev.miij.backend.cpu;

import dev.miij.arch.Architectures;
import dev.miij.arch.TransformerSpec;
import dev.miij.bench.MemoryBandwidth;
import dev.miij.model.DType;
import dev.miij.model.ModelFolder;
import dev.miij.model.WeightSource;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * Tells apart what holds batch-1 decode below the machine's read bandwidth. Over a BF16
 * checkpoint's decode sequence of matrix-vector products (per layer: q/k/v in one call, o,
 * gate/up in one call, down; then the LM head), each round measures, back to back:
 * <ul>
 *   <li>{@code read}: a plain read of all those matrices ({@link MemoryBandwidth#pass(List)});
 *   <li>{@code gemv}: the decode kernels themselves ({@link CpuKernels#matmul}, one activation row);
 *   <li>{@code items}: a plain sum over the very work items, jobs and access pattern of the decode
 *       kernels (four rows a quarter-item apart), without their arithmetic;
 *   <li>{@code per-row}: the same kernels called once per row ({@link MatVec#dot4Half}), as before
 *       {@link MatVec#dot4HalfRows} ran along whole streams.
 * </ul>
 * When {@code items} keeps up with {@code read} and {@code gemv} does not, neither the work split
 * nor the access pattern is at fault but the kernel loop's own work per byte. Llama-style tensor
 * names. Usage: {@code DecodeReadProbe MODEL_DIR [rounds, default 10]}.
 */
public final class DecodeReadProbe {

    private static volatile float sink;

    private DecodeReadProbe() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length < 1) {
            System.err.println("usage: DecodeReadProbe MODEL_DIR [rounds]");
            System.exit(2);
        }
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        ModelFolder folder = ModelFolder.open(Path.of(args[0]));
        TransformerSpec spec = Architectures.fromConfig(folder.config());
        try (WeightSource weights = folder.openWeights()) {
            List<WeightMatrix[]> calls = new ArrayList<>();
            for (int l = 0; l < spec.numLayers(); l++) {
                String p = "model.layers." + l + ".";
                calls.add(matrices(weights, p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj"));
                calls.add(matrices(weights, p + "self_attn.o_proj"));
                calls.add(matrices(weights, p + "mlp.gate_proj", p + "mlp.up_proj"));
                calls.add(matrices(weights, p + "mlp.down_proj"));
            }
            calls.add(matrices(weights, weights.names().contains("lm_head.weight") ? "lm_head" : "model.embed_tokens"));
            List<MemorySegment> all = new ArrayList<>();
            long bytes = 0;
            int widest = 0;
            for (WeightMatrix[] c : calls) {
                for (WeightMatrix w : c) {
                    if (w.dtype() != DType.BF16) {
                        throw new IllegalArgumentException("BF16 weights only; " + w.dtype() + " found");
                    }
                    all.add(w.data());
                    bytes += w.byteSize();
                    widest = Math.max(widest, Math.max(w.inDim(), w.outDim()));
                }
            }
            float[] x = new float[widest];
            Random random = new Random(1);
            for (int i = 0; i < x.length; i++) {
                x[i] = random.nextFloat() - 0.5f;
            }
            float[][][] ys = new float[calls.size()][][];
            for (int c = 0; c < calls.size(); c++) {
                ys[c] = new float[calls.get(c).length][];
                for (int k = 0; k < ys[c].length; k++) {
                    ys[c][k] = new float[calls.get(c)[k].outDim()];
                }
            }
            CpuKernels.MatVecJob plan = new CpuKernels.MatVecJob();
            for (int i = 0; i < 3; i++) { // compile everything before measuring
                MemoryBandwidth.pass(all);
                gemv(calls, x, ys);
                items(calls, plan);
                perRow(calls, plan, x, ys);
            }
            System.out.printf("%d threads, %.3f GB per step; GB/s (fraction of the read in the same round)%n",
                    CpuParallel.threads(), bytes / 1e9);
            for (int r = 0; r < rounds; r++) {
                double read = MemoryBandwidth.pass(all);
                double gemv = bytes / 1e9 / best(() -> gemv(calls, x, ys));
                double items = bytes / 1e9 / best(() -> items(calls, plan));
                double perRow = bytes / 1e9 / best(() -> perRow(calls, plan, x, ys));
                // Three significant digits: a tiny model's figures are well below 0.1 GB/s.
                System.out.printf("read %5.3g   gemv %5.3g (%3.0f%%)   items %5.3g (%3.0f%%)   per-row %5.3g (%3.0f%%)%n",
                        read, gemv, 100 * gemv / read, items, 100 * items / read, perRow, 100 * perRow / read);
            }
        }
    }

    private static WeightMatrix[] matrices(WeightSource weights, String... names) throws IOException {
        WeightMatrix[] ws = new WeightMatrix[names.length];
        for (int i = 0; i < names.length; i++) {
            ws[i] = WeightMatrix.of(weights.get(names[i] + ".weight"));
        }
        return ws;
    }

    /** Seconds of the fastest of three runs. */
    private static double best(Runnable step) {
        double best = Double.MAX_VALUE;
        for (int i = 0; i < 3; i++) {
            long t0 = System.nanoTime();
            step.run();
            best = Math.min(best, (System.nanoTime() - t0) / 1e9);
        }
        return best;
    }

    private static void gemv(List<WeightMatrix[]> calls, float[] x, float[][][] ys) {
        for (int c = 0; c < calls.size(); c++) {
            CpuKernels.matmul(x, 1, calls.get(c), null, ys[c]);
        }
    }

    /** Work on one item: rows [from, to) of weight {@code weight}. */
    private interface ItemWork {
        void run(int weight, int from, int to);
    }

    /** Runs {@code work} on the pool over the decode kernels' own work items for {@code ws}. */
    private static void forEachItem(WeightMatrix[] ws, CpuKernels.MatVecJob plan, ItemWork work) {
        int n = plan.planItems(ws);
        int[] weight = plan.itemWeight.clone();
        int[] start = plan.itemStart.clone();
        int[] end = plan.itemEnd.clone();
        CpuParallel.run(n, i -> work.run(weight[i], start[i], end[i]));
    }

    private static void items(List<WeightMatrix[]> calls, CpuKernels.MatVecJob plan) {
        for (WeightMatrix[] ws : calls) {
            forEachItem(ws, plan, (wi, o0, o1) -> sink += sumItem(ws[wi], o0, o1));
        }
    }

    /** The decode kernels with one call per row of each four-row group, over the same items. */
    private static void perRow(List<WeightMatrix[]> calls, CpuKernels.MatVecJob plan, float[] x, float[][][] ys) {
        for (int c = 0; c < calls.size(); c++) {
            WeightMatrix[] ws = calls.get(c);
            int in = ws[0].inDim();
            float[] xd = new float[in];
            MatVec.deinterleave(x, 0, in, xd);
            float[][] y = ys[c];
            long rowBytes = 2L * in;
            forEachItem(ws, plan, (wi, o0, o1) -> {
                MemorySegment w = ws[wi].data();
                int q = (o1 - o0) / 4;
                for (int r = 0; r < q; r++) {
                    MatVec.dot4Half(w, false, (o0 + r) * rowBytes, q * rowBytes, xd, in, y[wi], o0 + r, q);
                }
                for (int o = o0 + 4 * q; o < o1; o++) {
                    y[wi][o] = MatVec.dotBf16(w, o * rowBytes, xd, in);
                }
            });
        }
    }

    /** Sums an item's rows the way the one-row BF16 kernel reads them: four rows a quarter-item apart. */
    private static float sumItem(WeightMatrix w, int o0, int o1) {
        MemorySegment m = w.data();
        long rowBytes = 2L * w.inDim();
        int q = (o1 - o0) / 4;
        long stride = q * rowBytes;
        FloatVector a0 = FloatVector.zero(WeightLoads.F), a1 = a0, a2 = a0, a3 = a0;
        ByteOrder le = ByteOrder.LITTLE_ENDIAN;
        long v = WeightLoads.F.vectorByteSize();
        for (long e = o0 * rowBytes, stop = e + (stride & -v); e < stop; e += v) {
            a0 = a0.add(FloatVector.fromMemorySegment(WeightLoads.F, m, e, le));
            a1 = a1.add(FloatVector.fromMemorySegment(WeightLoads.F, m, e + stride, le));
            a2 = a2.add(FloatVector.fromMemorySegment(WeightLoads.F, m, e + 2 * stride, le));
            a3 = a3.add(FloatVector.fromMemorySegment(WeightLoads.F, m, e + 3 * stride, le));
        }
        for (long e = (o0 + 4L * q) * rowBytes, stop = o1 * rowBytes - (v - 1); e < stop; e += v) {
            a0 = a0.add(FloatVector.fromMemorySegment(WeightLoads.F, m, e, le));
        }
        return a0.add(a1).add(a2.add(a3)).reduceLanes(VectorOperators.ADD);
    }
}
