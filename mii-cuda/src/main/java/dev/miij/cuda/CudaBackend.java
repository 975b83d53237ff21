package dev.miij.cuda;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED;

import dev.miij.MiiException;
import dev.miij.arch.TransformerSpec.Activation;
import dev.miij.backend.Backend;
import dev.miij.backend.KvCache;
import dev.miij.backend.RaggedBatch;
import dev.miij.backend.Tensor;
import dev.miij.backend.Weight;
import dev.miij.model.DType;
import dev.miij.model.TensorData;
import java.lang.foreign.MemorySegment;
import java.util.EnumSet;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.logging.Logger;

/**
 * The CUDA backend: BF16 weights, activations and KV cache in device memory, GEMMs through cuBLASLt
 * (FP32 accumulation), everything else through MII-J's own kernels, all enqueued on one stream.
 * Only {@link #toHost} waits for the GPU.
 *
 * <p>Two fusions happen behind the operation-at-a-time SPI: an {@link #add} followed by an
 * {@link #rmsNorm} of the same tensor runs as one kernel (residual add + norm), and a {@link #rope}
 * of the keys followed by {@link #storeKv} of the same keys runs as one kernel (rotate + write to the
 * paged cache). Every other operation first flushes whatever is pending.
 *
 * <p>A backend serves one thread at a time (the engine's step thread); it makes the device's primary
 * context current on whichever thread calls it.
 */
public final class CudaBackend implements Backend {

    private static final Logger LOG = Logger.getLogger(CudaBackend.class.getName());
    private static final long STAGING_BYTES = 16L << 20;
    private static final long WORKSPACE_BYTES = 64L << 20;
    private static final long GEMM_WORKSPACE_BYTES = 32L << 20;
    private static final int MAX_HEAD_DIM = 256;

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
    private final CudaKernels.Kernel pagedAttention;
    private final CudaKernels.Kernel siluMul;
    private final CudaKernels.Kernel geluTanhMul;
    private final CudaKernels.Kernel geluMul;
    private final CudaKernels.Kernel gatherRowsK;
    private final CudaKernels.Kernel scatterAddRowsK;
    private final CudaKernels.Kernel addInplace;
    private final CudaKernels.Kernel addBias;
    private final long gemmWorkspace;
    private final CublasLt blas;
    private final PinnedStaging staging;
    private final Workspace workspace;
    private final Set<Long> owned = new LinkedHashSet<>();
    private final Set<DType> convertedTypes = EnumSet.noneOf(DType.class);

    // Deferred operations awaiting a possible fusion partner (see the class comment).
    private CudaTensor pendingAddX;
    private CudaTensor pendingAddY;
    private CudaTensor pendingRope;
    private CudaTensor pendingCos;
    private CudaTensor pendingSin;
    private int pendingHeadDim;

