package dev.miij.cuda;

import java.util.ArrayList;
import java.util.List;

/**
 * Device memory for one step's activations and metadata: a bump allocator over one slab, reset at
 * each step. A step that needs more than the slab gets extra allocations, and the next reset
 * replaces slab and extras with one slab big enough for both, so after the first steps of a given
 * size no step allocates device memory.
 */
final class Workspace implements AutoCloseable {

    private static final long ALIGN = 256;

    private long slab;
    private long slabBytes;
    private long cursor;
    private final List<Long> extras = new ArrayList<>();
    private long extraBytes;
    private int generation;

    Workspace(long bytes) {
        slabBytes = bytes;
        slab = CudaDriver.memAlloc(bytes);
    }

    long alloc(long bytes) {
        long size = (Math.max(bytes, 1) + ALIGN - 1) & -ALIGN;
        if (cursor + size <= slabBytes) {
            long p = slab + cursor;
            cursor += size;
            return p;
        }
        long p = CudaDriver.memAlloc(size);
        extras.add(p);
        extraBytes += size;
        return p;
    }

    /**
     * Takes everything handed out back. Growing the slab frees memory the stream may still read, so
     * {@code drain} (which waits for the stream) runs first in that case.
     */
    void reset(Runnable drain) {
        if (!extras.isEmpty()) {
            drain.run();
            for (long p : extras) {
                CudaDriver.memFree(p);
            }
            extras.clear();
            CudaDriver.memFree(slab);
            slabBytes = ((slabBytes + extraBytes) * 5 / 4 + ALIGN - 1) & -ALIGN;
            slab = CudaDriver.memAlloc(slabBytes);
            extraBytes = 0;
            generation++;
        }
        cursor = 0;
    }

    /** Changes whenever the slab moves: device addresses handed out before are then stale. */
    int generation() {
        return generation;
    }

    long slabBytes() {
        return slabBytes;
    }

    @Override
    public void close() {
        for (long p : extras) {
            CudaDriver.memFree(p);
        }
        extras.clear();
        CudaDriver.memFree(slab);
    }
}
