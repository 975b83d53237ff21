package dev.miij.cuda;

import dev.miij.MiiException;
import dev.miij.backend.RaggedBatch;
import java.util.function.LongUnaryOperator;

/**
 * Chooses and launches the attention kernels of {@code attention.cu} for one layer of a step.
 *
 * <ul>
 *   <li>Rows of single-row sequences (decode) go to {@code attention_decode_d<D>}: one CTA per
 *       (row, KV head, split) covering the group's query heads, so each key is read once per row.
 *       The split count fills the SMs when rows x KV heads cannot ({@link #splits}); rows that
 *       need more than one split are combined by {@code attention_decode_merge}.
 *   <li>Sequences of several rows (prompt chunks) go to {@code attention_prefill_d<D>}, tiles of 64
 *       (row, query head) items per CTA. A mixed step launches both, each skipping the other's rows.
 *   <li>Groups of more than 16 query heads per KV head, or a GPU whose shared memory cannot hold two
 *       decode pipeline stages, send every row to the prefill kernel.
 * </ul>
 *
 * <p>A captured decode graph freezes the launch: its split count depends only on the bucket's rows
 * and the block tables' capacity, and each row's CTAs past the splits its own context needs exit
 * at once. The choices here are mirrored by {@code src/test/cuda/attention_bench.cu}.
 */
final class PagedAttention {

    /** Head sizes the kernels are built for; a head size runs on the smallest that holds it. */
    private static final int[] DIMS = {64, 80, 96, 128, 256};
    static final int MAX_HEAD_DIM = 256;
    /** Query items (row, head) per prefill CTA (ATTN_PREFILL_ITEMS). */
    private static final int PREFILL_ITEMS = 64;
    /** Keys per decode pipeline stage (ATTN_DECODE_TILE). */
    private static final int DECODE_TILE = 64;
    /** Query heads per KV head the decode kernel covers (the MMA's 16 rows). */
    private static final int MAX_DECODE_GROUP = 16;
    private static final int MAX_SPLITS = 64;
    private static final int THREADS = 128;

    private final CudaKernels kernels;
    private final int multiprocessors;
    private final CudaKernels.Kernel[] prefill = new CudaKernels.Kernel[DIMS.length];
    private final CudaKernels.Kernel[] decode = new CudaKernels.Kernel[DIMS.length];
    private final int[] decodeStages = new int[DIMS.length];
    private final int[] decodeCtasPerSm = new int[DIMS.length];
    private final CudaKernels.Kernel merge;

    // The plan of the last batch seen (per group size).
    private RaggedBatch planBatch;
    private int planGroup;
    private int decodeExtent;
    private int decodeRows;
    private boolean hasMulti;
    private int multiTiles;
    private int allTiles;
    private int maxSpan;
    private int planWindow;

    PagedAttention(CudaKernels kernels, int multiprocessors, int sharedPerBlock, int sharedPerSm) {
        this.kernels = kernels;
        this.multiprocessors = multiprocessors;
        for (int i = 0; i < DIMS.length; i++) {
            int d = DIMS[i];
            prefill[i] = kernels.kernel("attention_prefill_d" + d);
            decode[i] = kernels.kernel("attention_decode_d" + d);
            CudaKernels.allowSharedMemory(prefill[i], prefillShared(d));
            long q = 16L * (d + 8) * 2;
            long stage = 2L * DECODE_TILE * (d + 8) * 2;
            long two = Math.min(sharedPerBlock, sharedPerSm / 2 - 1024) - q;
            long one = sharedPerBlock - q;
            if (two / stage >= 2) {
                decodeStages[i] = (int) Math.min(4, two / stage);
                decodeCtasPerSm[i] = 2;
            } else if (one / stage >= 2) {
                decodeStages[i] = (int) Math.min(4, one / stage);
                decodeCtasPerSm[i] = 1;
            }
            if (decodeStages[i] > 0) {
                CudaKernels.allowSharedMemory(decode[i], decodeShared(d, decodeStages[i]));
            }
        }
        this.merge = kernels.kernel("attention_decode_merge");
    }

    private static int prefillKeys(int d) {
        return d > 128 ? 32 : 64;
    }

    private static int prefillShared(int d) {
        return (PREFILL_ITEMS + 2 * prefillKeys(d)) * (d + 8) * 2;
    }

    private static int decodeShared(int d, int stages) {
        return (16 + stages * 2 * DECODE_TILE) * (d + 8) * 2;
    }

    /** Index into DIMS of the kernels for {@code headDim}; throws for head sizes they cannot run. */
    static int dimIndex(int headDim) {
        if (headDim % 8 != 0 || headDim > MAX_HEAD_DIM || headDim <= 0) {
            throw MiiException.unsupported("head size " + headDim + ": the CUDA attention kernels take multiples of 8 up to "
                    + MAX_HEAD_DIM);
        }
        int i = 0;
        while (DIMS[i] < headDim) {
            i++;
        }
        return i;
    }

    /** Device addresses of the step's metadata (see {@link StepInputs}). */
    record Meta(long positions, long rowSeq, long seqStarts, int numSeqs, long tables, int tableStride) {
    }