    // The step's batch metadata on the device, uploaded once per batch.
    private RaggedBatch metaBatch;
    private long metaSlots;
    private long metaPositions;
    private long metaRowSeq;
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
        this.pagedAttention = kernels.kernel("paged_attention");
        this.siluMul = kernels.kernel("silu_mul");
        this.geluTanhMul = kernels.kernel("gelu_tanh_mul");
        this.geluMul = kernels.kernel("gelu_mul");
        this.gatherRowsK = kernels.kernel("gather_rows");
        this.scatterAddRowsK = kernels.kernel("scatter_add_rows");
        this.addInplace = kernels.kernel("add_inplace");
        this.addBias = kernels.kernel("add_bias");
        this.gemmWorkspace = CudaDriver.memAlloc(GEMM_WORKSPACE_BYTES);
        this.blas = new CublasLt(gemmWorkspace, GEMM_WORKSPACE_BYTES);
        this.staging = new PinnedStaging(STAGING_BYTES, stream);
        this.workspace = new Workspace(WORKSPACE_BYTES);
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
        long p = CudaDriver.memAlloc(Math.max(bytes, 2));
        owned.add(p);
        return p;
    }

    void free(long ptr) {
        current();
        if (owned.remove(ptr)) {
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
        metaBatch = null;
        workspace.reset(() -> CudaDriver.streamSynchronize(stream));
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
        current();
        flush();
        CudaWeight w = CudaWeight.of(table);
        CudaTensor o = CudaTensor.of(out);
        for (int t : tokens) {
            if (t < 0 || t >= w.outDim()) {
                throw new IllegalArgumentException("token id " + t + " outside the vocabulary of " + w.outDim());
            }
        }
        requireShape(o, tokens.length, w.inDim(), "embed output");
        long ids = uploadInts(tokens);
        kernels.args().ptr(w.ptr()).ptr(ids).ptr(o.ptr()).i32(w.inDim()).run(embedRows, tokens.length, 1, threadsFor(w.inDim() / 4));
    }

    @Override
    public void matmul(Tensor x, Weight w, Tensor bias, Tensor out) {
        current();
        flush();
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
        blas.matmul(xt.ptr(), wt.ptr(), o.ptr(), xt.rows(), wt.outDim(), wt.inDim(), stream);
        if (bias != null) {
            CudaTensor b = CudaTensor.of(bias);
            kernels.args().ptr(o.ptr()).ptr(b.ptr()).i32(o.cols()).i64(o.size()).run(addBias, gridFor(o.size()), 1, 256);
        }
    }

    @Override
    public void rmsNorm(Tensor x, Tensor weight, float eps, Tensor out) {
        current();
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
                    .run(addRmsNorm, xt.rows(), 1, threadsFor(xt.cols() / 4));
            return;
        }
        flush();
        kernels.args().ptr(xt.ptr()).ptr(w.ptr()).ptr(o.ptr()).i32(xt.cols()).f32(eps)
                .run(rmsNormK, xt.rows(), 1, threadsFor(xt.cols() / 4));
    }

    @Override
    public void rope(Tensor x, int headDim, Tensor cos, Tensor sin) {
        current();
        flush();
        pendingRope = CudaTensor.of(x);
        pendingCos = CudaTensor.of(cos);
        pendingSin = CudaTensor.of(sin);
        pendingHeadDim = headDim;
    }

    @Override
    public void storeKv(KvCache cache, int layer, Tensor k, Tensor v, RaggedBatch batch) {
        current();
        CudaTensor kt = CudaTensor.of(k);
        CudaTensor vt = CudaTensor.of(v);
        CudaKvCache c = (CudaKvCache) cache;
        long cos = 0;
        long sin = 0;
        int half = 0;
        int headDim = kt.cols();
        if (pendingRope != null && pendingRope.sameAs(kt)) {
            cos = pendingCos.ptr();
            sin = pendingSin.ptr();
            half = pendingCos.cols();
            headDim = pendingHeadDim;
            pendingRope = null;
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
                .i32(kvHeads).i32(headDim).i32(half).run(ropeStoreKv, kt.rows(), 1, threadsFor(kt.cols() / 2));
    }

    @Override
    public void attention(KvCache cache, int layer, Tensor q, RaggedBatch batch, int numHeads, int numKvHeads,
                          int headDim, int slidingWindow, float scale, Tensor out) {
        current();
        flush();
        if (headDim > MAX_HEAD_DIM) {
            throw MiiException.unsupported("head size " + headDim + " exceeds the CUDA attention kernel's " + MAX_HEAD_DIM);
        }
        CudaTensor qt = CudaTensor.of(q);
        CudaTensor o = CudaTensor.of(out);
        CudaKvCache c = (CudaKvCache) cache;
        requireShape(qt, batch.numRows(), numHeads * headDim, "queries");
        requireShape(o, batch.numRows(), numHeads * headDim, "attention output");
        metadata(batch);
        kernels.args().ptr(qt.ptr()).ptr(o.ptr()).ptr(c.keys(layer)).ptr(c.values(layer)).ptr(metaPositions).ptr(metaRowSeq)
                .ptr(metaTables).i32(metaMaxBlocks).i32(c.blockSize()).i32(numHeads).i32(numKvHeads).i32(headDim)
                .i32(slidingWindow).f32(scale).run(pagedAttention, batch.numRows(), numHeads, 128);
    }

    @Override
    public void activationMul(Activation act, Tensor gate, Tensor up, Tensor out) {
        current();
        flush();
        CudaTensor g = CudaTensor.of(gate);
        CudaTensor u = CudaTensor.of(up);
        CudaTensor o = CudaTensor.of(out);
        requireShape(u, g.rows(), g.cols(), "up");
        requireShape(o, g.rows(), g.cols(), "activation output");
        CudaKernels.Kernel k = switch (act) {
            case SILU -> siluMul;
            case GELU_TANH -> geluTanhMul;
            case GELU -> geluMul;
            case RELU -> throw dev.miij.MiiException.unsupported("the CUDA backend has no ReLU kernel yet (OPT)");
        };
        kernels.args().ptr(g.ptr()).ptr(u.ptr()).ptr(o.ptr()).i64(g.size()).run(k, gridFor(g.size()), 1, 256);
    }

    @Override
    public void add(Tensor x, Tensor y) {
        current();
        flush();
        CudaTensor xt = CudaTensor.of(x);
        CudaTensor yt = CudaTensor.of(y);
        requireShape(yt, xt.rows(), xt.cols(), "addend");
        pendingAddX = xt;
        pendingAddY = yt;
    }

    @Override
    public void gatherRows(Tensor src, int[] rows, Tensor out) {
        current();
        flush();
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
        long idx = uploadInts(rows);
        kernels.args().ptr(s.ptr()).ptr(idx).ptr(o.ptr()).i32(s.cols()).run(gatherRowsK, rows.length, 1, threadsFor(s.cols() / 4));
    }

    @Override
    public void scatterAddRows(Tensor src, int[] rows, float[] scales, Tensor dst) {
        current();
        flush();
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
        flush();
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

    /** Waits until everything enqueued so far has run. */
    public void synchronize() {
        current();
        flush();
        CudaDriver.streamSynchronize(stream);
        staging.drained();
    }

    // ---- Deferred operations and step metadata ----

    /** Launches whatever deferred operation is pending, unfused. */
    private void flush() {
        if (pendingAddX != null) {
            CudaTensor x = pendingAddX;
            CudaTensor y = pendingAddY;
            pendingAddX = null;
            pendingAddY = null;
            kernels.args().ptr(x.ptr()).ptr(y.ptr()).i64(x.size()).run(addInplace, gridFor(x.size()), 1, 256);
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

    /** Uploads slots, positions, each row's sequence and the block tables of {@code batch}, once per batch. */
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
        int[] packed = new int[3 * rows + seqs * maxBlocks];
        System.arraycopy(batch.slots(), 0, packed, 0, rows);
        System.arraycopy(batch.positions(), 0, packed, rows, rows);
        int[] starts = batch.seqStarts();
        for (int s = 0; s < seqs; s++) {
            for (int r = starts[s]; r < starts[s + 1]; r++) {
                packed[2 * rows + r] = s;
            }
            System.arraycopy(batch.blockTables()[s], 0, packed, 3 * rows + s * maxBlocks, batch.blockTables()[s].length);
        }
        long base = uploadInts(packed);
        metaSlots = base;
        metaPositions = base + 4L * rows;
        metaRowSeq = base + 8L * rows;
        metaTables = base + 12L * rows;
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
        for (long p : owned) {
            CudaDriver.memFree(p);
        }
        owned.clear();
        workspace.close();
        staging.close();
        blas.close();
        CudaDriver.memFree(gemmWorkspace);
        kernels.close();
        CudaDriver.streamDestroy(stream);
        CudaDriver.primaryContextRelease(device);
    }
}
