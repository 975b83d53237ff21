package dev.miij.backend.cpu;

import dev.miij.model.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.Random;

/** Builds weight matrices for tests: random values stored in a dtype at an unaligned address. */
final class TestWeights {

    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private TestWeights() {
    }

    /** A matrix and the exact values it stores (after rounding to its dtype), row-major. */
    record Stored(WeightMatrix matrix, float[] values) {
    }

    static short toBf16(float f) {
        int b = Float.floatToRawIntBits(f);
        b += 0x7FFF + ((b >>> 16) & 1); // round to nearest even
        return (short) (b >>> 16);
    }

    static Stored random(DType t, int out, int in, Random rnd, Arena arena, int misalign) {
        long n = (long) out * in;
        MemorySegment raw = arena.allocate(n * t.bytes() + 64, 64);
        MemorySegment seg = raw.asSlice(misalign, n * t.bytes());
        float[] v = new float[(int) n];
        for (int i = 0; i < n; i++) {
            float f = (float) rnd.nextGaussian() * 0.5f;
            switch (t) {
                case BF16 -> {
                    short s = toBf16(f);
                    seg.set(SHORT, 2L * i, s);
                    v[i] = Float.intBitsToFloat(s << 16);
                }
                case F16 -> {
                    short s = Float.floatToFloat16(f);
                    seg.set(SHORT, 2L * i, s);
                    v[i] = Float.float16ToFloat(s);
                }
                case F32 -> {
                    seg.set(FLOAT, 4L * i, f);
                    v[i] = f;
                }
                default -> throw new IllegalArgumentException(t.toString());
            }
        }
        return new Stored(new WeightMatrix(seg, t, out, in), v);
    }

    static float[] gaussian(int n, Random rnd) {
        float[] a = new float[n];
        for (int i = 0; i < n; i++) {
            a[i] = (float) rnd.nextGaussian();
        }
        return a;
    }
}
