package dev.miij.cuda;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import dev.miij.backend.RaggedBatch;
import dev.miij.backend.SamplingParams;
import java.lang.foreign.MemorySegment;

/**
 * A step's inputs on the device: tokens, slots, positions, each row's sequence, each sequence's
 * first row, the logit rows, the sampling parameters and the block tables, packed into one
 * page-locked buffer and copied to one device buffer in a single copy. The device buffer stays at
 * one address as long as it is big enough, which is what lets a captured graph read each step's
 * inputs from it.
 *
 * <p>A step may be padded to more rows than its batch has (a graph's bucket): padding rows carry
 * token 0, slot -1 (nothing is written to the cache), position 0, a sequence of their own whose
 * block table is all block 0, and greedy sampling; their results are dropped.
 */
final class StepInputs implements AutoCloseable {

    /** Words of one row's sampling parameters (see sample.cu). */
    static final int PARAM_WORDS = 8;
    /** End-of-sequence ids the device sampler masks at most. */
    static final int MAX_EOS = 16;

    private final MemorySegment stream;
    private MemorySegment host;
    private long device;
    private long capacity;
    private int generation;

    // Device addresses of the parts, valid after pack().
    long tokens;
    long slots;
    long positions;
    long rowSeq;
    /** Each sequence's first row, then the row count: numSeqs + 1 ints (padding rows are sequences of one row). */
    long seqStarts;
    /** Sequences in the packed step, padding included. */
    int numSeqs;
    long logitRows;
    long params;
    long tables;
    /** Ints per block-table row. */
    int tableStride;

    StepInputs(MemorySegment stream) {
        this.stream = stream;
        grow(64 << 10);
    }

    private void grow(long bytes) {
        if (host != null) {
            CudaDriver.streamSynchronize(stream);
            CudaDriver.hostFree(host);
            CudaDriver.memFree(device);
        }
        capacity = bytes;
        host = CudaDriver.hostAlloc(bytes);
        device = CudaDriver.memAlloc(bytes);
        generation++;
    }

    /** Changes whenever the device buffer moves. */
    int generation() {
        return generation;
    }

    /**
     * Packs {@code batch} padded to {@code rows} rows (and as many sequences and logit rows when it is
     * padded), with block tables {@code stride} ints wide, and enqueues the copy. The previous step's
     * copy from the host buffer must have completed (the caller synchronises).
     */
    void pack(RaggedBatch batch, SamplingParams[] sampling, int[] eosIds, int rows, int stride) {
        int realRows = batch.numRows();
        boolean padded = rows > realRows;
        int seqs = padded ? rows : batch.numSeqs();
        int logits = padded ? rows : batch.logitRows().length;
        long words = 4L * rows + seqs + 1 + logits + (long) logits * PARAM_WORDS + 1 + MAX_EOS + (long) seqs * stride;
        long bytes = ((4 * words + 255) & ~255L);
        if (bytes > capacity) {
            grow(Math.max(bytes, capacity * 2));
        }
        MemorySegment h = host;
        int at = 0;
        tokens = device;
        at = ints(h, at, batch.tokens(), rows, 0);
        slots = device + 4L * at;
        at = ints(h, at, batch.slots(), rows, -1);
        positions = device + 4L * at;
        at = ints(h, at, batch.positions(), rows, 0);
        rowSeq = device + 4L * at;
        int[] starts = batch.seqStarts();
        for (int s = 0; s < batch.numSeqs(); s++) {
            for (int r = starts[s]; r < starts[s + 1]; r++) {
                h.setAtIndex(JAVA_INT, at + r, s);
            }
        }
        for (int r = realRows; r < rows; r++) {
            h.setAtIndex(JAVA_INT, at + r, r);
        }
        at += rows;
        seqStarts = device + 4L * at;
        numSeqs = seqs;
        for (int s = 0; s <= batch.numSeqs(); s++) {
            h.setAtIndex(JAVA_INT, at + s, starts[s]);
        }
        for (int s = batch.numSeqs() + 1; s <= seqs; s++) {
            h.setAtIndex(JAVA_INT, at + s, starts[batch.numSeqs()] + s - batch.numSeqs());
        }
        at += seqs + 1;
        logitRows = device + 4L * at;
        int[] lr = batch.logitRows();
        for (int i = 0; i < logits; i++) {
            h.setAtIndex(JAVA_INT, at + i, i < lr.length ? lr[i] : i);
        }
        at += logits;
        params = device + 4L * at;
        for (int i = 0; i < logits; i++) {
            writeParams(h, at + i * PARAM_WORDS, sampling != null && i < sampling.length ? sampling[i] : SamplingParams.GREEDY);
        }
        at += logits * PARAM_WORDS;
        int eos = eosIds == null ? 0 : Math.min(eosIds.length, MAX_EOS);
        h.setAtIndex(JAVA_INT, at, eos);
        for (int i = 0; i < MAX_EOS; i++) {
            h.setAtIndex(JAVA_INT, at + 1 + i, i < eos ? eosIds[i] : -1);
        }
        at += 1 + MAX_EOS;
        tables = device + 4L * at;
        tableStride = stride;
        h.asSlice(4L * at, 4L * seqs * stride).fill((byte) 0);
        int[][] bt = batch.blockTables();
        for (int s = 0; s < bt.length; s++) {
            MemorySegment.copy(bt[s], 0, h, JAVA_INT, 4L * (at + (long) s * stride), Math.min(bt[s].length, stride));
        }
        at += seqs * stride;
        CudaDriver.copyHtoDAsync(device, h, 4L * at, stream);
    }

    private static int ints(MemorySegment h, int at, int[] values, int rows, int pad) {
        MemorySegment.copy(values, 0, h, JAVA_INT, 4L * at, values.length);
        for (int r = values.length; r < rows; r++) {
            h.setAtIndex(JAVA_INT, at + r, pad);
        }
        return at + rows;
    }

    static void writeParams(MemorySegment h, int at, SamplingParams p) {
        h.setAtIndex(JAVA_INT, at, (p.greedy() ? 1 : 0) | (p.suppressEos() ? 2 : 0));
        h.setAtIndex(JAVA_INT, at + 1, Float.floatToRawIntBits((float) p.temperature()));
        h.setAtIndex(JAVA_INT, at + 2, p.topK());
        h.setAtIndex(JAVA_INT, at + 3, Float.floatToRawIntBits((float) p.topP()));
        h.setAtIndex(JAVA_INT, at + 4, (int) p.seed());
        h.setAtIndex(JAVA_INT, at + 5, (int) (p.seed() >>> 32));
        h.setAtIndex(JAVA_INT, at + 6, p.step());
        h.setAtIndex(JAVA_INT, at + 7, 0);
    }

    @Override
    public void close() {
        CudaDriver.hostFree(host);
        CudaDriver.memFree(device);
    }
}
