package dev.miij.backend;

/**
 * A weight matrix prepared by a backend ({@code outDim x inDim}, computing {@code y = x W^T}), in
 * whatever layout and type the backend chose (the CPU backend reads the memory-mapped checkpoint
 * bytes as they are).
 */
public interface Weight {

    int outDim();

    int inDim();

    /** Bytes read from memory each time this weight is applied, for bandwidth accounting. */
    long byteSize();
}
