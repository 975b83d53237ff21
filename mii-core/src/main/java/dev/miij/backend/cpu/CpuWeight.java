package dev.miij.backend.cpu;

import dev.miij.backend.Weight;

/** A weight matrix read in place from the memory-mapped checkpoint. */
record CpuWeight(WeightMatrix matrix) implements Weight {

    @Override
    public int outDim() {
        return matrix.outDim();
    }

    @Override
    public int inDim() {
        return matrix.inDim();
    }

    @Override
    public long byteSize() {
        return matrix.byteSize();
    }
}
