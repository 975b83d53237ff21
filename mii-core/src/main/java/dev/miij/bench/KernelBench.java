package dev.miij.bench;

import dev.miij.backend.cpu.CpuKernels;
import dev.miij.backend.cpu.CpuParallel;
import dev.miij.backend.cpu.WeightMatrix;
import dev.miij.model.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Times {@link CpuKernels#matmul} on the Llama-3.2-1B shapes: decode (one activation row, reported
 * as GB/s of weights read and as a fraction of the measured read bandwidth) and prefill (many rows,
 * GFLOP/s), then estimates prompt tokens/s for the whole model from the prefill times.
 *
 * <p>Weights are random BF16 (never zeros) in 64-byte aligned native memory. Matrices smaller than
 * the last-level cache are rotated among enough copies that every call reads from DRAM. Each case
 * runs several rounds; the table shows the best round and the median, since other processes on the
 * machine can take a core at any time.
 *
 * <p>Usage: {@code KernelBench [--bw GB/s] [--decode] [--prefill] [--rounds N] [--dtypes BF16,F16,F32]
 * [--shape OUTxIN ...] [--rows 16,64,128,512] [--decode-rows 1,2,4]} (--shape limits the decode table to the given shapes,
 * --rows the prefill table to the given row counts, --decode-rows gives the activation row counts of the decode table).
 */
public final class KernelBench {

    private static final long ROTATE_BYTES = 1L << 30;
    private static volatile float sink;

    private KernelBench() {
    }

    record Shape(String name, int out, int in, int count) {
    }

    /** Llama-3.2-1B projections per layer (out x in) and how many of each a layer has. */
    static final Shape[] LLAMA_1B = {
        new Shape("q/o 2048->2048", 2048, 2048, 2),
        new Shape("k/v 2048->512", 512, 2048, 2),
        new Shape("gate/up 2048->8192", 8192, 2048, 2),
        new Shape("down 8192->2048", 2048, 8192, 1),
    };
    static final int LAYERS = 16;
    static final Shape LM_HEAD = new Shape("lm_head 2048->128256", 128256, 2048, 1);

    static WeightMatrix[] matrices(Arena arena, DType t, int out, int in, long minTotal, long seed) {
        long bytes = (long) out * in * t.bytes();
        int copies = (int) Math.max(1, Math.min(32, (minTotal + bytes - 1) / bytes));
        WeightMatrix[] ws = new WeightMatrix[copies];
        SplittableRandom rnd = new SplittableRandom(seed);
        for (int c = 0; c < copies; c++) {
            MemorySegment m = arena.allocate(bytes, 64);
            MemoryBandwidth.fillRandom(m, t, rnd.nextLong());
            ws[c] = new WeightMatrix(m, t, out, in);
        }
        return ws;
    }

