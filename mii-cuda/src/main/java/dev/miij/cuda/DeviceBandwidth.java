package dev.miij.cuda;

import java.lang.foreign.MemorySegment;

/**
 * The device memory bandwidth that decode is held to, measured on the spot: the best of five
 * device-to-device copies of a 2 GiB buffer (or a quarter of the free memory, if less), counting
 * the bytes read and the bytes written, as a pure read would move them. The roofline of a decode
 * step is the bytes it must read divided by this figure.
 *
 * <pre>{@code
 * double gbs = DeviceBandwidth.measure(gpu);   // ~4,200 GB/s on an H200
 * }</pre>
 */
public final class DeviceBandwidth {

    private DeviceBandwidth() {
    }

    /** GB/s (10^9 bytes) on {@code gpu}'s device; waits for its pending work first. */
    public static double measure(CudaBackend gpu) {
        gpu.synchronize(); // also makes the device's context current on this thread
        long free = CudaDriver.memInfo()[0];
        long bytes = Math.min(2L << 30, free / 4) & -4096L;
        if (bytes < (64L << 20)) {
            return Double.NaN;
        }
        long a = CudaDriver.memAlloc(bytes);
        long b = CudaDriver.memAlloc(bytes);
        MemorySegment start = CudaDriver.eventCreate();
        MemorySegment end = CudaDriver.eventCreate();
        MemorySegment stream = MemorySegment.NULL;
        try {
            CudaDriver.memsetAsync(a, (byte) 1, bytes, stream);
            double best = 0;
            for (int i = 0; i < 6; i++) {
                CudaDriver.eventRecord(start, stream);
                CudaDriver.copyDtoDAsync(b, a, bytes, stream);
                CudaDriver.eventRecord(end, stream);
                CudaDriver.eventSynchronize(end);
                float ms = CudaDriver.eventElapsed(start, end);
                if (i > 0) { // the first copy warms up
                    best = Math.max(best, 2.0 * bytes / (ms / 1e3) / 1e9);
                }
            }
            return best;
        } finally {
            CudaDriver.eventDestroy(start);
            CudaDriver.eventDestroy(end);
            CudaDriver.memFree(a);
            CudaDriver.memFree(b);
        }
    }
}
