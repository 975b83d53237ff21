package dev.miij.backend.cpu;

import dev.miij.model.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorShape;
import jdk.incubator.vector.VectorSpecies;

/**
 * The vector species every CPU kernel uses, and loads of weight elements as FP32 from BF16, F16 or
 * F32 bytes in a (possibly unaligned, memory-mapped) segment.
 *
 * <p>The float species is the machine's preferred one, chosen once at start-up: 512 bits on
 * AVX-512, 256 on AVX2, 128 on Arm NEON (or whatever {@code -XX:MaxVectorSize} leaves). A species
 * wider than the hardware's would still compute correctly, but through the Vector API's Java
 * fallback, about a hundred times slower; {@link #check} refuses that. Kernels take their lane
 * count from {@link #L} and never assume one.
 */
final class WeightLoads {

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    /** Float lanes per vector: 16 (AVX-512), 8 (AVX2), 4 (NEON). */
    static final int L = F.length();
    /** Ints of the same width as F: BF16 pairs, two elements per lane. */
    static final VectorSpecies<Integer> I32 = IntVector.SPECIES_PREFERRED;
    /** Shorts of half F's width: L BF16 values, widened to ints by {@link #bf16}. */
    static final VectorSpecies<Short> S16 = VectorSpecies.of(short.class, VectorShape.forBitSize(F.vectorBitSize() / 2));
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);

    private WeightLoads() {
    }

    /**
     * The species the kernels use, for logs and checks: e.g. "256-bit (8 float lanes, AVX2)".
     * The instruction-set name is a reading of the width and architecture, not a CPU probe.
     */
    static String describe() {
        int bits = F.vectorBitSize();
        String arch = System.getProperty("os.arch", "");
        boolean x86 = arch.equals("amd64") || arch.equals("x86_64");
        boolean arm = arch.equals("aarch64") || arch.equals("arm64");
        String isa = x86 ? (bits >= 512 ? "AVX-512" : bits == 256 ? "AVX2" : bits == 128 ? "SSE" : "scalar")
                : arm ? (bits == 128 ? "NEON" : bits > 128 ? "SVE" : "scalar") : "";
        return bits + "-bit (" + L + " float lanes" + (isa.isEmpty() ? "" : ", " + isa) + ")";
    }

    /**
     * Fails when a species in use is wider than the hardware's preferred shape, which the JDK
     * would emulate in Java instead of compiling to vector instructions.
     */
    static void check(VectorSpecies<?>... species) {
        int max = VectorShape.preferredShape().vectorBitSize();
        for (VectorSpecies<?> s : species) {
            if (s.vectorBitSize() > max) {
                throw new IllegalStateException("vector species " + s + " is wider than the hardware's " + max
                        + " bits and would run emulated");
            }
        }
    }

    static {
        check(F, I32, S16);
    }

    /**
     * L BF16 values at {@code off} as floats. BF16 is the top half of an FP32, so widening the
     * shorts to ints (the sign-extension bits fall off) and shifting left by 16 is exact.
     */
    static FloatVector bf16(MemorySegment s, long off) {
        return ShortVector.fromMemorySegment(S16, s, off, LE)
                .convertShape(VectorOperators.S2I, I32, 0).reinterpretAsInts()
                .lanewise(VectorOperators.LSHL, 16)
                .reinterpretAsFloats();
    }

    /**
     * n F16 values at byte off into dst. The Vector API has no half-precision conversion, but C2
     * turns this plain loop into VCVTPH2PS: measured 0.037 ns per element against 0.061 for
     * converting with integer and float vector operations (exponent rebias by 2^112, blend for
     * infinities and NaNs).
     */
    static void f16ToFloats(MemorySegment s, long off, float[] dst, int dstOff, int n) {
        for (int i = 0; i < n; i++) {
            dst[dstOff + i] = Float.float16ToFloat(s.get(SHORT, off + 2L * i));
        }
    }

    static FloatVector f32(MemorySegment s, long off) {
        return FloatVector.fromMemorySegment(F, s, off, LE);
    }

    static float bf16Scalar(MemorySegment s, long off) {
        return Float.intBitsToFloat(s.get(SHORT, off) << 16);
    }

    static float f32Scalar(MemorySegment s, long off) {
        return s.get(FLOAT, off);
    }

    /** Converts {@code n} elements starting at element {@code elem} into {@code dst[dstOff..]}. */
    static void toFloats(MemorySegment s, DType t, long elem, float[] dst, int dstOff, int n) {
        int i = 0;
        int vn = n & -L;
        switch (t) {
            case BF16 -> {
                long off = elem * 2;
                for (; i < vn; i += L) {
                    bf16(s, off + 2L * i).intoArray(dst, dstOff + i);
                }
                for (; i < n; i++) {
                    dst[dstOff + i] = bf16Scalar(s, off + 2L * i);
                }
            }
            case F16 -> f16ToFloats(s, elem * 2, dst, dstOff, n);
            case F32 -> {
                long off = elem * 4;
                for (; i < vn; i += L) {
                    f32(s, off + 4L * i).intoArray(dst, dstOff + i);
                }
                for (; i < n; i++) {
                    dst[dstOff + i] = f32Scalar(s, off + 4L * i);
                }
            }
            default -> throw new IllegalArgumentException("unsupported weight type " + t);
        }
    }
}
