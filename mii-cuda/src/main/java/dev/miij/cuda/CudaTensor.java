package dev.miij.cuda;

import dev.miij.backend.Tensor;

/**
 * A BF16 row-major activation in device memory. {@code capacity} is the number of elements its
 * storage holds, so views may reshape it.
 */
record CudaTensor(long ptr, int rows, int cols, long capacity) implements Tensor {

    static CudaTensor of(Tensor t) {
        if (t instanceof CudaTensor c) {
            return c;
        }
        throw new IllegalArgumentException("not a CUDA tensor: " + t.getClass().getName());
    }

    long size() {
        return (long) rows * cols;
    }

    long bytes() {
        return size() * 2;
    }

    @Override
    public Tensor view(int rows, int cols) {
        if ((long) rows * cols > capacity) {
            throw new IllegalArgumentException(rows + " x " + cols + " does not fit in " + capacity + " elements");
        }
        return new CudaTensor(ptr, rows, cols, capacity);
    }

    /** Same storage and shape. */
    boolean sameAs(CudaTensor o) {
        return o != null && ptr == o.ptr && rows == o.rows && cols == o.cols;
    }
}