    static float[] randomFloats(int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) (rnd.nextDouble() * 2 - 1);
        }
        return a;
    }

    /**
     * Seconds per matmul call in each of {@code rounds} rounds (each over all copies, at least
     * {@code minRoundSec}). When {@code sumSec} is given, every round is preceded by a plain read
     * of the same weight bytes with all threads (the bandwidth roofline for that data, taken moments
     * before), and its seconds per matrix go to {@code sumSec[round]}.
     */
    static double[] time(WeightMatrix[] ws, int rows, float[] x, float[] y, int rounds, double minRoundSec,
            double[] sumSec) {
        double[] per = new double[rounds];
        for (int r = 0; r < rounds; r++) {
            if (sumSec != null) {
                double t = 0;
                for (WeightMatrix w : ws) {
                    t += MemoryBandwidth.readSeconds(w.data());
                }
                sumSec[r] = t / ws.length;
            }
            long calls = 0;
            long t0 = System.nanoTime();
            long dt;
            do {
                for (WeightMatrix w : ws) {
                    CpuKernels.matmul(x, rows, w, null, y);
                }
                calls += ws.length;
                dt = System.nanoTime() - t0;
            } while (dt < minRoundSec * 1e9);
            per[r] = dt / 1e9 / calls;
        }
        sink += y[0];
        return per;
    }

    static double median(double[] a) {
        double[] s = a.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    static double min(double[] a) {
        return Arrays.stream(a).min().orElse(Double.NaN);
    }

    static double max(double[] a) {
        return Arrays.stream(a).max().orElse(Double.NaN);
    }

    /** Compiles every matmul path with enough calls on small shapes for C2 to finish. */
    static void warmUp(Arena arena) {
        for (DType t : new DType[] {DType.BF16, DType.F16, DType.F32}) {
            for (int in : new int[] {256, 4096}) {
                WeightMatrix w = matrices(arena, t, 64, in, 0, 1)[0];
                for (int rows : new int[] {1, 2, 5, 64}) {
                    float[] x = randomFloats(rows * in, 2);
                    float[] y = new float[rows * 64];
                    int n = rows > 4 ? 300 : 3000;
                    for (int i = 0; i < n; i++) {
                        CpuKernels.matmul(x, rows, w, null, y);
                    }
                }
            }
        }
    }

    public static void main(String[] args) {
        double bw = 0;
        boolean decode = false;
        boolean prefill = false;
        int rounds = 9;
        List<DType> dtypes = new ArrayList<>(List.of(DType.BF16));
        List<Shape> only = new ArrayList<>();
        int[] prefillRows = {16, 64, 128, 512};
        int[] decodeRows = {1};
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--bw" -> bw = Double.parseDouble(args[++i]);
                case "--decode" -> decode = true;
                case "--prefill" -> prefill = true;
                case "--rounds" -> rounds = Integer.parseInt(args[++i]);
                case "--rows" -> prefillRows = java.util.Arrays.stream(args[++i].split(",")).mapToInt(Integer::parseInt).toArray();
                case "--decode-rows" -> decodeRows = java.util.Arrays.stream(args[++i].split(",")).mapToInt(Integer::parseInt).toArray();
                case "--shape" -> {
                    String[] p = args[++i].split("x");
                    only.add(new Shape(args[i], Integer.parseInt(p[0]), Integer.parseInt(p[1]), 1));
                }
                case "--dtypes" -> {
                    dtypes.clear();
                    for (String s : args[++i].split(",")) {
                        dtypes.add(DType.valueOf(s));
                    }
                }
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        if (!decode && !prefill) {
            decode = prefill = true;
        }
        System.out.printf("threads %d (mii.threads), JDK %s%n", CpuParallel.threads(), System.getProperty("java.vm.version"));
        try (Arena arena = Arena.ofShared()) {
            double[] bwPasses;
            try (Arena bwArena = Arena.ofShared()) {
                MemorySegment bwBuf = MemoryBandwidth.buffer(bwArena, 1024);
                bwPasses = new double[10];
                for (int i = 0; i < bwPasses.length; i++) {
                    bwPasses[i] = MemoryBandwidth.pass(bwBuf);
                }
            }
            System.out.printf("read bandwidth (1 GiB sum, %d passes): best %.2f GB/s, median %.2f GB/s%n",
                    bwPasses.length, max(bwPasses), median(bwPasses));
            if (bw <= 0) {
                bw = max(bwPasses);
            } else {
                System.out.printf("bandwidth for the %%-of-BW column given: %.2f GB/s%n", bw);
            }
            warmUp(arena);
            double lmHeadSec = 0;
            if (decode) {
                System.out.println();
                System.out.printf("decode (rows %s), %d rounds over >= 1 GiB of weight copies each. Every round is"
                        + " preceded by a plain%n", Arrays.toString(decodeRows), rounds);
                System.out.println("  all-thread read (sum) of the same weight bytes, so noise from other processes hits both alike.");
                System.out.println("  GB/s: weight bytes / time per call (best round, median round); read: the plain read, median;");
                System.out.println("  % of read: median over rounds of (read time / matmul time);");
                System.out.printf("  %% of BW: best round / best 1 GiB bandwidth pass (%.2f GB/s)%n", bw);
                System.out.printf("%-5s %4s %-16s %9s %8s %8s %8s %10s %8s%n", "dtype", "rows", "shape (out x in)", "us", "GB/s",
                        "median", "read", "% of read", "% of BW");
                List<Shape> shapes = new ArrayList<>(List.of(LLAMA_1B));
                shapes.add(LM_HEAD);
                if (!only.isEmpty()) {
                    shapes = only;
                }
                for (DType t : dtypes) {
                    for (Shape s : shapes) {
                      for (int drows : decodeRows) {
                        Arena shapeArena = Arena.ofShared();
                        WeightMatrix[] ws = matrices(shapeArena, t, s.out, s.in, ROTATE_BYTES, 11);
                        float[] x = randomFloats(drows * s.in, 3);
                        float[] y = new float[drows * s.out];
                        double[] readSec = new double[rounds];
                        double[] sec = time(ws, drows, x, y, rounds, 0.05, readSec);
                        double bytes = (double) s.out * s.in * t.bytes();
                        double[] ratio = new double[rounds];
                        for (int r = 0; r < rounds; r++) {
                            ratio[r] = readSec[r] / sec[r];
                        }
                        System.out.printf("%-5s %4d %-16s %9.1f %8.2f %8.2f %8.2f %9.1f%% %7.1f%%%n", t, drows,
                                s.out + " x " + s.in, min(sec) * 1e6, bytes / min(sec) / 1e9,
                                bytes / median(sec) / 1e9, bytes / median(readSec) / 1e9, 100 * median(ratio),
                                100 * bytes / min(sec) / 1e9 / bw);
                        if (t == DType.BF16 && drows == 1 && s.out == LM_HEAD.out && s.in == LM_HEAD.in) {
                            lmHeadSec = median(sec);
                        }
                        shapeArena.close();
                      }
                    }
                }
            }
            if (prefill) {
                System.out.println();
                System.out.println("prefill (BF16 weights): best [median] of " + rounds + " rounds");
                System.out.printf("%-5s %-22s %10s %10s %10s%n", "rows", "shape (in->out)", "ms", "GFLOP/s", "median");
                for (int rows : prefillRows) {
                    double layerBest = 0;
                    double layerMedian = 0;
                    for (Shape s : LLAMA_1B) {
                        WeightMatrix[] ws = matrices(arena, DType.BF16, s.out, s.in, 0, 12);
                        float[] x = randomFloats(rows * s.in, 4);
                        float[] y = new float[rows * s.out];
                        double[] per = time(ws, rows, x, y, rounds, 0.1, null);
                        double[] sec = {min(per), median(per)};
                        double flop = 2.0 * rows * s.out * s.in;
                        System.out.printf("%-5d %-22s %10.3f %10.1f %10.1f%n", rows, s.name, sec[0] * 1e3,
                                flop / sec[0] / 1e9, flop / sec[1] / 1e9);
                        layerBest += s.count * sec[0];
                        layerMedian += s.count * sec[1];
                    }
                    double flopPerToken = 0;
                    for (Shape s : LLAMA_1B) {
                        flopPerToken += 2.0 * s.count * s.out * s.in * LAYERS;
                    }
                    double prompt = LAYERS * layerBest + lmHeadSec; // lm_head only for the last token
                    double promptMedian = LAYERS * layerMedian + lmHeadSec;
                    System.out.printf("  => Llama-3.2-1B projections, %d-token prompt: %.1f tokens/s best, %.1f median"
                            + " (%.1f GFLOP/s over the layers; attention and norms not included)%n",
                            rows, rows / prompt, rows / promptMedian, flopPerToken * rows / (LAYERS * layerBest) / 1e9);
                }
            }
        }
        System.out.println(sink == 12345f ? "" : "");
    }
}
