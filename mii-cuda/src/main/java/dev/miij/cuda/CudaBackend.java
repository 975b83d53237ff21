package dev.miij.cuda;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

import dev.miij.MiiException;
import dev.miij.arch.Rope;
import dev.miij.arch.TransformerSpec.Activation;
import dev.miij.backend.Backend;
import dev.miij.backend.Experts;
import dev.miij.backend.KvCache;
import dev.miij.backend.RaggedBatch;
import dev.miij.backend.SamplingParams;
import dev.miij.backend.Tensor;
import dev.miij.backend.Weight;
import dev.miij.model.DType;
import dev.miij.model.TensorData;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.logging.Logger;

/**
 * The CUDA backend: BF16 weights, activations and KV cache in device memory, GEMMs through cuBLASLt
 * (FP32 accumulation), everything else through MII-J's own kernels, all enqueued on one stream.
 * Only {@link #toHost} waits for the GPU.
 *
 * <p>Fusions happen behind the operation-at-a-time SPI by deferring an operation until the next one
 * shows whether they can run as one kernel; every other operation first flushes whatever is pending:
 * <ul>
 *   <li>an {@link #add} followed by an {@link #rmsNorm} (or {@link #layerNorm}) of the same tensor:
 *       residual add + norm;</li>
 *   <li>a {@link #rope} of the queries and one of the keys followed by {@link #storeKv} of those
 *       keys: both rotations and the write to the paged cache;</li>
 *   <li>at decode sizes (GEMV), a projection followed by {@link #add} of its output into another
 *       tensor (the residual stream): the GEMV adds as it writes; gate/up projections followed by
 *       {@link #activationMul} of their outputs: the GEMV computes act(gate) * up. A decode layer of
 *       a Llama-like model is then nine kernels: norm, q/k/v, rope + KV store, attention (two),
 *       o + residual, norm, gate/up + SiLU, down + residual.</li>
 * </ul>
 *
 * <p>A step begun with {@link #beginStep(RaggedBatch, SamplingParams[])} has its inputs uploaded in
 * one copy ({@link StepInputs}); pure-decode steps that end in {@link #sample} replay a CUDA graph
 * of their bucket ({@link DecodeGraphs}): the operations of such a step enqueue nothing, and
 * {@code sample} launches the graph. At one to {@value #GEMV_MAX_ROWS} rows, projections run
 * through MII-J's GEMV kernel (q/k/v and gate/up as one launch each) instead of cuBLASLt.
 *
 * <p>A backend serves one thread at a time (the engine's step thread); it makes the device's primary
 * context current on whichever thread calls it.
 */
public final class CudaBackend implements Backend {

    private static final Logger LOG = Logger.getLogger(CudaBackend.class.getName());
    private static final long STAGING_BYTES = 16L << 20;
    private static final long WORKSPACE_BYTES = 64L << 20;
    private static final long GEMM_WORKSPACE_BYTES = 32L << 20;
    static final int GEMV_MAX_ROWS = 8;
    private static final int GEMV_WARPS = 8;
    /** gemv.cu's activation codes (GEMV_ACT_*). */
    private static final int GEMV_ACT_SILU = 1;
    private static final int GEMV_ACT_GELU_TANH = 2;
    private static final int GEMV_ACT_GELU = 3;
    private static final int SAMPLE_THREADS = 1024;

    /** How the operations of the current step run. */
    private enum Mode { EAGER, CAPTURE, REPLAY }
    private static final long HEADROOM_BYTES = 512L << 20;

    private final int ordinal;
    private final int device;
    private final MemorySegment context;
    private final MemorySegment stream;
    private final String deviceName;
    private final int multiprocessors;
    private final ThreadLocal<Boolean> contextCurrent = ThreadLocal.withInitial(() -> false);
    private final CudaKernels kernels;
    private final CudaKernels.Kernel embedRows;
    private final CudaKernels.Kernel rmsNormK;
    private final CudaKernels.Kernel addRmsNorm;
    private final CudaKernels.Kernel ropeRows;
    private final CudaKernels.Kernel ropeStoreKv;
    private final PagedAttention pagedAttention;
    private final CudaKernels.Kernel siluMul;
    private final CudaKernels.Kernel geluTanhMul;
    private final CudaKernels.Kernel geluMul;
    private final CudaKernels.Kernel gatherRowsK;
    private final CudaKernels.Kernel scatterAddRowsK;
    private final CudaKernels.Kernel addInplace;
    private final CudaKernels.Kernel addBias;
    private final CudaKernels.Kernel ropeTablesK;
    /** With -Dmii.cuda.replayTiming=true: GPU time and host gaps of replayed decode steps. */
    private final ReplayTiming replayTiming = Boolean.getBoolean("mii.cuda.replayTiming") ? new ReplayTiming() : null;
    /** gemv.cu's kernels for 1 to 8 rows, plain and with the gate/up activation. */
    private final CudaKernels.Kernel[] gemvKernels;
    private final CudaKernels.Kernel[] gemvActKernels;
    private final CudaKernels.Kernel sampleTokens;
    private final FamilyKernels family;
    private final CudaMoe moe;
    private final boolean useGemv = !Boolean.getBoolean("mii.cuda.noGemv");
    private final StepInputs inputs;
    private final DecodeGraphs graphs;
    private final Map<Rope, Long> invFreqs = new IdentityHashMap<>();
    private final Map<float[], Long> alibiSlopes = new IdentityHashMap<>();
    private final long sampledDevice;
    private final MemorySegment sampledHost;
    private final long gemmWorkspace;
    private final CublasLt blas;
    private final PinnedStaging staging;
    private final Workspace workspace;
    private final Map<Long, Long> owned = new LinkedHashMap<>();
    private long ownedBytes;
    private final Set<DType> convertedTypes = EnumSet.noneOf(DType.class);

    // Deferred operations awaiting a possible fusion partner (see the class comment).
    private PendingGemv pendingGemv;
    private CudaTensor pendingRopeQ;
    private CudaTensor pendingAddX;
    private CudaTensor pendingAddY;
    private CudaTensor pendingRope;
    private CudaTensor pendingCos;
    private CudaTensor pendingSin;
    private int pendingHeadDim;

    // The current step (beginStep(batch, sampling)).
    private Mode mode = Mode.EAGER;
    private SamplingParams[] stepSampling;
    private int stepBucket;
    private int packedLogitRows;
    private int[] packedEos = new int[0];
    private boolean stepSynced = true;

    // The step's batch metadata on the device, uploaded once per batch.
    private RaggedBatch metaBatch;
    private long metaSlots;
    private long metaPositions;
    private long metaRowSeq;
    private long metaSeqStarts;
    private int metaNumSeqs;
    private long metaTables;
    private int metaMaxBlocks;

