package dev.miij.cuda;

import dev.miij.backend.Experts;
import dev.miij.backend.Tensor;
import dev.miij.backend.Weight;
import java.util.IdentityHashMap;
import java.util.Map;

/**
 * Mixture-of-experts layers with the routing on the device (moe.cu): the router's logits, each row's
 * top-k experts and weights, and the grouping of rows by expert never leave the GPU.
 *
 * <p>Decode-size steps (and every step inside a captured decode graph) run each expert as a GEMV
 * over the rows routed to it, reading the expert ids and counts from device memory: nothing waits
 * for the host, so the step can be captured. Larger eager steps (prefill) gather each expert's rows
 * on the device and run one cuBLASLt GEMM per expert; cuBLASLt takes its sizes from the host, so
 * those steps copy the per-expert counts back, one small copy of {@code 2 * experts + 1} ints and the
 * only wait of the layer. Either way the weighted outputs are summed in FP32 and added to the
 * residual stream once.
 */
final class CudaMoe {

    /** Experts a layer may have (MOE_MAX_EXPERTS in moe.cu). */
    static final int MAX_EXPERTS = 1024;
    /** Experts a row may be routed to (MOE_MAX_TOPK in moe.cu). */
    static final int MAX_TOP_K = 16;
    /** Eager steps of more rows run per-expert GEMMs (and copy the counts back). */
    static final int GEMV_MAX_ROWS = 32;
    private static final int WARPS = 8;
    private static final int ROUTE_WARPS = 4;
    private static final int SORT_THREADS = 1024;

    private final CudaBackend backend;
    private final CudaKernels kernels;
    private final CudaKernels.Kernel route;
    private final CudaKernels.Kernel sort;
    private final CudaKernels.Kernel gateUp;
    private final CudaKernels.Kernel down;
    private final CudaKernels.Kernel scatterRows;
    private final CudaKernels.Kernel combine;
    /** Each layer's device table of expert weight addresses: gates, then ups, then downs. */
    private final Map<Experts, Long> tables = new IdentityHashMap<>();

    CudaMoe(CudaBackend backend, CudaKernels kernels) {
        this.backend = backend;
        this.kernels = kernels;
        this.route = kernels.kernel("moe_route");
        this.sort = kernels.kernel("moe_sort");
        this.gateUp = kernels.kernel("moe_gate_up");
        this.down = kernels.kernel("moe_down");
        this.scatterRows = kernels.kernel("moe_scatter_rows");
        this.combine = kernels.kernel("moe_combine");
    }

    /** Whether the kernels take these experts: sizes within their limits, rows of whole 16-byte chunks. */
    static boolean supports(Experts ex) {
        return ex.count() <= MAX_EXPERTS && ex.topK() <= MAX_TOP_K && ex.hidden() % 8 == 0 && ex.width() % 8 == 0;
    }

    /**
     * Rows per alignment unit of the padded layout: each expert's first row starts a multiple of it,
     * which puts every expert's slice of a {@code hidden}- or {@code width}-wide BF16 buffer at a
     * 256-byte boundary (what cuBLASLt's algorithms assume). 1 for the usual widths.
     */
    static int alignRows(int hidden, int width) {
        int rows = 1;
        for (int cols : new int[] {hidden, width}) {
            int bytes = 2 * cols;
            rows = Math.max(rows, 256 / gcd(256, bytes));
        }
        return rows;
    }

    /** Rows of the padded layout for {@code slots} routed rows: room for every expert's alignment gap. */
    static long paddedRows(int slots, int experts, int align) {
        return slots + (long) experts * (align - 1);
    }

    /** Whether a step of {@code rows} rows runs the experts as GEMVs rather than per-expert GEMMs. */
    static boolean useGemv(int rows, boolean graphStep) {
        return graphStep || rows <= GEMV_MAX_ROWS;
    }

    /** Threads of a one-block-per-row kernel over {@code cols} columns (four per thread, 32 to 1024). */
    private static int threads(int cols) {
        return Math.min(1024, Math.max(32, (cols / 4 + 31) / 32 * 32));
    }

    private static int gcd(int a, int b) {
        return b == 0 ? a : gcd(b, a % b);
    }

