package dev.miij.backend.cpu;

import dev.miij.model.DType;
import java.lang.foreign.MemorySegment;

/**
 * A weight matrix of {@code outDim} rows by {@code inDim} columns, row-major, in its checkpoint
 * type (F32, F16 or BF16), read straight from memory-mapped bytes. {@code y = W x} takes one dot
 * product per row.
 */
public record WeightMatrix(MemorySegment data, DType dtype, int outDim, int inDim) {

    public WeightMatrix {
        if (!dtype.isSupportedWeightType()) {
            throw new IllegalArgumentException("unsupported weight type " + dtype);
        }
        if (data.byteSize() != (long) outDim * inDim * dtype.bytes()) {
            throw new IllegalArgumentException("weight of " + outDim + "x" + inDim + " " + dtype + " needs "
                    + (long) outDim * inDim * dtype.bytes() + " bytes, has " + data.byteSize());
        }
    }

    public static WeightMatrix of(dev.miij.model.TensorData t) {
        if (t.rank() != 2) {
            throw new IllegalArgumentException(t + " is not a matrix");
        }
        return new WeightMatrix(t.data(), t.dtype(), t.rows(), t.cols());
    }

    public long byteSize() {
        return data.byteSize();
    }
}
