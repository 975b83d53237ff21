package dev.miij.model;

/** Element types of checkpoint tensors, with their safetensors names and sizes in bytes. */
public enum DType {
    F32(4), F16(2), BF16(2), F64(8), I64(8), I32(4), I16(2), I8(1), U8(1), BOOL(1), F8_E4M3(1), F8_E5M2(1);

    private final int bytes;

    DType(int bytes) {
        this.bytes = bytes;
    }

    /** Size of one element in bytes. */
    public int bytes() {
        return bytes;
    }

    /** Whether MII-J can compute with weights of this type (others are reported as unsupported). */
    public boolean isSupportedWeightType() {
        return this == F32 || this == F16 || this == BF16;
    }

    /** The safetensors header name ("F32", "BF16", "F8_E4M3", ...). */
    public String safetensorsName() {
        return name();
    }
}
