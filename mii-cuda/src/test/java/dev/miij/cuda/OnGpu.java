package dev.miij.cuda;

import dev.miij.backend.cpu.CpuBackend;
import dev.miij.model.DType;
import dev.miij.model.TensorData;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/**
 * A test class whose tests share one CUDA backend on GPU 0, opened before them and closed after,
 * and the CPU backend they are compared with; without a GPU they are skipped. Test classes run one at a time, so one field serves them all.
 */
abstract class OnGpu {

    static CudaBackend gpu;
    static final CpuBackend cpu = new CpuBackend();
    private static final Arena arena = Arena.ofShared();

    @BeforeAll
    static void openGpu() {
        Gpu.assumeGpu();
        gpu = new CudaBackend(0);
    }

    @AfterAll
    static void closeGpu() {
        if (gpu != null) {
            gpu.close();
            gpu = null;
        }
    }

    /** A host tensor of {@code type} holding {@code data} (rounded to the type). */
    static TensorData tensor(float[] data, DType type, long... shape) {
        MemorySegment seg = arena.allocate((long) data.length * type.bytes(), 8);
        for (int i = 0; i < data.length; i++) {
            switch (type) {
                case F32 -> seg.setAtIndex(ValueLayout.JAVA_FLOAT, i, data[i]);
                case F16 -> seg.setAtIndex(ValueLayout.JAVA_SHORT, i, Float.floatToFloat16(data[i]));
                case BF16 -> seg.setAtIndex(ValueLayout.JAVA_SHORT, i, Bf16.round(data[i]));
                default -> throw new IllegalArgumentException(type.toString());
            }
        }
        return new TensorData("t", type, shape, seg);
    }
}