    /**
     * Adds the experts' weighted outputs for {@code x} into {@code residual}. {@code graphStep}: the
     * step is captured in (or may later be replayed from) a graph, so nothing may wait for the host.
     */
    void run(CudaTensor x, Experts ex, CudaTensor residual, boolean graphStep) {
        int rows = x.rows();
        int n = ex.count();
        int topK = ex.topK();
        int hidden = ex.hidden();
        int width = ex.width();
        long table = table(ex);
        CudaTensor logits = CudaTensor.of(backend.allocate(rows, n));
        backend.matmul(x, ex.router(), null, logits);
        backend.flushPending(); // the router's GEMV may be deferred; the kernels below launch directly
        int slots = rows * topK;
        long ids = backend.scratch(4L * slots);
        long weights = backend.scratch(4L * slots);
        kernels.args().ptr(logits.ptr()).i32(rows).i32(n).i32(topK).i32(ex.normalizeTopK() ? 1 : 0).ptr(ids).ptr(weights)
                .run(route, (rows + ROUTE_WARPS - 1) / ROUTE_WARPS, 1, ROUTE_WARPS * 32);
        int align = alignRows(hidden, width);
        long padded = paddedRows(slots, n, align);
        long meta = backend.scratch(4L * (2 * n + 1));
        long sorted = backend.scratch(4L * padded);
        long position = backend.scratch(4L * slots);
        kernels.args().ptr(ids).i32(slots).i32(n).i32(align).ptr(meta).ptr(sorted).ptr(position)
                .run(sort, 1, 1, SORT_THREADS);
        long h = backend.scratch(2L * padded * width);
        long y = backend.scratch(2L * padded * hidden);
        if (useGemv(rows, graphStep)) {
            kernels.args().ptr(x.ptr()).i32(hidden).ptr(table).ptr(table + 8L * n).i32(width).ptr(meta).i32(n)
                    .ptr(sorted).i32(topK).i32(FamilyKernels.kind(ex.activation())).ptr(h)
                    .run(gateUp, (width + WARPS - 1) / WARPS, n, WARPS * 32);
            kernels.args().ptr(h).i32(width).ptr(table + 16L * n).i32(hidden).ptr(meta).i32(n).ptr(y)
                    .run(down, (hidden + WARPS - 1) / WARPS, n, WARPS * 32);
        } else {
            // cuBLASLt needs each expert's row count on the host: the one copy back of the layer.
            int[] m = backend.readInts(meta, 2 * n + 1);
            long xs = backend.scratch(2L * padded * hidden);
            long u = backend.scratch(2L * padded * width);
            kernels.args().ptr(x.ptr()).ptr(position).i32(topK).i32(hidden).ptr(xs)
                    .run(scatterRows, slots, 1, threads(hidden));
            for (int e = 0; e < n; e++) {
                int count = m[n + 1 + e];
                if (count > 0) {
                    long off = m[e];
                    backend.matmul(slice(xs, off, count, hidden), new Weight[] {ex.gates()[e], ex.ups()[e]}, null,
                            new Tensor[] {slice(h, off, count, width), slice(u, off, count, width)});
                }
            }
            int total = m[n];
            backend.activationMul(ex.activation(), slice(h, 0, total, width), slice(u, 0, total, width),
                    slice(h, 0, total, width));
            for (int e = 0; e < n; e++) {
                int count = m[n + 1 + e];
                if (count > 0) {
                    long off = m[e];
                    backend.matmul(slice(h, off, count, width), ex.downs()[e], null, slice(y, off, count, hidden));
                }
            }
            backend.flushPending();
        }
        kernels.args().ptr(y).ptr(position).ptr(weights).i32(topK).i32(hidden).ptr(residual.ptr())
                .run(combine, rows, 1, threads(hidden));
    }

    /** Rows {@code [first, first + count)} of a {@code cols}-wide BF16 buffer. */
    private static CudaTensor slice(long base, long first, int count, int cols) {
        return new CudaTensor(base + 2L * first * cols, count, cols, (long) count * cols);
    }

    /** The layer's table of expert weight addresses on the device, made on its first (eager) use. */
    private long table(Experts ex) {
        Long p = tables.get(ex);
        if (p == null) {
            int n = ex.count();
            long[] addresses = new long[3 * n];
            for (int e = 0; e < n; e++) {
                addresses[e] = CudaWeight.of(ex.gates()[e]).ptr();
                addresses[n + e] = CudaWeight.of(ex.ups()[e]).ptr();
                addresses[2 * n + e] = CudaWeight.of(ex.downs()[e]).ptr();
            }
            p = backend.persistentLongs(addresses);
            tables.put(ex, p);
        }
        return p;
    }
}
