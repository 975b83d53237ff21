package dev.miij.cuda;

import java.lang.foreign.MemorySegment;
import java.util.function.Supplier;

/**
 * Where a replayed decode step's time goes (-Dmii.cuda.replayTiming=true): the GPU time of the graph
 * (events around its launch), the wall time from launch to sampled tokens on the host, and the host
 * time between the previous step's tokens and this launch, in which the GPU has nothing to do.
 */
final class ReplayTiming {

    // Created at the first step, where the backend's context is current.
    private MemorySegment start;
    private MemorySegment end;
    private long lastReturn;
    private double gpuMs;
    private double stepMs;
    private double gapMs;
    private long steps;
    private long gaps;

    int[] time(MemorySegment stream, Supplier<int[]> launchAndRead) {
        if (start == null) {
            start = CudaDriver.eventCreate();
            end = CudaDriver.eventCreate();
        }
        long t0 = System.nanoTime();
        if (lastReturn != 0) {
            gapMs += (t0 - lastReturn) / 1e6;
            gaps++;
        }
        CudaDriver.eventRecord(start, stream);
        int[] tokens = launchAndRead.get();
        CudaDriver.eventRecord(end, stream);
        CudaDriver.eventSynchronize(end);
        long t1 = System.nanoTime();
        gpuMs += CudaDriver.eventElapsed(start, end);
        stepMs += (t1 - t0) / 1e6;
        steps++;
        lastReturn = t1;
        return tokens;
    }

    String report() {
        return String.format("replayed decode steps: %d; GPU %.3f ms, launch to tokens %.3f ms, host between steps %.3f ms"
                + " (means; the gap includes requests finishing and starting)", steps, gpuMs / Math.max(1, steps),
                stepMs / Math.max(1, steps), gapMs / Math.max(1, gaps));
    }
}