    /**
     * Enqueues attention of {@code batch}'s rows. {@code frozen}: the launch is being captured into
     * a decode graph (every row a single-row sequence) and must not depend on the contexts.
     * {@code alibi} is a device array of one slope per query head, or 0; {@code workspace}
     * allocates step memory.
     */
    void run(long q, long out, long keys, long values, Meta meta, RaggedBatch batch, boolean frozen, int blockSize,
             int numHeads, int kvHeads, int headDim, int window, float scale, long alibi, float softCap,
             LongUnaryOperator workspace) {
        if (numHeads % kvHeads != 0) {
            throw new IllegalArgumentException(numHeads + " query heads over " + kvHeads + " KV heads");
        }
        int di = dimIndex(headDim);
        int group = numHeads / kvHeads;
        plan(batch, group, window);
        boolean useDecode = group <= MAX_DECODE_GROUP && decodeStages[di] >= 2;
        if (!useDecode) {
            launchPrefill(di, allTiles, 0, q, out, keys, values, meta, blockSize, numHeads, kvHeads, headDim, window, scale,
                    alibi, softCap);
            return;
        }
        if (decodeExtent > 0) {
            int span = maxSpan;
            if (frozen) {
                long capacity = (long) meta.tableStride() * blockSize;
                span = (int) Math.min(Integer.MAX_VALUE, window > 0 ? Math.min(capacity, window) : capacity);
            }
            int splits = splits(decodeRows, kvHeads, span, decodeCtasPerSm[di]);
            int onlySingle = hasMulti ? 1 : 0;
            long partial = splits > 1 ? workspace.applyAsLong(4L * decodeExtent * numHeads * splits * (headDim + 2)) : 0;
            kernels.args().ptr(q).ptr(out).ptr(partial).ptr(keys).ptr(values).ptr(meta.positions()).ptr(meta.rowSeq())
                    .ptr(meta.seqStarts()).ptr(meta.tables()).i32(meta.tableStride()).i32(blockSize).i32(numHeads)
                    .i32(kvHeads).i32(headDim).i32(window).f32(scale).f32(softCap).ptr(alibi).i32(splits)
                    .i32(decodeStages[di]).i32(onlySingle)
                    .run3(decode[di], decodeExtent, kvHeads, splits, THREADS, decodeShared(DIMS[di], decodeStages[di]));
            if (splits > 1) {
                kernels.args().ptr(partial).ptr(out).ptr(meta.positions()).ptr(meta.rowSeq()).ptr(meta.seqStarts())
                        .i32(numHeads).i32(headDim).i32(window).i32(splits).i32(onlySingle)
                        .run(merge, decodeExtent, numHeads, Math.min(1024, (headDim + 31) / 32 * 32));
            }
        }
        if (hasMulti) {
            launchPrefill(di, multiTiles, 1, q, out, keys, values, meta, blockSize, numHeads, kvHeads, headDim, window, scale,
                    alibi, softCap);
        }
    }

    private void launchPrefill(int di, int tiles, int skipSingle, long q, long out, long keys, long values, Meta meta,
                               int blockSize, int numHeads, int kvHeads, int headDim, int window, float scale, long alibi,
                               float softCap) {
        kernels.args().ptr(q).ptr(out).ptr(keys).ptr(values).ptr(meta.positions()).ptr(meta.seqStarts())
                .i32(meta.numSeqs()).ptr(meta.tables()).i32(meta.tableStride()).i32(blockSize).i32(numHeads).i32(kvHeads)
                .i32(headDim).i32(window).f32(scale).f32(softCap).ptr(alibi).i32(skipSingle)
                .run3(prefill[di], tiles, kvHeads, 1, THREADS, prefillShared(DIMS[di]));
    }

    /**
     * Splits per (row, KV head) for {@code rows} decode rows: enough CTAs to fill the SMs
     * ({@code ctasPerSm} resident each), never more than the longest row's 64-key tiles, at most
     * {@value #MAX_SPLITS}; 1 (no merge) when the rows alone fill the GPU.
     */
    int splits(int rows, int kvHeads, int span, int ctasPerSm) {
        int s = Math.max(1, ctasPerSm * multiprocessors / Math.max(1, rows * kvHeads));
        s = Math.min(s, (span + DECODE_TILE - 1) / DECODE_TILE);
        return Math.max(1, Math.min(s, MAX_SPLITS));
    }

    /** Which rows go to which kernel, once per batch and group size. */
    private void plan(RaggedBatch batch, int group, int window) {
        if (batch == planBatch && group == planGroup && window == planWindow) {
            return;
        }
        int[] starts = batch.seqStarts();
        int[] positions = batch.positions();
        decodeExtent = 0;
        decodeRows = 0;
        hasMulti = false;
        multiTiles = 0;
        allTiles = 0;
        maxSpan = 1;
        for (int s = 0; s < batch.numSeqs(); s++) {
            int rows = starts[s + 1] - starts[s];
            int tiles = (int) (((long) rows * group + PREFILL_ITEMS - 1) / PREFILL_ITEMS);
            allTiles += tiles;
            if (rows == 1) {
                decodeExtent = starts[s] + 1;
                decodeRows++;
                int len = positions[starts[s]] + 1;
                maxSpan = Math.max(maxSpan, window > 0 ? Math.min(len, window) : len);
            } else {
                hasMulti = true;
                multiTiles += tiles;
            }
        }
        planBatch = batch;
        planGroup = group;
        planWindow = window;
    }
}
