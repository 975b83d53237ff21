package dev.miij.backend;

/**
 * A 2-D FP32 activation living in a backend's memory (the Java heap for the CPU, device memory for
 * a GPU). The forward pass only passes tensors between backend operations and never reads their
 * contents, except through {@link Backend#toHost}.
 */
public interface Tensor {

    int rows();

    int cols();

    /** The same storage seen as {@code rows x cols} (rows * cols must not exceed its size). */
    Tensor view(int rows, int cols);
}
