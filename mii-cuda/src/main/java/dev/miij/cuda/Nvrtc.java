package dev.miij.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.miij.MiiException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.List;
import java.util.Map;

/** Compiles CUDA C++ to a cubin at run time through NVRTC, for builds made without nvcc. */
final class Nvrtc {

    private static final SymbolLookup LIB = NativeLibraries.open("NVRTC", "libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so");
    private static final MethodHandle ERROR_STRING = Native.stringOfInt(LIB, "nvrtcGetErrorString");
    private static final MethodHandle CREATE = Native.status(LIB, "nvrtcCreateProgram", ADDRESS, ADDRESS, ADDRESS,
            JAVA_INT, ADDRESS, ADDRESS);
    private static final MethodHandle COMPILE = Native.status(LIB, "nvrtcCompileProgram", ADDRESS, JAVA_INT, ADDRESS);
    private static final MethodHandle LOG_SIZE = Native.status(LIB, "nvrtcGetProgramLogSize", ADDRESS, ADDRESS);
    private static final MethodHandle LOG = Native.status(LIB, "nvrtcGetProgramLog", ADDRESS, ADDRESS);
    private static final MethodHandle CUBIN_SIZE = Native.status(LIB, "nvrtcGetCUBINSize", ADDRESS, ADDRESS);
    private static final MethodHandle CUBIN = Native.status(LIB, "nvrtcGetCUBIN", ADDRESS, ADDRESS);
    private static final MethodHandle DESTROY = Native.status(LIB, "nvrtcDestroyProgram", ADDRESS);

    private Nvrtc() {
    }

    private static void check(int rc, String call) {
        if (rc != 0) {
            String name;
            try {
                name = Native.cString((MemorySegment) ERROR_STRING.invokeExact(rc));
            } catch (Throwable t) {
                name = null;
            }
            throw new MiiException(MiiException.Kind.INTERNAL, call + ": " + (name != null ? name : "nvrtcResult " + rc));
        }
    }

    /**
     * Compiles {@code source} (which may #include the given headers by name) for compute capability
     * {@code major.minor} and returns the cubin's bytes.
     */
    static byte[] compile(String name, String source, Map<String, String> headers, int major, int minor) {
        try (Arena a = Arena.ofConfined()) {
            List<String> names = List.copyOf(headers.keySet());
            MemorySegment headerSrc = a.allocate(ADDRESS, Math.max(1, names.size()));
            MemorySegment headerNames = a.allocate(ADDRESS, Math.max(1, names.size()));
            for (int i = 0; i < names.size(); i++) {
                headerSrc.setAtIndex(ADDRESS, i, a.allocateFrom(headers.get(names.get(i))));
                headerNames.setAtIndex(ADDRESS, i, a.allocateFrom(names.get(i)));
            }
            MemorySegment prog = a.allocate(ADDRESS);
            MemorySegment src = a.allocateFrom(source);
            MemorySegment progName = a.allocateFrom(name);
            int count = names.size();
            check(CudaDriver.call(() -> (int) CREATE.invokeExact(prog, src, progName, count, headerSrc, headerNames)),
                    "nvrtcCreateProgram");
            MemorySegment p = prog.get(ADDRESS, 0);
            String[] options = {"--gpu-architecture=sm_" + major + minor, "--std=c++17", "-default-device"};
            MemorySegment opts = a.allocate(ADDRESS, options.length);
            for (int i = 0; i < options.length; i++) {
                opts.setAtIndex(ADDRESS, i, a.allocateFrom(options[i]));
            }
            try {
                int rc = CudaDriver.call(() -> (int) COMPILE.invokeExact(p, options.length, opts));
                if (rc != 0) {
                    MemorySegment size = a.allocate(JAVA_LONG);
                    check(CudaDriver.call(() -> (int) LOG_SIZE.invokeExact(p, size)), "nvrtcGetProgramLogSize");
                    MemorySegment log = a.allocate(Math.max(1, size.get(JAVA_LONG, 0)));
                    check(CudaDriver.call(() -> (int) LOG.invokeExact(p, log)), "nvrtcGetProgramLog");
                    throw new MiiException(MiiException.Kind.INTERNAL, "nvrtcCompileProgram(" + name + ", sm_" + major
                            + minor + ") failed:\n" + log.getString(0));
                }
                MemorySegment size = a.allocate(JAVA_LONG);
                check(CudaDriver.call(() -> (int) CUBIN_SIZE.invokeExact(p, size)), "nvrtcGetCUBINSize");
                MemorySegment cubin = a.allocate(size.get(JAVA_LONG, 0));
                check(CudaDriver.call(() -> (int) CUBIN.invokeExact(p, cubin)), "nvrtcGetCUBIN");
                return cubin.toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            } finally {
                check(CudaDriver.call(() -> (int) DESTROY.invokeExact(prog)), "nvrtcDestroyProgram");
            }
        }
    }
}
