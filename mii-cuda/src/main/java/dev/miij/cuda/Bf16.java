package dev.miij.cuda;

/** BF16 (the upper half of an FP32) conversions on the host. */
final class Bf16 {

    private Bf16() {
    }

    /** Rounds to the nearest BF16, ties to even, as torch does; NaN stays NaN. */
    static short round(float f) {
        int u = Float.floatToRawIntBits(f);
        if ((u & 0x7fffffff) > 0x7f800000) {
            return (short) ((u >>> 16) | 0x40);
        }
        u += 0x7fff + ((u >>> 16) & 1);
        return (short) (u >>> 16);
    }

    static float toFloat(short s) {
        return Float.intBitsToFloat((s & 0xffff) << 16);
    }
}
