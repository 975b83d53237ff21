package dev.miij.cuda;

import dev.miij.backend.Weight;

/** A weight matrix {@code [outDim, inDim]}, BF16 row-major in device memory. */
record CudaWeight(long ptr, int outDim, int inDim) implements Weight {

    static CudaWeight of(Weight w) {
        if (w instanceof CudaWeight c) {
            return c;
        }
        throw new IllegalArgumentException("not a CUDA weight: " + w.getClass().getName());
    }

    @Override
    public long byteSize() {
        return 2L * outDim * inDim;
    }
}
