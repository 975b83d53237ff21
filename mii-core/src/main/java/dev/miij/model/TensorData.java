package dev.miij.model;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * One tensor of a checkpoint: its name, element type, shape and bytes. The bytes are a read-only
 * slice of a memory-mapped file, never a copy on the Java heap.
 */
public record TensorData(String name, DType dtype, long[] shape, MemorySegment data) {

    public TensorData {
        shape = shape.clone();
    }

    @Override
    public long[] shape() {
        return shape.clone();
    }

    public int rank() {
        return shape.length;
    }

    /** Number of elements. */
    public long size() {
        long n = 1;
        for (long d : shape) {
            n *= d;
        }
        return n;
    }

    /** First dimension (rows of a 2-D weight, length of a 1-D one). */
    public int rows() {
        return Math.toIntExact(shape[0]);
    }

    /** Product of all dimensions but the first (columns of a 2-D weight; 1 for a 1-D one). */
    public int cols() {
        return Math.toIntExact(size() / shape[0]);
    }

    /** Rows [from, to) of this tensor along its first dimension, sharing the same bytes. */
    public TensorData sliceRows(int from, int to) {
        if (from < 0 || to > shape[0] || from > to) {
            throw new IllegalArgumentException("rows [" + from + ", " + to + ") out of " + shape[0] + " in " + name);
        }
        long rowBytes = (long) cols() * dtype.bytes();
        long[] s = shape.clone();
        s[0] = to - from;
        return new TensorData(name + "[" + from + ":" + to + "]", dtype, s, data.asSlice(from * rowBytes, (to - from) * rowBytes));
    }

    /** Reads element {@code i} as a float, whatever the storage type (slow; for loading and tests). */
    public float getFloat(long i) {
        return switch (dtype) {
            case F32 -> data.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, i * 4);
            case F16 -> Float.float16ToFloat(data.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, i * 2));
            case BF16 -> Float.intBitsToFloat(data.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, i * 2) << 16);
            default -> throw new UnsupportedOperationException("cannot read " + dtype + " tensor " + name + " as float");
        };
    }

    /** Copies all elements into a new float array (for small tensors: norms, biases). */
    public float[] toFloatArray() {
        float[] out = new float[Math.toIntExact(size())];
        for (int i = 0; i < out.length; i++) {
            out[i] = getFloat(i);
        }
        return out;
    }

    @Override
    public String toString() {
        return name + " " + dtype + Arrays.toString(shape);
    }
}
