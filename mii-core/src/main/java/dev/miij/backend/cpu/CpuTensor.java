package dev.miij.backend.cpu;

import dev.miij.backend.Tensor;

/** An FP32 activation on the Java heap: {@code rows x cols} floats of {@code data}, row-major. */
record CpuTensor(float[] data, int rows, int cols) implements Tensor {

    CpuTensor {
        if ((long) rows * cols > data.length) {
            throw new IllegalArgumentException(rows + "x" + cols + " does not fit in " + data.length + " floats");
        }
    }

    @Override
    public Tensor view(int newRows, int newCols) {
        return new CpuTensor(data, newRows, newCols);
    }

    int size() {
        return rows * cols;
    }

    static CpuTensor of(Tensor t) {
        return (CpuTensor) t;
    }
}
