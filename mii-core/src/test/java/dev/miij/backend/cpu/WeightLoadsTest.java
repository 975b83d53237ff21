package dev.miij.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.miij.model.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import org.junit.jupiter.api.Test;

/** The vector conversions agree bit for bit with the scalar ones for every 16-bit pattern. */
class WeightLoadsTest {

    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private static void allPatterns(DType t) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment raw = arena.allocate(2 * 65536 + 8);
            MemorySegment seg = raw.asSlice(1, 2 * 65536); // odd address: loads must not need alignment
            for (int i = 0; i < 65536; i++) {
                seg.set(SHORT, 2L * i, (short) i);
            }
            float[] dst = new float[65536];
            WeightLoads.toFloats(seg, t, 0, dst, 0, 65536);
            for (int i = 0; i < 65536; i++) {
                float expected = t == DType.F16 ? Float.float16ToFloat((short) i) : Float.intBitsToFloat(i << 16);
                if (Float.isNaN(expected)) {
                    assertEquals(true, Float.isNaN(dst[i]), "pattern " + Integer.toHexString(i));
                } else {
                    assertEquals(Float.floatToRawIntBits(expected), Float.floatToRawIntBits(dst[i]),
                            t + " pattern " + Integer.toHexString(i));
                }
            }
        }
    }

    @Test
    void f16AllPatterns() {
        allPatterns(DType.F16);
    }

    @Test
    void bf16AllPatterns() {
        allPatterns(DType.BF16);
    }

    @Test
    void tailsAndOffsets() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocate(4 * 100 + 8).asSlice(3, 400);
            for (int i = 0; i < 100; i++) {
                seg.set(ValueLayout.JAVA_FLOAT_UNALIGNED, 4L * i, i * 0.5f);
            }
            float[] dst = new float[40];
            WeightLoads.toFloats(seg, DType.F32, 7, dst, 2, 37);
            for (int i = 0; i < 37; i++) {
                assertEquals((7 + i) * 0.5f, dst[2 + i]);
            }
            assertEquals(0f, dst[0]);
            assertEquals(0f, dst[39]);
        }
    }
}