    public CudaBackend(int ordinal) {
        this.ordinal = ordinal;
        int count = CudaDriver.deviceCount();
        if (ordinal < 0 || ordinal >= count) {
            throw MiiException.invalid("no CUDA device " + ordinal + " (this machine has " + count + ")");
        }
        this.device = CudaDriver.device(ordinal);
        this.context = CudaDriver.primaryContextRetain(device);
        CudaDriver.setCurrent(context);
        contextCurrent.set(true);
        this.deviceName = CudaDriver.deviceName(device);
        int major = CudaDriver.deviceAttribute(device, CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR);
        int minor = CudaDriver.deviceAttribute(device, CudaDriver.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR);
        if (major < 8) {
            throw MiiException.unsupported(deviceName + " is sm_" + major + minor + "; the CUDA backend needs sm_80 or newer (BF16)");
        }
        this.multiprocessors = CudaDriver.deviceAttribute(device, CudaDriver.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT);
        this.stream = CudaDriver.streamCreate();
        this.kernels = new CudaKernels(major, minor, stream);
        this.embedRows = kernels.kernel("embed_rows");
        this.rmsNormK = kernels.kernel("rms_norm");
        this.addRmsNorm = kernels.kernel("add_rms_norm");
        this.ropeRows = kernels.kernel("rope_rows");
        this.ropeStoreKv = kernels.kernel("rope_store_kv");
        this.pagedAttention = new PagedAttention(kernels, multiprocessors,
                CudaDriver.deviceAttribute(device, CudaDriver.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN),
                CudaDriver.deviceAttribute(device, CudaDriver.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR));
        this.siluMul = kernels.kernel("silu_mul");
        this.geluTanhMul = kernels.kernel("gelu_tanh_mul");
        this.geluMul = kernels.kernel("gelu_mul");
        this.gatherRowsK = kernels.kernel("gather_rows");
        this.scatterAddRowsK = kernels.kernel("scatter_add_rows");
        this.addInplace = kernels.kernel("add_inplace");
        this.addBias = kernels.kernel("add_bias");
        this.ropeTablesK = kernels.kernel("rope_tables");
        this.gemvKernels = new CudaKernels.Kernel[GEMV_MAX_ROWS];
        this.gemvActKernels = new CudaKernels.Kernel[GEMV_MAX_ROWS];
        for (int r = 1; r <= GEMV_MAX_ROWS; r++) {
            gemvKernels[r - 1] = kernels.kernel("gemv_r" + r);
            gemvActKernels[r - 1] = kernels.kernel("gemv_act_r" + r);
        }
        this.sampleTokens = kernels.kernel("sample_tokens");
        this.family = FamilyKernels.load(kernels);
        this.moe = new CudaMoe(this, kernels);
        this.gemmWorkspace = CudaDriver.memAlloc(GEMM_WORKSPACE_BYTES);
        this.blas = new CublasLt(gemmWorkspace, GEMM_WORKSPACE_BYTES);
        this.staging = new PinnedStaging(STAGING_BYTES, stream);
        this.workspace = new Workspace(WORKSPACE_BYTES);
        this.inputs = new StepInputs(stream);
        this.graphs = new DecodeGraphs(!Boolean.getBoolean("mii.cuda.noGraphs") && !CudaKernels.PROFILE);
        this.sampledDevice = CudaDriver.memAlloc(4L * DecodeGraphs.MAX_BUCKET * 4);
        this.sampledHost = CudaDriver.hostAlloc(4L * DecodeGraphs.MAX_BUCKET * 4);
        LOG.info(String.format("CUDA device %d: %s (sm_%d%d, %d SMs), kernels from %s", ordinal, deviceName, major, minor,
                multiprocessors, kernels.origin()));
    }

    @Override
    public String name() {
        return "cuda";
    }

    /** The GPU's name, e.g. "NVIDIA H200". */
    public String deviceName() {
        return deviceName;
    }

    public int ordinal() {
        return ordinal;
    }

    private void current() {
        if (!contextCurrent.get()) {
            CudaDriver.setCurrent(context);
            contextCurrent.set(true);
        }
    }

    // ---- Memory ----

    private long allocOwned(long bytes) {
        long size = Math.max(bytes, 2);
        long p = CudaDriver.memAlloc(size);
        owned.put(p, size);
        ownedBytes += size;
        return p;
    }

    void free(long ptr) {
        current();
        Long size = owned.remove(ptr);
        if (size != null) {
            ownedBytes -= size;
            CudaDriver.streamSynchronize(stream);
            CudaDriver.memFree(ptr);
        }
    }

    void copyOnDevice(long dst, long src, long bytes) {
        current();
        flush();
        CudaDriver.copyDtoDAsync(dst, src, bytes, stream);
    }

    /** Fills device memory {@code dst} with {@code bytes} bytes that {@code fill} writes, chunk by chunk. */
    private void toDevice(long dst, long bytes, ChunkFiller fill) {
        long chunk = staging.capacity() / 2;
        for (long off = 0; off < bytes; off += chunk) {
            long n = Math.min(chunk, bytes - off);
            MemorySegment s = staging.take(n);
            fill.fill(s, off);
            CudaDriver.copyHtoDAsync(dst + off, s, n, stream);
        }
    }

    @FunctionalInterface
    private interface ChunkFiller {
        /** Writes destination bytes [from, from + dst.byteSize()) into dst. */
        void fill(MemorySegment dst, long from);
    }

    /** Copies a checkpoint tensor to the device as BF16, converting F32 and F16 on the way. */
    private void tensorToDevice(TensorData t, long dst) {
        MemorySegment src = t.data();
        long bytes = 2 * t.size();
        switch (t.dtype()) {
            case BF16 -> toDevice(dst, bytes, (d, from) -> MemorySegment.copy(src, from, d, 0, d.byteSize()));
            case F32 -> {
                noteConversion(t.dtype());
                toDevice(dst, bytes, (d, from) -> {
                    long n = d.byteSize() / 2;
                    long base = from * 2;
                    for (long i = 0; i < n; i++) {
                        d.set(JAVA_SHORT_UNALIGNED, 2 * i, Bf16.round(src.get(JAVA_FLOAT_UNALIGNED, base + 4 * i)));
                    }
                });
            }
            case F16 -> {
                noteConversion(t.dtype());
                toDevice(dst, bytes, (d, from) -> {
                    long n = d.byteSize() / 2;
                    for (long i = 0; i < n; i++) {
                        float f = Float.float16ToFloat(src.get(JAVA_SHORT_UNALIGNED, from + 2 * i));
                        d.set(JAVA_SHORT_UNALIGNED, 2 * i, Bf16.round(f));
                    }
                });
            }
            default -> throw MiiException.unsupported("tensor " + t.name() + " is " + t.dtype()
                    + "; the CUDA backend runs F32, F16 and BF16 checkpoints");
        }
    }

    private void noteConversion(DType type) {
        if (convertedTypes.add(type)) {
            LOG.info("the checkpoint holds " + type + " tensors: converting them to BF16 while loading them onto the GPU");
        }
    }

