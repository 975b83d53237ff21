package dev.miij.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.miij.MiiException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

/**
 * The CUDA driver API calls MII-J uses, bound through FFM. Every call checks its {@code CUresult}
 * and turns a failure into a {@link MiiException} naming the call and the error
 * ({@code cuMemAlloc: CUDA_ERROR_OUT_OF_MEMORY}). Device pointers are {@code long}s; contexts,
 * streams, modules, functions and events are opaque {@link MemorySegment} addresses.
 */
// Binding native code is what this class is for; the JVM runs with --enable-native-access.
@SuppressWarnings("restricted")
final class CudaDriver {

    static final int CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT = 16;
    static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR = 75;
    static final int CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR = 76;
    static final int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR = 81;
    static final int CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN = 97;
    static final int CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
    static final int CU_STREAM_NON_BLOCKING = 1;
    static final int CU_EVENT_DEFAULT = 0;
    static final int CUDA_ERROR_OUT_OF_MEMORY = 2;

    private static final SymbolLookup LIB = NativeLibraries.open("the CUDA driver", "libcuda.so.1", "libcuda.so");

    private static final MethodHandle GET_ERROR_NAME = Native.status(LIB, "cuGetErrorName", JAVA_INT, ADDRESS);
    private static final MethodHandle INIT = Native.status(LIB, "cuInit", JAVA_INT);
    private static final MethodHandle DRIVER_VERSION = Native.status(LIB, "cuDriverGetVersion", ADDRESS);
    private static final MethodHandle DEVICE_COUNT = Native.status(LIB, "cuDeviceGetCount", ADDRESS);
    private static final MethodHandle DEVICE_GET = Native.status(LIB, "cuDeviceGet", ADDRESS, JAVA_INT);
    private static final MethodHandle DEVICE_NAME = Native.status(LIB, "cuDeviceGetName", ADDRESS, JAVA_INT, JAVA_INT);
    private static final MethodHandle DEVICE_ATTRIBUTE = Native.status(LIB, "cuDeviceGetAttribute", ADDRESS, JAVA_INT, JAVA_INT);
    private static final MethodHandle PRIMARY_CTX_RETAIN = Native.status(LIB, "cuDevicePrimaryCtxRetain", ADDRESS, JAVA_INT);
    private static final MethodHandle PRIMARY_CTX_RELEASE = Native.status(LIB, "cuDevicePrimaryCtxRelease_v2", JAVA_INT);
    private static final MethodHandle CTX_SET_CURRENT = Native.status(LIB, "cuCtxSetCurrent", ADDRESS);
    private static final MethodHandle STREAM_CREATE = Native.status(LIB, "cuStreamCreate", ADDRESS, JAVA_INT);
    private static final MethodHandle STREAM_DESTROY = Native.status(LIB, "cuStreamDestroy_v2", ADDRESS);
    private static final MethodHandle STREAM_SYNCHRONIZE = Native.status(LIB, "cuStreamSynchronize", ADDRESS);
    private static final MethodHandle MEM_ALLOC = Native.status(LIB, "cuMemAlloc_v2", ADDRESS, JAVA_LONG);
    private static final MethodHandle MEM_FREE = Native.status(LIB, "cuMemFree_v2", JAVA_LONG);
    private static final MethodHandle MEM_GET_INFO = Native.status(LIB, "cuMemGetInfo_v2", ADDRESS, ADDRESS);
    private static final MethodHandle MEM_HOST_ALLOC = Native.status(LIB, "cuMemHostAlloc", ADDRESS, JAVA_LONG, JAVA_INT);
    private static final MethodHandle MEM_FREE_HOST = Native.status(LIB, "cuMemFreeHost", ADDRESS);
    private static final MethodHandle MEMCPY_HTOD_ASYNC =
            Native.criticalStatus(LIB, "cuMemcpyHtoDAsync_v2", JAVA_LONG, ADDRESS, JAVA_LONG, ADDRESS);
    private static final MethodHandle MEMCPY_DTOH_ASYNC =
            Native.criticalStatus(LIB, "cuMemcpyDtoHAsync_v2", ADDRESS, JAVA_LONG, JAVA_LONG, ADDRESS);
    private static final MethodHandle MEMCPY_DTOD_ASYNC =
            Native.criticalStatus(LIB, "cuMemcpyDtoDAsync_v2", JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS);
    private static final MethodHandle MEMSET_D8_ASYNC =
            Native.criticalStatus(LIB, "cuMemsetD8Async", JAVA_LONG, JAVA_BYTE, JAVA_LONG, ADDRESS);
    private static final MethodHandle MODULE_LOAD_DATA = Native.status(LIB, "cuModuleLoadData", ADDRESS, ADDRESS);
    private static final MethodHandle MODULE_UNLOAD = Native.status(LIB, "cuModuleUnload", ADDRESS);
    private static final MethodHandle MODULE_GET_FUNCTION = Native.status(LIB, "cuModuleGetFunction", ADDRESS, ADDRESS, ADDRESS);
    private static final MethodHandle FUNC_SET_ATTRIBUTE =
            Native.status(LIB, "cuFuncSetAttribute", ADDRESS, JAVA_INT, JAVA_INT);
    private static final MethodHandle LAUNCH_KERNEL = Native.criticalStatus(LIB, "cuLaunchKernel", ADDRESS,
            JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, ADDRESS, ADDRESS, ADDRESS);
    private static final MethodHandle EVENT_CREATE = Native.status(LIB, "cuEventCreate", ADDRESS, JAVA_INT);
    private static final MethodHandle EVENT_RECORD = Native.criticalStatus(LIB, "cuEventRecord", ADDRESS, ADDRESS);
    private static final MethodHandle EVENT_SYNCHRONIZE = Native.status(LIB, "cuEventSynchronize", ADDRESS);
    private static final MethodHandle EVENT_ELAPSED = Native.status(LIB, "cuEventElapsedTime", ADDRESS, ADDRESS, ADDRESS);
    private static final MethodHandle EVENT_DESTROY = Native.status(LIB, "cuEventDestroy_v2", ADDRESS);
    private static final MethodHandle STREAM_BEGIN_CAPTURE = Native.status(LIB, "cuStreamBeginCapture_v2", ADDRESS, JAVA_INT);
    private static final MethodHandle STREAM_END_CAPTURE = Native.status(LIB, "cuStreamEndCapture", ADDRESS, ADDRESS);
    private static final MethodHandle GRAPH_INSTANTIATE =
            Native.status(LIB, "cuGraphInstantiateWithFlags", ADDRESS, ADDRESS, JAVA_LONG);
    private static final MethodHandle GRAPH_UPLOAD = Native.status(LIB, "cuGraphUpload", ADDRESS, ADDRESS);
    private static final MethodHandle GRAPH_LAUNCH = Native.criticalStatus(LIB, "cuGraphLaunch", ADDRESS, ADDRESS);
    private static final MethodHandle GRAPH_EXEC_DESTROY = Native.status(LIB, "cuGraphExecDestroy", ADDRESS);
    private static final MethodHandle GRAPH_DESTROY = Native.status(LIB, "cuGraphDestroy", ADDRESS);

