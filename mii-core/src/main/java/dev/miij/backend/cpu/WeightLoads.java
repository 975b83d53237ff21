package dev.miij.backend.cpu;

import dev.miij.model.DType;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Loads of weight elements as FP32, from BF16, F16 or F32 bytes in a (possibly unaligned,
 * memory-mapped) segment. All vector loads here take 16 elements and give one 512-bit float vector.
 */
final class WeightLoads {

    static final VectorSpecies<Float> F = FloatVector.SPECIES_512;
    static final int L = F.length(); // 16
    static final VectorSpecies<Short> S16 = ShortVector.SPECIES_256;
    static final VectorSpecies<Integer> I32 = IntVector.SPECIES_512;
    static final ByteOrder LE = ByteOrder.LITTLE_ENDIAN;

    static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(LE);
    static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(LE);

    /** 2^112: moves an F16 exponent (bias 15) to the F32 bias (127), subnormals included. */
    private static final FloatVector F16_SCALE = FloatVector.broadcast(F, 0x1p112f);

    private WeightLoads() {
    }

    /**
     * 16 BF16 values at {@code off} as floats. BF16 is the top half of an FP32, so widening the
     * shorts to ints (the sign-extension bits fall off) and shifting left by 16 is exact.
     */
    static FloatVector bf16(MemorySegment s, long off) {
        return ShortVector.fromMemorySegment(S16, s, off, LE)
                .convertShape(VectorOperators.S2I, I32, 0).reinterpretAsInts()
                .lanewise(VectorOperators.LSHL, 16)
                .reinterpretAsFloats();
    }

    /**
     * 16 F16 values at {@code off} as floats. The Vector API has no half-precision conversion, so this
     * places exponent and mantissa in FP32 position and rescales by 2^112 (exact, and correct for
     * subnormals); infinities and NaNs (exponent 31) get the FP32 all-ones exponent instead.
     */
    static FloatVector f16(MemorySegment s, long off) {
        IntVector h = (IntVector) ShortVector.fromMemorySegment(S16, s, off, LE)
                .convertShape(VectorOperators.ZERO_EXTEND_S2I, I32, 0);
        IntVector em = h.and(0x7FFF);
        IntVector sign = h.and(0x8000).lanewise(VectorOperators.LSHL, 16);
        IntVector shifted = em.lanewise(VectorOperators.LSHL, 13);
        IntVector finite = shifted.reinterpretAsFloats().mul(F16_SCALE).reinterpretAsInts();
        VectorMask<Integer> special = em.compare(VectorOperators.GE, 0x7C00);
        IntVector bits = finite.blend(shifted.or(0x7F800000), special);
        return bits.or(sign).reinterpretAsFloats();
    }

    static FloatVector f32(MemorySegment s, long off) {
        return FloatVector.fromMemorySegment(F, s, off, LE);
    }

    static float bf16Scalar(MemorySegment s, long off) {
        return Float.intBitsToFloat(s.get(SHORT, off) << 16);
    }

    static float f16Scalar(MemorySegment s, long off) {
        return Float.float16ToFloat(s.get(SHORT, off));
    }

    static float f32Scalar(MemorySegment s, long off) {
        return s.get(FLOAT, off);
    }

    /** One element, {@code elem} counted from the start of the segment. */
    static float scalar(MemorySegment s, DType t, long elem) {
        return switch (t) {
            case BF16 -> bf16Scalar(s, elem * 2);
            case F16 -> f16Scalar(s, elem * 2);
            case F32 -> f32Scalar(s, elem * 4);
            default -> throw new IllegalArgumentException("unsupported weight type " + t);
        };
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
            case F16 -> {
                long off = elem * 2;
                for (; i < vn; i += L) {
                    f16(s, off + 2L * i).intoArray(dst, dstOff + i);
                }
                for (; i < n; i++) {
                    dst[dstOff + i] = f16Scalar(s, off + 2L * i);
                }
            }
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