    private long uploadInts(int[] values) {
        long dst = workspace.alloc(4L * values.length);
        toDevice(dst, 4L * values.length, (d, from) ->
                MemorySegment.copy(values, (int) (from / 4), d, JAVA_INT, 0, (int) (d.byteSize() / 4)));
        return dst;
    }

    private long uploadFloats(float[] values) {
        long dst = workspace.alloc(4L * values.length);
        toDevice(dst, 4L * values.length, (d, from) ->
                MemorySegment.copy(values, (int) (from / 4), d, JAVA_FLOAT, 0, (int) (d.byteSize() / 4)));
        return dst;
    }

    // ---- Backend: memory ----

    @Override
    public void beginStep() {
        current();
        flush();
        if (mode != Mode.EAGER) {
            throw new IllegalStateException("the previous step was captured or replayed but never sampled");
        }
        if (!stepSynced) {
            // The step-input buffer on the host may still be read by the last step's copy.
            CudaDriver.streamSynchronize(stream);
            staging.drained();
            stepSynced = true;
        }
        metaBatch = null;
        stepSampling = null;
        stepBucket = 0;
        workspace.reset(() -> CudaDriver.streamSynchronize(stream));
    }

    @Override
    public void beginStep(RaggedBatch batch, SamplingParams[] sampling) {
        beginStep();
        // Penalties read each sequence's token history and log-probabilities are computed from the host's
        // copy of the logits: those steps sample on the host, so no graph.
        int bucket = hostSampled(sampling) ? 0 : graphs.bucketFor(batch, sampling);
        int maxBlocks = 1;
        for (int[] t : batch.blockTables()) {
            maxBlocks = Math.max(maxBlocks, t.length);
        }
        // A graph freezes the block-table stride: round it up so a growing context rarely needs a new one.
        int stride = bucket > 0 ? Integer.highestOneBit(maxBlocks - 1) << 1 : maxBlocks;
        stride = Math.max(stride, 1);
        int rows = bucket > 0 ? bucket : batch.numRows();
        inputs.pack(batch, sampling, packedEos, rows, stride);
        stepSynced = false;
        graphs.checkAddresses(workspace.generation(), inputs.generation());
        metaBatch = batch;
        metaSlots = inputs.slots;
        metaPositions = inputs.positions;
        metaRowSeq = inputs.rowSeq;
        metaSeqStarts = inputs.seqStarts;
        metaNumSeqs = inputs.numSeqs;
        metaTables = inputs.tables;
        metaMaxBlocks = stride;
        stepSampling = sampling;
        stepBucket = bucket;
        packedLogitRows = bucket > 0 ? bucket : batch.logitRows().length;
        if (bucket > 0) {
            if (graphs.graph(bucket, stride) != null) {
                mode = Mode.REPLAY;
            } else if (bucket == batch.numRows() && graphs.shouldCapture(bucket, stride)) {
                graphs.beginCapture(bucket, stride, stream);
                mode = Mode.CAPTURE;
            }
        }
    }

    /** Whether a step's rows are sampled on the host: some row has penalties or asks for log-probabilities. */
    private static boolean hostSampled(SamplingParams[] sampling) {
        if (sampling != null) {
            for (SamplingParams p : sampling) {
                if (p.penalties() != null || p.wantsLogprobs()) {
                    return true;
                }
            }
        }
        return false;
    }

    private boolean replaying() {
        return mode == Mode.REPLAY;
    }

    /**
     * The start of an operation that fuses with nothing: makes the context current and launches
     * whatever is pending; false while a graph is replayed (the operation then enqueues nothing).
     */
    private boolean beginOperation() {
        current();
        if (replaying()) {
            return false;
        }
        flush();
        return true;
    }

    @Override
    public Weight weight(TensorData matrix) {
        current();
        if (matrix.rank() != 2) {
            throw MiiException.corrupt("weight " + matrix.name() + " is not a matrix");
        }
        long p = allocOwned(2 * matrix.size());
        tensorToDevice(matrix, p);
        return new CudaWeight(p, matrix.rows(), matrix.cols());
    }

    @Override
    public Tensor parameter(TensorData vector) {
        current();
        long p = allocOwned(2 * vector.size());
        tensorToDevice(vector, p);
        return new CudaTensor(p, 1, Math.toIntExact(vector.size()), vector.size());
    }

    @Override
    public Tensor allocate(int rows, int cols) {
        current();
        long n = (long) rows * cols;
        return new CudaTensor(workspace.alloc(2 * n), rows, cols, n);
    }

    @Override
    public Tensor upload(float[] data, int rows, int cols) {
        current();
        long n = (long) rows * cols;
        if (data.length < n) {
            throw new IllegalArgumentException(data.length + " floats for a " + rows + " x " + cols + " tensor");
        }
        long p = workspace.alloc(2 * n);
        if (replaying()) {
            return new CudaTensor(p, rows, cols, n);
        }
        toDevice(p, 2 * n, (d, from) -> {
            int first = (int) (from / 2);
            int count = (int) (d.byteSize() / 2);
            for (int i = 0; i < count; i++) {
                d.set(JAVA_SHORT, 2L * i, Bf16.round(data[first + i]));
            }
        });
        return new CudaTensor(p, rows, cols, n);
    }

    @Override
    public KvCache allocateKvCache(int layers, int kvHeads, int headDim, int numBlocks, int blockSize) {
        current();
        long bytes = CudaKvCache.bytes(layers, kvHeads, headDim, numBlocks, blockSize);
        long p = allocOwned(bytes);
        CudaDriver.memsetAsync(p, (byte) 0, bytes, stream);
        return new CudaKvCache(this, p, layers, kvHeads, headDim, numBlocks, blockSize);
    }

    @Override
    public long kvBlockBytes(int layers, int kvHeads, int headDim, int blockSize) {
        return CudaKvCache.bytes(layers, kvHeads, headDim, 1, blockSize);
    }

    /**
     * {@code memoryUtilization} of the device's memory less what this backend holds (weights,
     * parameters, the KV caches still allocated, the GEMM workspace and the step workspace, grown to
     * the largest step run so far), and never more than what is free less {@value #HEADROOM_BYTES}
     * bytes for the driver and libraries. Replicas that share a GPU each pass their share.
     */
    @Override
    public long kvCacheBudget(double memoryUtilization) {
        beginStep(); // the workspace's slab grows to the largest step seen, so the free memory counts it
        CudaDriver.streamSynchronize(stream);
        long[] info = CudaDriver.memInfo();
        long held = ownedBytes + workspace.slabBytes() + GEMM_WORKSPACE_BYTES;
        long share = (long) (memoryUtilization * info[1]) - held;
        return Math.max(0, Math.min(share, info[0] - HEADROOM_BYTES));
    }

    /** Device bytes this backend holds (weights, parameters, KV caches, workspaces). */
    public long allocatedBytes() {
        return ownedBytes + workspace.slabBytes() + GEMM_WORKSPACE_BYTES;
    }

    /** {free, total} bytes of the device's memory. */
    public long[] memoryInfo() {
        current();
        return CudaDriver.memInfo();
    }

