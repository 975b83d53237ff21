package dev.miij.cuda;

import dev.miij.backend.RaggedBatch;
import dev.miij.backend.SamplingParams;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.logging.Logger;

/**
 * CUDA graphs of pure-decode steps (every sequence contributes one row, and the step ends in device
 * sampling), one per (bucket, block-table stride): buckets are powers of two up to
 * {@link #MAX_BUCKET} rows, and a step of fewer rows runs its bucket's graph with padding rows.
 *
 * <p>A bucket is captured on its second step of exactly bucket rows: the first runs eagerly, which
 * creates the GEMM plans, grows the workspace and uploads the rotary frequencies, none of which may
 * happen during a capture. A graph stays valid while the workspace slab and the step-input buffer
 * stay where they were when it was captured; when either moves, every graph is dropped and
 * captured again. A forward pass that reads results back in the middle of a step (an MoE router on
 * the host) cannot be captured: graphs are then switched off for good.
 */
final class DecodeGraphs implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(DecodeGraphs.class.getName());
    static final int MAX_BUCKET = 256;

    private record Key(int bucket, int stride) {
    }

    private final Map<Key, MemorySegment> execs = new HashMap<>();
    private final Set<Key> warmedUp = new HashSet<>();
    private final boolean enabled;
    private boolean disabled;
    private int workspaceGeneration = -1;
    private int inputsGeneration = -1;
    private Key capturing;

    DecodeGraphs(boolean enabled) {
        this.enabled = enabled;
    }

    /** The bucket this step can replay or capture in; 0 when it must run eagerly. */
    int bucketFor(RaggedBatch batch, SamplingParams[] sampling) {
        int rows = batch.numRows();
        if (!enabled || disabled || sampling == null || rows > MAX_BUCKET || rows != batch.numSeqs()
                || batch.logitRows().length != rows) {
            return 0;
        }
        for (int i = 0; i < rows; i++) {
            if (batch.logitRows()[i] != i) {
                return 0;
            }
        }
        return Integer.highestOneBit(rows) == rows ? rows : Integer.highestOneBit(rows) << 1;
    }

    /** Drops every graph when the memory they read has moved. */
    void checkAddresses(int workspaceGen, int inputsGen) {
        if (workspaceGen != workspaceGeneration || inputsGen != inputsGeneration) {
            clear();
            workspaceGeneration = workspaceGen;
            inputsGeneration = inputsGen;
        }
    }

    MemorySegment graph(int bucket, int stride) {
        return execs.get(new Key(bucket, stride));
    }

    /** Whether a step of exactly {@code bucket} rows should be captured now; notes a warm-up if not. */
    boolean shouldCapture(int bucket, int stride) {
        Key k = new Key(bucket, stride);
        if (warmedUp.contains(k)) {
            return true;
        }
        warmedUp.add(k);
        return false;
    }

    void beginCapture(int bucket, int stride, MemorySegment stream) {
        capturing = new Key(bucket, stride);
        CudaDriver.streamBeginCapture(stream);
    }

    /** Ends the capture in progress and keeps its instantiated graph, uploaded to the device. */
    MemorySegment endCapture(MemorySegment stream) {
        MemorySegment graph = CudaDriver.streamEndCapture(stream);
        MemorySegment exec = CudaDriver.graphInstantiate(graph);
        CudaDriver.graphDestroy(graph);
        CudaDriver.graphUpload(exec, stream);
        execs.put(capturing, exec);
        LOG.fine("captured the decode graph of " + capturing.bucket + " rows, block tables of " + capturing.stride);
        capturing = null;
        return exec;
    }

    /** A step that could have been captured read results back mid-step: no graphs from now on. */
    void disable() {
        if (!disabled) {
            LOG.info("this model reads results back within a step, or shares its stream with collectives;"
                    + " decode steps run without CUDA graphs");
        }
        disabled = true;
        clear();
    }

    private void clear() {
        for (MemorySegment e : execs.values()) {
            CudaDriver.graphExecDestroy(e);
        }
        execs.clear();
        warmedUp.clear();
    }

    @Override
    public void close() {
        clear();
    }
}
