package dev.miij.bench;

import dev.miij.backend.cpu.CpuParallel;
import java.util.Arrays;
import java.util.concurrent.ForkJoinPool;
import java.util.concurrent.RecursiveAction;

/**
 * Per-call cost of spreading a job over all cores: {@link CpuParallel} (spinning workers) against a
 * ForkJoinPool doing the same split (fork all but one part, run that one, join). Measures an empty
 * job and jobs whose parts take about 25, 50 and 100 µs, back to back and with a 50 µs gap of
 * single-threaded work between calls (as between the matmuls of a decode step).
 */
public final class ParallelBench {

    private static volatile double sink;

    private ParallelBench() {
    }

    /** Spins for about {@code micros} µs of arithmetic (calibrated), returning a value to keep. */
    static double work(long iters) {
        double a = 1.0;
        for (long i = 0; i < iters; i++) {
            a = a * 0.9999999 + 1e-7;
        }
        return a;
    }

    static long calibrate(double micros) {
        long iters = 1000;
        for (int rep = 0; rep < 20; rep++) {
            long t0 = System.nanoTime();
            sink += work(iters);
            double dt = (System.nanoTime() - t0) / 1e3;
            iters = Math.max(1, (long) (iters * micros / Math.max(dt, 1e-3)));
        }
        return iters;
    }

    static final class Part extends RecursiveAction {
        final long iters;

        Part(long iters) {
            this.iters = iters;
        }

        @Override
        protected void compute() {
            sink += work(iters);
        }
    }

    static void forkJoin(ForkJoinPool pool, int parts, long iters) {
        pool.invoke(new RecursiveAction() {
            @Override
            protected void compute() {
                Part[] ps = new Part[parts - 1];
                for (int i = 0; i < ps.length; i++) {
                    ps[i] = new Part(iters);
                    ps[i].fork();
                }
                sink += work(iters);
                for (Part p : ps) {
                    p.join();
                }
            }
        });
    }

    /** Median µs per call of {@code calls} calls, after a warm-up. */
    static double measure(Runnable call, int calls, long gapIters) {
        for (int i = 0; i < calls; i++) {
            call.run();
        }
        double[] t = new double[calls];
        for (int i = 0; i < calls; i++) {
            if (gapIters > 0) {
                sink += work(gapIters);
            }
            long t0 = System.nanoTime();
            call.run();
            t[i] = (System.nanoTime() - t0) / 1e3;
        }
        Arrays.sort(t);
        return t[calls / 2];
    }

    public static void main(String[] args) {
        int threads = CpuParallel.threads();
        ForkJoinPool fj = new ForkJoinPool(threads);
        long gap = calibrate(50);
        System.out.printf("threads %d; median µs per call (ideal = part time)%n", threads);
        System.out.printf("%-10s %-8s %14s %14s%n", "part µs", "gap µs", "CpuParallel", "ForkJoinPool");
        for (double micros : new double[] {0, 25, 50, 100}) {
            long iters = micros == 0 ? 0 : calibrate(micros);
            for (long g : new long[] {0, gap}) {
                int calls = micros == 0 ? 20_000 : 2_000;
                double mine = measure(() -> CpuParallel.run(threads, i -> sink += work(iters)), calls, g);
                double theirs = measure(() -> forkJoin(fj, threads, iters), calls, g);
                System.out.printf("%-10.0f %-8s %14.2f %14.2f%n", micros, g == 0 ? "0" : "50", mine, theirs);
            }
        }
        fj.shutdown();
    }
}