    // ---- Backend: operations ----

    private static int threadsFor(int width) {
        return Math.min(1024, Math.max(32, (width + 31) / 32 * 32));
    }

    private static int gridFor(long n) {
        return (int) Math.max(1, Math.min((n + 255) / 256, 65535));
    }

    @Override
    public void embed(Weight table, int[] tokens, Tensor out) {
        if (!beginOperation()) {
            return;
        }
        CudaWeight w = CudaWeight.of(table);
        CudaTensor o = CudaTensor.of(out);
        for (int t : tokens) {
            if (t < 0 || t >= w.outDim()) {
                throw new IllegalArgumentException("token id " + t + " outside the vocabulary of " + w.outDim());
            }
        }
        requireShape(o, tokens.length, w.inDim(), "embed output");
        long ids = metaBatch != null && tokens == metaBatch.tokens() ? inputs.tokens : uploadInts(tokens);
        kernels.args().ptr(w.ptr()).ptr(ids).ptr(o.ptr()).i32(w.inDim()).run(embedRows, tokens.length, 1, threadsFor(w.inDim() / 4));
    }

    @Override
    public void matmul(Tensor x, Weight w, Tensor bias, Tensor out) {
        current();
        if (replaying()) {
            return;
        }
        CudaTensor xt = CudaTensor.of(x);
        CudaWeight wt = CudaWeight.of(w);
        CudaTensor o = CudaTensor.of(out);
        if (xt.cols() != wt.inDim()) {
            throw new IllegalArgumentException("matmul of " + xt.rows() + " x " + xt.cols() + " by a weight of "
                    + wt.outDim() + " x " + wt.inDim());
        }
        requireShape(o, xt.rows(), wt.outDim(), "matmul output");
        if (xt.rows() == 0) {
            return;
        }
        if (gemvFits(xt, wt)) {
            deferGemv(xt, new CudaWeight[] {wt}, new Tensor[] {bias}, new CudaTensor[] {o});
            return;
        }
        flush();
        if (CudaKernels.PROFILE) {
            kernels.profile("cublasLt " + (xt.rows() <= 8 ? "rows<=8" : "rows>8"), () ->
                    blas.matmul(xt.ptr(), wt.ptr(), o.ptr(), xt.rows(), wt.outDim(), wt.inDim(), stream));
        } else {
            blas.matmul(xt.ptr(), wt.ptr(), o.ptr(), xt.rows(), wt.outDim(), wt.inDim(), stream);
        }
        if (bias != null) {
            CudaTensor b = CudaTensor.of(bias);
            kernels.args().ptr(o.ptr()).ptr(b.ptr()).i32(o.cols()).i64(o.size()).run(addBias, gridFor(o.size()), 1, 256);
        }
    }

    @Override
    public void matmul(Tensor x, Weight[] ws, Tensor[] biases, Tensor[] outs) {
        current();
        if (replaying()) {
            return;
        }
        CudaTensor xt = CudaTensor.of(x);
        CudaWeight[] wts = new CudaWeight[ws.length];
        CudaTensor[] os = new CudaTensor[ws.length];
        boolean fused = ws.length <= 3 && xt.rows() > 0;
        for (int i = 0; i < ws.length; i++) {
            wts[i] = CudaWeight.of(ws[i]);
            os[i] = CudaTensor.of(outs[i]);
            requireShape(os[i], xt.rows(), wts[i].outDim(), "matmul output");
            fused &= wts[i].inDim() == xt.cols() && gemvFits(xt, wts[i]);
        }
        if (!fused) {
            Backend.super.matmul(x, ws, biases, outs);
            return;
        }
        deferGemv(xt, wts, biases == null ? new Tensor[ws.length] : biases, os);
    }

    private boolean gemvFits(CudaTensor x, CudaWeight w) {
        return useGemv && x.rows() <= GEMV_MAX_ROWS && x.cols() % 8 == 0 && x.cols() == w.inDim()
                && (x.ptr() & 15) == 0 && (w.ptr() & 15) == 0;
    }

    /** A GEMV launch waiting for the next operation (see the class comment). */
    private record PendingGemv(CudaTensor x, CudaWeight[] ws, Tensor[] biases, CudaTensor[] outs) {
    }

    private void deferGemv(CudaTensor x, CudaWeight[] ws, Tensor[] biases, CudaTensor[] outs) {
        flush();
        pendingGemv = new PendingGemv(x, ws, biases, outs);
    }

    /**
     * One GEMV launch over up to three weights sharing the input (see gemv.cu): adding into
     * {@code residual} when it is not null, or with {@code act} (a GEMV_ACT_* code) writing
     * act(gate) * up to {@code actOut}, where outputs 0 and 1 are gate and up ({@code gateOut} and
     * {@code upOut} replace them: null ones are not written).
     */
    private void launchGemv(PendingGemv g, CudaTensor residual, int act, CudaTensor actOut, CudaTensor gateOut,
                            CudaTensor upOut) {
        CudaTensor x = g.x();
        int rows = x.rows();
        kernels.args().ptr(x.ptr()).i32(x.cols());
        long features = 0;
        for (int i = 0; i < 3; i++) {
            if (i < g.ws().length) {
                long bias = g.biases()[i] == null ? 0 : CudaTensor.of(g.biases()[i]).ptr();
                CudaTensor out = g.outs()[i];
                if (act != 0 && i == 0) {
                    out = gateOut;
                } else if (act != 0 && i == 1) {
                    out = upOut;
                }
                kernels.ptr(g.ws()[i].ptr()).ptr(bias).ptr(out == null ? 0 : out.ptr()).i32(g.ws()[i].outDim());
                features += act != 0 && i > 0 ? 0 : g.ws()[i].outDim();
            } else {
                kernels.ptr(0).ptr(0).ptr(0).i32(0);
            }
        }
        kernels.ptr(residual == null ? 0 : residual.ptr()).i32(act).ptr(actOut == null ? 0 : actOut.ptr());
        kernels.run((act != 0 ? gemvActKernels : gemvKernels)[rows - 1], (int) ((features + GEMV_WARPS - 1) / GEMV_WARPS), 1,
                GEMV_WARPS * 32);
    }

    /** Whether the storage of two tensors overlaps. */
    private static boolean overlaps(CudaTensor a, CudaTensor b) {
        return a.ptr() < b.ptr() + b.bytes() && b.ptr() < a.ptr() + a.bytes();
    }

    /** Whether a tensor overlaps the input of a pending GEMV. */
    private static boolean touchesInputs(PendingGemv g, CudaTensor t) {
        return overlaps(t, g.x());
    }