    /** CU_STREAM_CAPTURE_MODE_THREAD_LOCAL: other threads' driver calls stay unrestricted. */
    static final int CAPTURE_MODE_THREAD_LOCAL = 1;

    static {
        check(call(() -> (int) INIT.invokeExact(0)), "cuInit");
    }

    private CudaDriver() {
    }

    /** Throws a MiiException naming {@code call} and the error unless {@code rc} is CUDA_SUCCESS. */
    static void check(int rc, String call) {
        if (rc != 0) {
            String name = errorName(rc);
            throw new MiiException(rc == CUDA_ERROR_OUT_OF_MEMORY ? MiiException.Kind.RESOURCE_EXHAUSTED
                    : MiiException.Kind.INTERNAL, call + ": " + name);
        }
    }

    static String errorName(int rc) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            int r = (int) GET_ERROR_NAME.invokeExact(rc, p);
            String s = r == 0 ? Native.cString(p.get(ADDRESS, 0)) : null;
            return s != null ? s : "CUresult " + rc;
        } catch (Throwable t) {
            return "CUresult " + rc;
        }
    }

    @FunctionalInterface
    interface IntCall {
        int call() throws Throwable;
    }

    /** Runs a downcall, rethrowing what cannot be thrown from a native call unchanged. */
    static int call(IntCall c) {
        try {
            return c.call();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(t);
        }
    }

    static int driverVersion() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check(call(() -> (int) DRIVER_VERSION.invokeExact(v)), "cuDriverGetVersion");
            return v.get(JAVA_INT, 0);
        }
    }

    static int deviceCount() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check(call(() -> (int) DEVICE_COUNT.invokeExact(v)), "cuDeviceGetCount");
            return v.get(JAVA_INT, 0);
        }
    }

    static int device(int ordinal) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check(call(() -> (int) DEVICE_GET.invokeExact(v, ordinal)), "cuDeviceGet(" + ordinal + ")");
            return v.get(JAVA_INT, 0);
        }
    }

    static String deviceName(int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(256);
            check(call(() -> (int) DEVICE_NAME.invokeExact(v, 256, device)), "cuDeviceGetName");
            return v.getString(0);
        }
    }

    static int deviceAttribute(int device, int attribute) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check(call(() -> (int) DEVICE_ATTRIBUTE.invokeExact(v, attribute, device)), "cuDeviceGetAttribute(" + attribute + ")");
            return v.get(JAVA_INT, 0);
        }
    }

    static MemorySegment primaryContextRetain(int device) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check(call(() -> (int) PRIMARY_CTX_RETAIN.invokeExact(v, device)), "cuDevicePrimaryCtxRetain");
            return v.get(ADDRESS, 0);
        }
    }

    static void primaryContextRelease(int device) {
        check(call(() -> (int) PRIMARY_CTX_RELEASE.invokeExact(device)), "cuDevicePrimaryCtxRelease");
    }

    static void setCurrent(MemorySegment ctx) {
        check(call(() -> (int) CTX_SET_CURRENT.invokeExact(ctx)), "cuCtxSetCurrent");
    }

    static MemorySegment streamCreate() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check(call(() -> (int) STREAM_CREATE.invokeExact(v, CU_STREAM_NON_BLOCKING)), "cuStreamCreate");
            return v.get(ADDRESS, 0);
        }
    }

    static void streamDestroy(MemorySegment stream) {
        check(call(() -> (int) STREAM_DESTROY.invokeExact(stream)), "cuStreamDestroy");
    }

    static void streamSynchronize(MemorySegment stream) {
        check(call(() -> (int) STREAM_SYNCHRONIZE.invokeExact(stream)), "cuStreamSynchronize");
    }

    static long memAlloc(long bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_LONG);
            check(call(() -> (int) MEM_ALLOC.invokeExact(v, bytes)), "cuMemAlloc(" + bytes + " bytes)");
            return v.get(JAVA_LONG, 0);
        }
    }

    static void memFree(long ptr) {
        check(call(() -> (int) MEM_FREE.invokeExact(ptr)), "cuMemFree");
    }

    /** {free, total} bytes of device memory. */
    static long[] memInfo() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment free = a.allocate(JAVA_LONG);
            MemorySegment total = a.allocate(JAVA_LONG);
            check(call(() -> (int) MEM_GET_INFO.invokeExact(free, total)), "cuMemGetInfo");
            return new long[] {free.get(JAVA_LONG, 0), total.get(JAVA_LONG, 0)};
        }
    }

    /** Page-locked host memory, seen as a segment of {@code bytes}. */
    static MemorySegment hostAlloc(long bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check(call(() -> (int) MEM_HOST_ALLOC.invokeExact(v, bytes, 0)), "cuMemHostAlloc(" + bytes + " bytes)");
            return v.get(ADDRESS, 0).reinterpret(bytes);
        }
    }

    static void hostFree(MemorySegment p) {
        check(call(() -> (int) MEM_FREE_HOST.invokeExact(p)), "cuMemFreeHost");
    }

    static void copyHtoDAsync(long dst, MemorySegment src, long bytes, MemorySegment stream) {
        check(call(() -> (int) MEMCPY_HTOD_ASYNC.invokeExact(dst, src, bytes, stream)), "cuMemcpyHtoDAsync");
    }

    static void copyDtoHAsync(MemorySegment dst, long src, long bytes, MemorySegment stream) {
        check(call(() -> (int) MEMCPY_DTOH_ASYNC.invokeExact(dst, src, bytes, stream)), "cuMemcpyDtoHAsync");
    }

    static void copyDtoDAsync(long dst, long src, long bytes, MemorySegment stream) {
        check(call(() -> (int) MEMCPY_DTOD_ASYNC.invokeExact(dst, src, bytes, stream)), "cuMemcpyDtoDAsync");
    }

    static void memsetAsync(long dst, byte value, long bytes, MemorySegment stream) {
        check(call(() -> (int) MEMSET_D8_ASYNC.invokeExact(dst, value, bytes, stream)), "cuMemsetD8Async");
    }

    static MemorySegment moduleLoadData(MemorySegment image) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check(call(() -> (int) MODULE_LOAD_DATA.invokeExact(v, image)), "cuModuleLoadData");
            return v.get(ADDRESS, 0);
        }
    }

    static void moduleUnload(MemorySegment module) {
        check(call(() -> (int) MODULE_UNLOAD.invokeExact(module)), "cuModuleUnload");
    }

    static MemorySegment moduleFunction(MemorySegment module, String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            MemorySegment n = a.allocateFrom(name);
            check(call(() -> (int) MODULE_GET_FUNCTION.invokeExact(v, module, n)), "cuModuleGetFunction(" + name + ")");
            return v.get(ADDRESS, 0);
        }
    }

    static void funcSetAttribute(MemorySegment fn, int attribute, int value, String name) {
        check(call(() -> (int) FUNC_SET_ATTRIBUTE.invokeExact(fn, attribute, value)),
                "cuFuncSetAttribute(" + name + ", " + attribute + ", " + value + ")");
    }

    static void launch(MemorySegment fn, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes,
                       MemorySegment stream, MemorySegment params, String name) {
        int rc = call(() -> (int) LAUNCH_KERNEL.invokeExact(fn, gx, gy, gz, bx, by, bz, sharedBytes, stream, params,
                MemorySegment.NULL));
        if (rc != 0) {
            check(rc, "cuLaunchKernel(" + name + ", grid " + gx + "x" + gy + "x" + gz + ", block " + bx + ")");
        }
    }

    static MemorySegment eventCreate() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check(call(() -> (int) EVENT_CREATE.invokeExact(v, CU_EVENT_DEFAULT)), "cuEventCreate");
            return v.get(ADDRESS, 0);
        }
    }

    static void eventRecord(MemorySegment event, MemorySegment stream) {
        check(call(() -> (int) EVENT_RECORD.invokeExact(event, stream)), "cuEventRecord");
    }

    static void eventSynchronize(MemorySegment event) {
        check(call(() -> (int) EVENT_SYNCHRONIZE.invokeExact(event)), "cuEventSynchronize");
    }

    /** Milliseconds between two recorded events. */
    static float eventElapsed(MemorySegment start, MemorySegment end) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_FLOAT);
            check(call(() -> (int) EVENT_ELAPSED.invokeExact(v, start, end)), "cuEventElapsedTime");
            return v.get(JAVA_FLOAT, 0);
        }
    }

    static void eventDestroy(MemorySegment event) {
        check(call(() -> (int) EVENT_DESTROY.invokeExact(event)), "cuEventDestroy");
    }

    // ---- Graphs ----

    static void streamBeginCapture(MemorySegment stream) {
        check(call(() -> (int) STREAM_BEGIN_CAPTURE.invokeExact(stream, CAPTURE_MODE_THREAD_LOCAL)), "cuStreamBeginCapture");
    }

    /** Ends the capture on {@code stream}; returns the captured graph. */
    static MemorySegment streamEndCapture(MemorySegment stream) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check(call(() -> (int) STREAM_END_CAPTURE.invokeExact(stream, v)), "cuStreamEndCapture");
            return v.get(ADDRESS, 0);
        }
    }

    static MemorySegment graphInstantiate(MemorySegment graph) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ADDRESS);
            check(call(() -> (int) GRAPH_INSTANTIATE.invokeExact(v, graph, 0L)), "cuGraphInstantiateWithFlags");
            return v.get(ADDRESS, 0);
        }
    }

    static void graphUpload(MemorySegment exec, MemorySegment stream) {
        check(call(() -> (int) GRAPH_UPLOAD.invokeExact(exec, stream)), "cuGraphUpload");
    }

    static void graphLaunch(MemorySegment exec, MemorySegment stream) {
        check(call(() -> (int) GRAPH_LAUNCH.invokeExact(exec, stream)), "cuGraphLaunch");
    }

    static void graphExecDestroy(MemorySegment exec) {
        check(call(() -> (int) GRAPH_EXEC_DESTROY.invokeExact(exec)), "cuGraphExecDestroy");
    }

    static void graphDestroy(MemorySegment graph) {
        check(call(() -> (int) GRAPH_DESTROY.invokeExact(graph)), "cuGraphDestroy");
    }
}
