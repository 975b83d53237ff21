package dev.miij.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.miij.MiiException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.HashMap;
import java.util.Map;

/**
 * BF16 GEMMs through cuBLASLt: {@code y[M,N] = x[M,K] W[N,K]^T} for row-major x, W and y, with FP32
 * accumulation. In cuBLASLt's column-major view this is {@code y^T = W^T' x^T}: W is operand A
 * (K x N, transposed), x is B (K x M) and y is D (N x M), so no data is ever transposed.
 *
 * <p>The descriptor, the preference and the workspace are made once; each (M, N, K) gets its layouts
 * and its heuristic's first algorithm once and then reuses them, so a step enqueues a matmul with a
 * single native call.
 */
final class CublasLt implements AutoCloseable {

    private static final int CUDA_R_32F = 0;
    private static final int CUDA_R_16BF = 14;
    private static final int CUBLAS_COMPUTE_32F = 68;
    private static final int CUBLAS_OP_N = 0;
    private static final int CUBLAS_OP_T = 1;
    private static final int DESC_TRANSA = 3;
    private static final int DESC_TRANSB = 4;
    private static final int PREF_MAX_WORKSPACE_BYTES = 1;
    /** cublasLtMatmulHeuristicResult_t: a 64-byte algo, size_t workspaceSize, int state, float waves, int[4]. */
    private static final long HEURISTIC_RESULT_BYTES = 96;