    @Override
    public Tensor[] ropeTables(Rope rope, RaggedBatch batch) {
        current();
        int rows = batch.numRows();
        int half = rope.rotaryDim() / 2;
        Tensor cos = allocate(rows, half);
        Tensor sin = allocate(rows, half);
        if (replaying()) {
            return new Tensor[] {cos, sin};
        }
        flush();
        Long freq = invFreqs.get(rope);
        if (freq == null) {
            float[] f = new float[half];
            for (int i = 0; i < half; i++) {
                f[i] = (float) rope.invFreq()[i];
            }
            freq = allocOwned(4L * half);
            long staged = uploadFloats(f);
            CudaDriver.copyDtoDAsync(freq, staged, 4L * half, stream);
            invFreqs.put(rope, freq);
        }
        long positions = batch == metaBatch ? inputs.positions : uploadInts(batch.positions());
        kernels.args().ptr(positions).ptr(freq).f32((float) rope.attentionFactor()).i32(half)
                .ptr(CudaTensor.of(cos).ptr()).ptr(CudaTensor.of(sin).ptr()).run(ropeTablesK, rows, 1, threadsFor(half));
        return new Tensor[] {cos, sin};
    }

    @Override
    public int[] sample(Tensor logits, SamplingParams[] sampling, int[] eosIds) {
        current();
        flush();
        CudaTensor l = CudaTensor.of(logits);
        int n = sampling.length;
        if (l.rows() != n) {
            throw new IllegalArgumentException(n + " sampling rows for " + l.rows() + " rows of logits");
        }
        if (n > 4 * DecodeGraphs.MAX_BUCKET || hostSampled(sampling)) {
            return Backend.super.sample(logits, sampling, eosIds);
        }
        boolean packed = sampling == stepSampling && Arrays.equals(eosIds, packedEos);
        if (mode == Mode.EAGER) {
            flush();
            long params = inputs.params;
            int paramRows = packedLogitRows;
            if (!packed) {
                params = uploadInts(paramWords(sampling, eosIds));
                paramRows = n;
                packedEos = eosIds.clone();
            }
            kernels.args().ptr(l.ptr()).i32(l.cols()).ptr(params).i32(paramRows).ptr(sampledDevice)
                    .run(sampleTokens, n, 1, SAMPLE_THREADS);
            return readSampled(n, n);
        }
        int rows = stepBucket;
        MemorySegment exec;
        if (mode == Mode.CAPTURE) {
            kernels.args().ptr(l.ptr()).i32(l.cols()).ptr(inputs.params).i32(rows).ptr(sampledDevice)
                    .run(sampleTokens, rows, 1, SAMPLE_THREADS);
            exec = graphs.endCapture(stream);
        } else {
            exec = graphs.graph(rows, metaMaxBlocks);
        }
        mode = Mode.EAGER;
        if (!packed) {
            // The graph reads its parameters from the step-input buffer: rewrite them before the launch.
            int[] words = paramWords(sampling, eosIds);
            long params = uploadInts(words);
            CudaDriver.copyDtoDAsync(inputs.params, params, 4L * n * StepInputs.PARAM_WORDS, stream);
            long eosAt = inputs.params + 4L * rows * StepInputs.PARAM_WORDS;
            CudaDriver.copyDtoDAsync(eosAt, params + 4L * n * StepInputs.PARAM_WORDS,
                    4L * (words.length - n * StepInputs.PARAM_WORDS), stream);
            packedEos = eosIds.clone();
        }
        if (replayTiming != null) {
            return replayTiming.time(stream, () -> {
                CudaDriver.graphLaunch(exec, stream);
                return readSampled(rows, n);
            });
        }
        CudaDriver.graphLaunch(exec, stream);
        return readSampled(rows, n);
    }

    /** Sampling parameter words of {@code sampling} followed by the end-of-sequence block (sample.cu). */
    private static int[] paramWords(SamplingParams[] sampling, int[] eosIds) {
        int n = sampling.length;
        int eos = Math.min(eosIds.length, StepInputs.MAX_EOS);
        MemorySegment h = MemorySegment.ofArray(new int[n * StepInputs.PARAM_WORDS + 1 + StepInputs.MAX_EOS]);
        for (int i = 0; i < n; i++) {
            StepInputs.writeParams(h, i * StepInputs.PARAM_WORDS, sampling[i]);
        }
        int at = n * StepInputs.PARAM_WORDS;
        h.setAtIndex(JAVA_INT, at, eos);
        for (int i = 0; i < StepInputs.MAX_EOS; i++) {
            h.setAtIndex(JAVA_INT, at + 1 + i, i < eos ? eosIds[i] : -1);
        }
        return h.toArray(JAVA_INT);
    }

    /** Copies {@code rows} sampled tokens back, waits, and returns the first {@code keep}. */
    private int[] readSampled(int rows, int keep) {
        CudaDriver.copyDtoHAsync(sampledHost, sampledDevice, 4L * rows, stream);
        CudaDriver.streamSynchronize(stream);
        staging.drained();
        stepSynced = true;
        int[] out = new int[keep];
        MemorySegment.copy(sampledHost, JAVA_INT, 0, out, 0, keep);
        return out;
    }

    @Override
    public void rmsNorm(Tensor x, Tensor weight, float eps, Tensor out) {
        current();
        if (replaying()) {
            return;
        }
        CudaTensor xt = CudaTensor.of(x);
        CudaTensor o = CudaTensor.of(out);
        CudaTensor w = CudaTensor.of(weight);
        requireShape(o, xt.rows(), xt.cols(), "rmsNorm output");
        if (pendingAddX != null && pendingAddX.sameAs(xt) && o.ptr() != xt.ptr()) {
            CudaTensor delta = pendingAddY;
            pendingAddX = null;
            pendingAddY = null;
            flush();
            kernels.args().ptr(xt.ptr()).ptr(delta.ptr()).ptr(w.ptr()).ptr(o.ptr()).i32(xt.cols()).f32(eps)
                    .run(addRmsNorm, xt.rows(), 1, threadsFor(xt.cols() / 8));
            return;
        }
        flush();
        launchRmsNorm(xt, w, o, eps);
    }

    private void launchRmsNorm(CudaTensor x, CudaTensor w, CudaTensor out, float eps) {
        kernels.args().ptr(x.ptr()).ptr(w.ptr()).ptr(out.ptr()).i32(x.cols()).f32(eps)
                .run(rmsNormK, x.rows(), 1, threadsFor(x.cols() / 8));
    }

    @Override
    public void rope(Tensor x, int headDim, Tensor cos, Tensor sin) {
        current();
        if (replaying()) {
            return;
        }
        CudaTensor xt = CudaTensor.of(x);
        CudaTensor c = CudaTensor.of(cos);
        CudaTensor sn = CudaTensor.of(sin);
        if (pendingRope != null && pendingRopeQ == null && pendingCos.sameAs(c) && pendingSin.sameAs(sn)
                && pendingHeadDim == headDim && pendingRope.rows() == xt.rows() && !overlaps(pendingRope, xt)) {
            // The queries' rotation waits to run with the keys' (storeKv).
            pendingRopeQ = pendingRope;
            pendingRope = xt;
            return;
        }
        flush();
        pendingRope = xt;
        pendingCos = c;
        pendingSin = sn;
        pendingHeadDim = headDim;
    }

