package dev.miij.bench;

import dev.miij.backend.cpu.CpuParallel;
import dev.miij.model.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Measures the memory read bandwidth reachable from Java with all kernel threads: a sum over a
 * buffer much larger than the last-level cache, with loads of the machine's preferred vector width, split across the
 * {@link CpuParallel} pool. Prints the best and median of several passes in GB/s (10^9 bytes).
 *
 * <p>Usage: {@code MemoryBandwidth [MiB, default 1024] [passes, default 10]}.
 */
public final class MemoryBandwidth {

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Bytes per vector load. */
    private static final int V = F.vectorByteSize();
    private static volatile float sink;

    private MemoryBandwidth() {
    }

    /**
     * Sum of the floats in [from, to) bytes. Two accumulators and two vectors per iteration measured
     * fastest among 1-, 2- and 4-accumulator loops (by 2-6%): fewer instructions per cache line
     * let the core keep more misses in flight.
     */
    static float sum(MemorySegment m, long from, long to) {
        FloatVector a0 = FloatVector.zero(F), a1 = a0;
        for (long o = from; o < to; o += 2 * V) {
            a0 = a0.add(FloatVector.fromMemorySegment(F, m, o, ByteOrder.LITTLE_ENDIAN));
            a1 = a1.add(FloatVector.fromMemorySegment(F, m, o + V, ByteOrder.LITTLE_ENDIAN));
        }
        return a0.add(a1).reduceLanes(VectorOperators.ADD);
    }

    /** Result of a measurement, GB/s. */
    public record Result(double best, double median, double[] passes) {
        @Override
        public String toString() {
            return String.format("best %.2f GB/s, median %.2f GB/s over %d passes", best, median, passes.length);
        }
    }

    /** A buffer of {@code mib} MiB for {@link #pass}, filled with distinct random data (every page touched). */
    public static MemorySegment buffer(Arena arena, int mib) {
        long bytes = (long) mib << 20;
        MemorySegment m = arena.allocate(bytes, 64);
        fillRandom(m, DType.F32, 42);
        // Enough calls for C2 to compile sum() normally rather than only via on-stack replacement.
        float acc = 0;
        for (int i = 0; i < 20_000; i++) {
            acc += sum(m, (i & 63) * 4096L, (i & 63) * 4096L + 4096);
        }
        sink = acc;
        return m;
    }

    /**
     * Fills m with random non-zero values of type t (small, finite), every page different. A
     * repeated block would be cheaper, but a hypervisor that merges identical pages (KSM) then
     * maps much of the buffer to the same physical memory, and reads come from the cache: that
     * inflated both the bandwidth and the kernel figures (above the machine's DRAM bandwidth).
     */
    public static void fillRandom(MemorySegment m, DType t, long seed) {
        int chunk = 1 << 18;
        float[] f = new float[chunk];
        short[] h = new short[chunk];
        long x = seed | 1;
        long n = m.byteSize() / t.bytes();
        for (long i0 = 0; i0 < n; i0 += chunk) {
            int len = (int) Math.min(chunk, n - i0);
            for (int i = 0; i < len; i++) {
                x ^= x << 13;
                x ^= x >>> 7;
                x ^= x << 17;
                float v = ((x >>> 40) / (float) (1 << 24) - 0.5f) * 0.1f;
                f[i] = v == 0f ? 1e-3f : v;
            }
            switch (t) {
                case BF16 -> {
                    for (int i = 0; i < len; i++) {
                        h[i] = (short) (Float.floatToRawIntBits(f[i]) >>> 16);
                    }
                    MemorySegment.copy(h, 0, m, ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i0 * 2, len);
                }
                case F16 -> {
                    for (int i = 0; i < len; i++) {
                        h[i] = Float.floatToFloat16(f[i]);
                    }
                    MemorySegment.copy(h, 0, m, ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i0 * 2, len);
                }
                default -> MemorySegment.copy(f, 0, m, ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i0 * 4, len);
            }
        }
    }

    /** One read pass over the whole buffer with all pool threads; GB/s. */
    public static double pass(MemorySegment m) {
        return (m.byteSize() & -128L) / readSeconds(m) / 1e9;
    }

    /** Seconds for one read pass over {@code m} (a multiple of 128 bytes is read) with all pool threads. */
    public static double readSeconds(MemorySegment m) {
        long bytes = m.byteSize() & -128L;
        int items = CpuParallel.threads() * 8;
        long chunk = (bytes / items) & -128L;
        float[] partial = new float[items];
        long t0 = System.nanoTime();
        CpuParallel.run(items, i -> partial[i] = sum(m, i * chunk, i == items - 1 ? bytes : (i + 1) * chunk));
        long dt = System.nanoTime() - t0;
        float acc = 0;
        for (float f : partial) {
            acc += f;
        }
        sink += acc;
        return dt / 1e9;
    }

    /**
     * One read pass over all of {@code segments} (for instance a model's weight tensors, to read the
     * very pages a decode step reads) in one job: slices of about 4 MiB, claimed by the pool's
     * threads in order. Returns GB/s over the bytes read (each slice rounded down to 128 bytes).
     */
    public static double pass(java.util.List<MemorySegment> segments) {
        long slice = 4L << 20;
        int n = 0;
        for (MemorySegment m : segments) {
            n += (int) ((m.byteSize() + slice - 1) / slice);
        }
        MemorySegment[] seg = new MemorySegment[n];
        long[] from = new long[n];
        long[] to = new long[n];
        long bytes = 0;
        int k = 0;
        for (MemorySegment m : segments) {
            for (long o = 0; o < m.byteSize(); o += slice) {
                seg[k] = m;
                from[k] = o;
                to[k] = o + ((Math.min(slice, m.byteSize() - o)) & -128L);
                bytes += to[k] - from[k];
                k++;
            }
        }
        float[] partial = new float[n];
        long t0 = System.nanoTime();
        CpuParallel.run(n, i -> partial[i] = sum(seg[i], from[i], to[i]));
        long dt = System.nanoTime() - t0;
        float acc = 0;
        for (float f : partial) {
            acc += f;
        }
        sink += acc;
        return bytes / (dt / 1e9) / 1e9;
    }

    /** Reads a {@code mib}-MiB buffer {@code passes} times with all pool threads. */
    public static Result measure(int mib, int passes) {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment m = buffer(arena, mib);
            double[] gbs = new double[passes];
            for (int p = 0; p < passes; p++) {
                gbs[p] = pass(m);
            }
            double[] sorted = gbs.clone();
            Arrays.sort(sorted);
            return new Result(sorted[passes - 1], sorted[passes / 2], gbs);
        }
    }

    public static void main(String[] args) {
        int mib = args.length > 0 ? Integer.parseInt(args[0]) : 1024;
        int passes = args.length > 1 ? Integer.parseInt(args[1]) : 10;
        System.out.printf("threads %d, buffer %d MiB%n", CpuParallel.threads(), mib);
        Result r = measure(mib, passes);
        for (int i = 0; i < r.passes().length; i++) {
            System.out.printf("pass %2d: %.2f GB/s%n", i, r.passes()[i]);
        }
        System.out.println("read bandwidth: " + r);
    }
}