    private static final SymbolLookup LIB = NativeLibraries.open("cuBLASLt",
            "libcublasLt.so.13", "libcublasLt.so.12", "libcublasLt.so");
    private static final MethodHandle STATUS_NAME = Native.stringOfInt(LIB, "cublasLtGetStatusName");
    private static final MethodHandle CREATE = Native.status(LIB, "cublasLtCreate", ADDRESS);
    private static final MethodHandle DESTROY = Native.status(LIB, "cublasLtDestroy", ADDRESS);
    private static final MethodHandle DESC_CREATE = Native.status(LIB, "cublasLtMatmulDescCreate", ADDRESS, JAVA_INT, JAVA_INT);
    private static final MethodHandle DESC_SET = Native.status(LIB, "cublasLtMatmulDescSetAttribute", ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final MethodHandle DESC_DESTROY = Native.status(LIB, "cublasLtMatmulDescDestroy", ADDRESS);
    private static final MethodHandle LAYOUT_CREATE = Native.status(LIB, "cublasLtMatrixLayoutCreate", ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG, JAVA_LONG);
    private static final MethodHandle LAYOUT_DESTROY = Native.status(LIB, "cublasLtMatrixLayoutDestroy", ADDRESS);
    private static final MethodHandle PREF_CREATE = Native.status(LIB, "cublasLtMatmulPreferenceCreate", ADDRESS);
    private static final MethodHandle PREF_SET = Native.status(LIB, "cublasLtMatmulPreferenceSetAttribute", ADDRESS, JAVA_INT, ADDRESS, JAVA_LONG);
    private static final MethodHandle PREF_DESTROY = Native.status(LIB, "cublasLtMatmulPreferenceDestroy", ADDRESS);
    private static final MethodHandle HEURISTIC = Native.status(LIB, "cublasLtMatmulAlgoGetHeuristic", ADDRESS, ADDRESS,
            ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS);
    private static final MethodHandle MATMUL = Native.criticalStatus(LIB, "cublasLtMatmul", ADDRESS, ADDRESS, ADDRESS,
            JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS, JAVA_LONG,
            JAVA_LONG, ADDRESS);

    /** Layouts and algorithm for one shape. */
    private record Plan(MemorySegment a, MemorySegment b, MemorySegment d, MemorySegment algo) {
    }

    private final Arena arena = Arena.ofShared();
    private final MemorySegment handle;
    private final MemorySegment desc;
    private final MemorySegment pref;
    private final long workspace;
    private final long workspaceBytes;
    private final MemorySegment alpha;
    private final MemorySegment beta;
    private final Map<Shape, Plan> plans = new HashMap<>();

    private record Shape(int m, int n, int k) {
    }

    CublasLt(long workspace, long workspaceBytes) {
        this.workspace = workspace;
        this.workspaceBytes = workspaceBytes;
        MemorySegment p = arena.allocate(ADDRESS);
        check(CudaDriver.call(() -> (int) CREATE.invokeExact(p)), "cublasLtCreate");
        handle = p.get(ADDRESS, 0);
        check(CudaDriver.call(() -> (int) DESC_CREATE.invokeExact(p, CUBLAS_COMPUTE_32F, CUDA_R_32F)), "cublasLtMatmulDescCreate");
        desc = p.get(ADDRESS, 0);
        MemorySegment v = arena.allocate(JAVA_INT);
        v.set(JAVA_INT, 0, CUBLAS_OP_T);
        check(CudaDriver.call(() -> (int) DESC_SET.invokeExact(desc, DESC_TRANSA, v, 4L)), "cublasLtMatmulDescSetAttribute(TRANSA)");
        v.set(JAVA_INT, 0, CUBLAS_OP_N);
        check(CudaDriver.call(() -> (int) DESC_SET.invokeExact(desc, DESC_TRANSB, v, 4L)), "cublasLtMatmulDescSetAttribute(TRANSB)");
        check(CudaDriver.call(() -> (int) PREF_CREATE.invokeExact(p)), "cublasLtMatmulPreferenceCreate");
        pref = p.get(ADDRESS, 0);
        MemorySegment ws = arena.allocate(JAVA_LONG);
        ws.set(JAVA_LONG, 0, workspaceBytes);
        check(CudaDriver.call(() -> (int) PREF_SET.invokeExact(pref, PREF_MAX_WORKSPACE_BYTES, ws, 8L)),
                "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)");
        alpha = arena.allocate(JAVA_FLOAT);
        alpha.set(JAVA_FLOAT, 0, 1f);
        beta = arena.allocate(JAVA_FLOAT);
        beta.set(JAVA_FLOAT, 0, 0f);
    }

    static void check(int status, String call) {
        if (status != 0) {
            String name;
            try {
                name = Native.cString((MemorySegment) STATUS_NAME.invokeExact(status));
            } catch (Throwable t) {
                name = null;
            }
            throw new MiiException(status == 3 ? MiiException.Kind.RESOURCE_EXHAUSTED : MiiException.Kind.INTERNAL,
                    call + ": " + (name != null ? name : "cublasStatus " + status));
        }
    }

    /** {@code y = x W^T}: x is m x k, W is n x k, y is m x n, all row-major BF16 device arrays. */
    void matmul(long x, long w, long y, int m, int n, int k, MemorySegment stream) {
        Plan plan = plans.computeIfAbsent(new Shape(m, n, k), s -> plan(m, n, k));
        int status = CudaDriver.call(() -> (int) MATMUL.invokeExact(handle, desc, alpha, w, plan.a, x, plan.b, beta,
                y, plan.d, y, plan.d, plan.algo, workspace, workspaceBytes, stream));
        if (status != 0) {
            check(status, "cublasLtMatmul(m=" + m + ", n=" + n + ", k=" + k + ")");
        }
    }

    private Plan plan(int m, int n, int k) {
        MemorySegment a = layout(k, n);
        MemorySegment b = layout(k, m);
        MemorySegment d = layout(n, m);
        MemorySegment result = arena.allocate(HEURISTIC_RESULT_BYTES, 8);
        MemorySegment count = arena.allocate(JAVA_INT);
        check(CudaDriver.call(() -> (int) HEURISTIC.invokeExact(handle, desc, a, b, d, d, pref, 1, result, count)),
                "cublasLtMatmulAlgoGetHeuristic(m=" + m + ", n=" + n + ", k=" + k + ")");
        if (count.get(JAVA_INT, 0) == 0) {
            throw MiiException.unsupported("cuBLASLt has no BF16 algorithm for m=" + m + ", n=" + n + ", k=" + k);
        }
        return new Plan(a, b, d, result.asSlice(0, 64));
    }

    /** A column-major BF16 layout of {@code rows x cols} with leading dimension rows. */
    private MemorySegment layout(long rows, long cols) {
        MemorySegment p = arena.allocate(ADDRESS);
        check(CudaDriver.call(() -> (int) LAYOUT_CREATE.invokeExact(p, CUDA_R_16BF, rows, cols, rows)),
                "cublasLtMatrixLayoutCreate");
        return p.get(ADDRESS, 0);
    }

    @Override
    public void close() {
        for (Plan p : plans.values()) {
            for (MemorySegment l : new MemorySegment[] {p.a, p.b, p.d}) {
                check(CudaDriver.call(() -> (int) LAYOUT_DESTROY.invokeExact(l)), "cublasLtMatrixLayoutDestroy");
            }
        }
        plans.clear();
        check(CudaDriver.call(() -> (int) PREF_DESTROY.invokeExact(pref)), "cublasLtMatmulPreferenceDestroy");
        check(CudaDriver.call(() -> (int) DESC_DESTROY.invokeExact(desc)), "cublasLtMatmulDescDestroy");
        check(CudaDriver.call(() -> (int) DESTROY.invokeExact(handle)), "cublasLtDestroy");
        arena.close();
    }
}
