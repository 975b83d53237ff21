package dev.miij.cuda;

import java.lang.foreign.MemorySegment;

/**
 * A ring of page-locked host memory through which every host-device copy goes, so copies run
 * asynchronously on the stream. A slice handed out stays untouched until the stream has consumed it:
 * when the ring wraps, the stream is synchronised first.
 */
final class PinnedStaging implements AutoCloseable {

    private final MemorySegment stream;
    private MemorySegment ring;
    private long cursor;

    PinnedStaging(long bytes, MemorySegment stream) {
        this.stream = stream;
        this.ring = CudaDriver.hostAlloc(bytes);
    }

    long capacity() {
        return ring.byteSize();
    }

    /** {@code bytes} (at most the capacity) of pinned memory that may be filled now. */
    MemorySegment take(long bytes) {
        if (bytes > ring.byteSize()) {
            throw new IllegalArgumentException(bytes + " bytes exceed the staging ring of " + ring.byteSize());
        }
        if (cursor + bytes > ring.byteSize()) {
            CudaDriver.streamSynchronize(stream);
            cursor = 0;
        }
        MemorySegment s = ring.asSlice(cursor, bytes);
        cursor = (cursor + bytes + 255) & ~255L;
        return s;
    }

    /** The stream has been synchronised: all of the ring is free again. */
    void drained() {
        cursor = 0;
    }

    @Override
    public void close() {
        CudaDriver.hostFree(ring);
    }
}