    @Override
    public void storeKv(KvCache cache, int layer, Tensor k, Tensor v, RaggedBatch batch) {
        current();
        if (replaying()) {
            return;
        }
        CudaTensor kt = CudaTensor.of(k);
        CudaTensor vt = CudaTensor.of(v);
        CudaKvCache c = (CudaKvCache) cache;
        long cos = 0;
        long sin = 0;
        int half = 0;
        int headDim = kt.cols();
        CudaTensor q = null;
        if (pendingRope != null && pendingRope.sameAs(kt)) {
            cos = pendingCos.ptr();
            sin = pendingSin.ptr();
            half = pendingCos.cols();
            headDim = pendingHeadDim;
            pendingRope = null;
            q = pendingRopeQ;
            pendingRopeQ = null;
        }
        flush();
        int kvHeads = kt.cols() / headDim;
        if (half == 0) {
            // Without a rotation to fuse, the head split does not matter: store whole rows.
            kvHeads = 1;
            headDim = kt.cols();
        }
        requireShape(vt, kt.rows(), kt.cols(), "values");
        metadata(batch);
        kernels.args().ptr(kt.ptr()).ptr(vt.ptr()).ptr(cos).ptr(sin).ptr(metaSlots).ptr(c.keys(layer)).ptr(c.values(layer))
                .i32(kvHeads).i32(headDim).i32(half).ptr(q == null ? 0 : q.ptr()).i32(q == null ? 0 : q.cols() / headDim)
                .run(ropeStoreKv, kt.rows(), 1, threadsFor(Math.max(kt.cols(), q == null ? 0 : q.cols()) / 2));
    }

    @Override
    public void attention(KvCache cache, int layer, Tensor q, RaggedBatch batch, int numHeads, int numKvHeads,
                          int headDim, int slidingWindow, float scale, Tensor out) {
        attention(cache, layer, q, batch, numHeads, numKvHeads, headDim, slidingWindow, scale, null, 0f, out);
    }

    @Override
    public void attention(KvCache cache, int layer, Tensor q, RaggedBatch batch, int numHeads, int numKvHeads,
                          int headDim, int slidingWindow, float scale, float[] alibi, float softCap, Tensor out) {
        if (!beginOperation()) {
            return;
        }
        PagedAttention.dimIndex(headDim);
        if (alibi != null && alibi.length != numHeads) {
            throw new IllegalArgumentException(alibi.length + " ALiBi slopes for " + numHeads + " heads");
        }
        CudaTensor qt = CudaTensor.of(q);
        CudaTensor o = CudaTensor.of(out);
        CudaKvCache c = (CudaKvCache) cache;
        requireShape(qt, batch.numRows(), numHeads * headDim, "queries");
        requireShape(o, batch.numRows(), numHeads * headDim, "attention output");
        long slopes = alibi == null ? 0 : alibiSlopes(alibi);
        metadata(batch);
        // A graph's launch dimensions are frozen: they may depend on its bucket and block tables, not on the contexts.
        boolean frozen = stepBucket > 0 && batch == metaBatch;
        pagedAttention.run(qt.ptr(), o.ptr(), c.keys(layer), c.values(layer),
                new PagedAttention.Meta(metaPositions, metaRowSeq, metaSeqStarts, metaNumSeqs, metaTables, metaMaxBlocks),
                batch, frozen, c.blockSize(), numHeads, numKvHeads, headDim, slidingWindow, scale, slopes, softCap,
                workspace::alloc);
    }

    /** The ALiBi slopes on the device, uploaded on first use (models pass the same array at every layer). */
    private long alibiSlopes(float[] slopes) {
        Long p = alibiSlopes.get(slopes);
        if (p == null) {
            requireEager("ALiBi slopes");
            p = allocOwned(4L * slopes.length);
            long staged = uploadFloats(slopes);
            CudaDriver.copyDtoDAsync(p, staged, 4L * slopes.length, stream);
            alibiSlopes.put(slopes, p);
        }
        return p;
    }

    @Override
    public void activationMul(Activation act, Tensor gate, Tensor up, Tensor out) {
        current();
        if (replaying()) {
            return;
        }
        CudaTensor g = CudaTensor.of(gate);
        CudaTensor u = CudaTensor.of(up);
        CudaTensor o = CudaTensor.of(out);
        requireShape(u, g.rows(), g.cols(), "up");
        requireShape(o, g.rows(), g.cols(), "activation output");
        PendingGemv p = pendingGemv;
        int code = switch (act) {
            case SILU -> GEMV_ACT_SILU;
            case GELU_TANH -> GEMV_ACT_GELU_TANH;
            case GELU -> GEMV_ACT_GELU;
            default -> 0;
        };
        if (p != null && code != 0 && p.ws().length == 2 && p.outs()[0].sameAs(g) && p.outs()[1].sameAs(u)
                && !touchesInputs(p, o) && (o.sameAs(g) || o.sameAs(u) || (!overlaps(o, g) && !overlaps(o, u)))) {
            pendingGemv = null;
            // Where out is gate (or up), the raw values it would have held are overwritten anyway.
            launchGemv(p, null, code, o, o.sameAs(g) ? null : g, o.sameAs(u) ? null : u);
            return;
        }
        flush();
        CudaKernels.Kernel k = switch (act) {
            case SILU -> siluMul;
            case GELU_TANH -> geluTanhMul;
            case GELU -> geluMul;
            case RELU -> family.reluMul();
        };
        kernels.args().ptr(g.ptr()).ptr(u.ptr()).ptr(o.ptr()).i64(g.size()).run(k, gridFor((g.size() + 7) / 8), 1, 256);
    }

    @Override
    public void add(Tensor x, Tensor y) {
        current();
        if (replaying()) {
            return;
        }
        CudaTensor xt = CudaTensor.of(x);
        CudaTensor yt = CudaTensor.of(y);
        requireShape(yt, xt.rows(), xt.cols(), "addend");
        PendingGemv g = pendingGemv;
        if (g != null && g.ws().length == 1 && g.outs()[0].sameAs(yt) && !touchesInputs(g, xt) && !overlaps(xt, yt)) {
            pendingGemv = null;
            launchGemv(g, xt, 0, null, null, null);
            return;
        }
        flush();
        pendingAddX = xt;
        pendingAddY = yt;
    }

    @Override
    public void gatherRows(Tensor src, int[] rows, Tensor out) {
        if (!beginOperation()) {
            return;
        }
        CudaTensor s = CudaTensor.of(src);
        CudaTensor o = CudaTensor.of(out);
        requireShape(o, rows.length, s.cols(), "gathered rows");
        for (int r : rows) {
            if (r < 0 || r >= s.rows()) {
                throw new IllegalArgumentException("row " + r + " outside " + s.rows());
            }
        }
        if (rows.length == 0) {
            return;
        }
        long idx = metaBatch != null && rows == metaBatch.logitRows() ? inputs.logitRows : uploadInts(rows);
        kernels.args().ptr(s.ptr()).ptr(idx).ptr(o.ptr()).i32(s.cols()).run(gatherRowsK, rows.length, 1, threadsFor(s.cols() / 4));
    }

    @Override
    public void scatterAddRows(Tensor src, int[] rows, float[] scales, Tensor dst) {
        if (!beginOperation()) {
            return;
        }
        CudaTensor s = CudaTensor.of(src);
        CudaTensor d = CudaTensor.of(dst);
        if (rows.length == 0) {
            return;
        }
        long idx = uploadInts(rows);
        long sc = uploadFloats(scales);
        kernels.args().ptr(s.ptr()).ptr(idx).ptr(sc).ptr(d.ptr()).i32(s.cols())
                .run(scatterAddRowsK, rows.length, 1, threadsFor(s.cols() / 4));
    }

    @Override
    public float[] toHost(Tensor t) {
        current();
        if (mode != Mode.EAGER) {
            throw new IllegalStateException("results read back inside a captured decode step");
        }
        if (stepBucket > 0) {
            graphs.disable();
            stepBucket = 0;
        }
        flush();
        stepSynced = true;
        CudaTensor c = CudaTensor.of(t);
        float[] out = new float[Math.toIntExact(c.size())];
        long chunk = staging.capacity() / 2;
        for (long off = 0; off < c.bytes(); off += chunk) {
            long n = Math.min(chunk, c.bytes() - off);
            MemorySegment s = staging.take(n);
            CudaDriver.copyDtoHAsync(s, c.ptr() + off, n, stream);
            CudaDriver.streamSynchronize(stream);
            staging.drained();
            int first = (int) (off / 2);
            for (int i = 0; i < n / 2; i++) {
                out[first + i] = Bf16.toFloat(s.get(JAVA_SHORT, 2L * i));
            }
        }
        return out;
    }

    /**
     * Runs {@code work} with this backend's stream, for work another library enqueues between this
     * backend's operations on its tensors (NCCL's collectives under tensor parallelism): with this
     * device's context current and every deferred operation launched first. From the first such call
     * on, decode steps run without CUDA graphs, so that every rank of a group enqueues the same
     * collectives, of the same sizes, whether or not its own steps would have been captured.
     */
    public void enqueueExternal(java.util.function.Consumer<MemorySegment> work) {
        current();
        if (mode != Mode.EAGER) {
            throw new IllegalStateException("work from another library inside a captured decode step");
        }
        graphs.disable();
        flush();
        work.accept(stream);
    }

    /** The device address of {@code t}, one of this backend's tensors (BF16, row-major, {@code rows x cols}). */
    public static long address(Tensor t) {
        return CudaTensor.of(t).ptr();
    }

    /** Waits until everything enqueued so far has run. */
    public void synchronize() {
        current();
        flush();
        stepSynced = true;
        CudaDriver.streamSynchronize(stream);
        staging.drained();
    }

    // ---- Operations of the families beyond Llama's shape (FamilyKernels, CudaMoe) ----

    @Override
    public void layerNorm(Tensor x, Tensor weight, Tensor bias, float eps, Tensor out) {
        current();
        if (replaying()) {
            return;
        }
        CudaTensor xt = CudaTensor.of(x);
        CudaTensor o = CudaTensor.of(out);
        long w = CudaTensor.of(weight).ptr();
        long b = bias == null ? 0 : CudaTensor.of(bias).ptr();
        requireShape(o, xt.rows(), xt.cols(), "layerNorm output");
        if (pendingAddX != null && pendingAddX.sameAs(xt)) {
            // residual add + norm in one kernel; unlike add_rms_norm it may write the norm over the sum.
            CudaTensor delta = pendingAddY;
            pendingAddX = null;
            pendingAddY = null;
            flush();
            kernels.args().ptr(xt.ptr()).ptr(delta.ptr()).ptr(w).ptr(b).ptr(o.ptr()).i32(xt.cols()).f32(eps)
                    .run(family.addLayerNorm(), xt.rows(), 1, threadsFor(xt.cols() / 4));
            return;
        }
        flush();
        kernels.args().ptr(xt.ptr()).ptr(w).ptr(b).ptr(o.ptr()).i32(xt.cols()).f32(eps)
                .run(family.layerNorm(), xt.rows(), 1, threadsFor(xt.cols() / 4));
    }

    @Override
    public void activation(Activation act, Tensor x, Tensor out) {
        if (!beginOperation()) {
            return;
        }
        CudaTensor xt = CudaTensor.of(x);
        CudaTensor o = CudaTensor.of(out);
        requireShape(o, xt.rows(), xt.cols(), "activation output");
        kernels.args().ptr(xt.ptr()).ptr(o.ptr()).i32(FamilyKernels.kind(act)).i64(xt.size())
                .run(family.activation(), gridFor(xt.size()), 1, 256);
    }

    @Override
    public void scale(Tensor x, float s) {
        if (!beginOperation()) {
            return;
        }
        CudaTensor xt = CudaTensor.of(x);
        kernels.args().ptr(xt.ptr()).f32(s).i64(xt.size()).run(family.scale(), gridFor(xt.size()), 1, 256);
    }

    @Override
    public void softCap(Tensor x, float cap) {
        if (!beginOperation()) {
            return;
        }
        CudaTensor xt = CudaTensor.of(x);
        kernels.args().ptr(xt.ptr()).f32(cap).i64(xt.size()).run(family.softCap(), gridFor(xt.size()), 1, 256);
    }

    @Override
    public void embedPositions(Weight table, RaggedBatch batch, int offset, Tensor out) {
        if (!beginOperation()) {
            return;
        }
        CudaWeight w = CudaWeight.of(table);
        CudaTensor o = CudaTensor.of(out);
        requireShape(o, batch.numRows(), w.inDim(), "position embeddings");
        for (int p : batch.positions()) {
            if (p + offset < 0 || p + offset >= w.outDim()) {
                throw MiiException.invalid("position " + p + " is beyond the model's " + (w.outDim() - offset)
                        + " learned positions");
            }
        }
        metadata(batch); // the step's positions on the device (a captured graph's own each step)
        kernels.args().ptr(w.ptr()).ptr(metaPositions).i32(offset).ptr(o.ptr()).i32(w.inDim())
                .run(family.embedPositions(), batch.numRows(), 1, threadsFor(w.inDim() / 4));
    }

    @Override
    public void sigmoidGatedAdd(Tensor x, Tensor y, Tensor gate) {
        if (!beginOperation()) {
            return;
        }
        CudaTensor xt = CudaTensor.of(x);
        CudaTensor yt = CudaTensor.of(y);
        CudaTensor g = CudaTensor.of(gate);
        requireShape(yt, xt.rows(), xt.cols(), "gated addend");
        requireShape(g, xt.rows(), 1, "gate");
        kernels.args().ptr(xt.ptr()).ptr(yt.ptr()).ptr(g.ptr()).i32(xt.cols())
                .run(family.sigmoidGatedAdd(), xt.rows(), 1, threadsFor(xt.cols() / 4));
    }

    /**
     * Routing and experts on the device ({@link CudaMoe}); experts the kernels do not take (widths
     * not a multiple of 8, more than {@value CudaMoe#MAX_EXPERTS} experts or top-{@value CudaMoe#MAX_TOP_K})
     * fall back to routing on the host.
     */
    @Override
    public void moe(Tensor x, Experts experts, Tensor residual) {
        current();
        if (replaying()) {
            return;
        }
        CudaTensor xt = CudaTensor.of(x);
        CudaTensor r = CudaTensor.of(residual);
        requireShape(r, xt.rows(), xt.cols(), "residual");
        if (xt.cols() != experts.hidden()) {
            throw new IllegalArgumentException("experts of width " + experts.hidden() + " over rows of " + xt.cols());
        }
        if (!CudaMoe.supports(experts) || (xt.ptr() & 15) != 0) {
            Backend.super.moe(x, experts, residual);
            return;
        }
        flush();
        if (xt.rows() > 0) {
            moe.run(xt, experts, r, mode != Mode.EAGER || stepBucket > 0);
        }
    }


    /** Step memory for {@link CudaMoe}, valid until the next step begins. */
    long scratch(long bytes) {
        return workspace.alloc(bytes);
    }

    /** {@code values} in device memory held until the backend closes (e.g. tables of weight addresses). */
    long persistentLongs(long[] values) {
        requireEager("a device table");
        long p = allocOwned(8L * values.length);
        toDevice(p, 8L * values.length, (d, from) ->
                MemorySegment.copy(values, (int) (from / 8), d, JAVA_LONG, 0, (int) (d.byteSize() / 8)));
        return p;
    }

    /**
     * Copies {@code n} ints back from the device, waiting for the stream: a read in the middle of an
     * eager step (never of one a graph captures).
     */
    int[] readInts(long devicePtr, int n) {
        if (mode != Mode.EAGER || stepBucket > 0) {
            throw new IllegalStateException("a read back inside a step that a graph captures");
        }
        flush();
        MemorySegment s = staging.take(4L * n);
        CudaDriver.copyDtoHAsync(s, devicePtr, 4L * n, stream);
        CudaDriver.streamSynchronize(stream);
        int[] out = s.toArray(JAVA_INT);
        staging.drained();
        stepSynced = true;
        return out;
    }

    /** Data that must exist before a graph is captured (the capture would copy it again at each replay). */
    private void requireEager(String what) {
        if (mode == Mode.CAPTURE) {
            throw new IllegalStateException(what + " first needed inside a captured step");
        }
    }

    // ---- Deferred operations and step metadata ----

    /** For helpers that launch kernels of their own after calling operations of this backend. */
    void flushPending() {
        flush();
    }

    /** Launches whatever deferred operation is pending, unfused. */
    private void flush() {
        if (pendingGemv != null) {
            PendingGemv g = pendingGemv;
            pendingGemv = null;
            launchGemv(g, null, 0, null, null, null);
        }
        if (pendingAddX != null) {
            CudaTensor x = pendingAddX;
            CudaTensor y = pendingAddY;
            pendingAddX = null;
            pendingAddY = null;
            kernels.args().ptr(x.ptr()).ptr(y.ptr()).i64(x.size()).run(addInplace, gridFor(x.size()), 1, 256);
        }
        if (pendingRopeQ != null) {
            CudaTensor x = pendingRopeQ;
            pendingRopeQ = null;
            int heads = x.cols() / pendingHeadDim;
            kernels.args().ptr(x.ptr()).ptr(pendingCos.ptr()).ptr(pendingSin.ptr()).i32(heads).i32(pendingHeadDim)
                    .i32(pendingCos.cols()).run(ropeRows, x.rows(), 1, threadsFor(heads * pendingCos.cols()));
        }
        if (pendingRope != null) {
            CudaTensor x = pendingRope;
            pendingRope = null;
            int half = pendingCos.cols();
            int heads = x.cols() / pendingHeadDim;
            kernels.args().ptr(x.ptr()).ptr(pendingCos.ptr()).ptr(pendingSin.ptr()).i32(heads).i32(pendingHeadDim).i32(half)
                    .run(ropeRows, x.rows(), 1, threadsFor(heads * half));
        }
    }

    /**
     * Uploads slots, positions, each row's sequence, each sequence's first row and the block tables
     * of {@code batch}, once per batch.
     */
    private void metadata(RaggedBatch batch) {
        if (batch == metaBatch) {
            return;
        }
        int rows = batch.numRows();
        int seqs = batch.numSeqs();
        int maxBlocks = 1;
        for (int[] t : batch.blockTables()) {
            maxBlocks = Math.max(maxBlocks, t.length);
        }
        int tablesAt = 3 * rows + seqs + 1;
        int[] packed = new int[tablesAt + seqs * maxBlocks];
        System.arraycopy(batch.slots(), 0, packed, 0, rows);
        System.arraycopy(batch.positions(), 0, packed, rows, rows);
        int[] starts = batch.seqStarts();
        System.arraycopy(starts, 0, packed, 3 * rows, seqs + 1);
        for (int s = 0; s < seqs; s++) {
            for (int r = starts[s]; r < starts[s + 1]; r++) {
                packed[2 * rows + r] = s;
            }
            System.arraycopy(batch.blockTables()[s], 0, packed, tablesAt + s * maxBlocks, batch.blockTables()[s].length);
        }
        long base = uploadInts(packed);
        metaSlots = base;
        metaPositions = base + 4L * rows;
        metaRowSeq = base + 8L * rows;
        metaSeqStarts = base + 12L * rows;
        metaNumSeqs = seqs;
        metaTables = base + 4L * tablesAt;
        metaMaxBlocks = maxBlocks;
        metaBatch = batch;
    }

    private static void requireShape(CudaTensor t, int rows, int cols, String what) {
        if (t.rows() != rows || t.cols() != cols) {
            throw new IllegalArgumentException(what + " is " + t.rows() + " x " + t.cols() + ", expected " + rows + " x " + cols);
        }
    }

    @Override
    public void close() {
        current();
        CudaDriver.streamSynchronize(stream);
        if (replayTiming != null) {
            System.err.println(replayTiming.report());
        }
        if (CudaKernels.PROFILE) {
            System.err.print("GPU time by kernel over this backend's life (-Dmii.cuda.profile=true)\n"
                    + CudaKernels.profileReport());
        }
        for (long p : owned.keySet()) {
            CudaDriver.memFree(p);
        }
        owned.clear();
        graphs.close();
        inputs.close();
        CudaDriver.memFree(sampledDevice);
        CudaDriver.hostFree(sampledHost);
        ownedBytes = 0;
        workspace.close();
        staging.close();
        blas.close();
        CudaDriver.memFree(gemmWorkspace);
        kernels.close();
        CudaDriver.streamDestroy(stream);
        CudaDriver.primaryContextRelease(device);
    }
}
