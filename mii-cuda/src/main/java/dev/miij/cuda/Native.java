package dev.miij.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

/** Downcall handles for C functions that return an int status, and reading C strings. */
// Binding native code is what this class is for; the JVM runs with --enable-native-access.
@SuppressWarnings("restricted")
final class Native {

    private static final Linker LINKER = Linker.nativeLinker();

    private Native() {
    }

    /** {@code int name(args...)}. */
    static MethodHandle status(SymbolLookup lib, String name, MemoryLayout... args) {
        return handle(lib, name, FunctionDescriptor.of(JAVA_INT, args));
    }

    /**
     * {@code int name(args...)} for short calls that never block or call back into Java (kernel
     * launches, async copies, matmul enqueue): no thread-state transition, which makes them cheaper.
     */
    static MethodHandle criticalStatus(SymbolLookup lib, String name, MemoryLayout... args) {
        MemorySegment fn = lib.find(name).orElseThrow(() -> new UnsatisfiedLinkError("no symbol " + name));
        return LINKER.downcallHandle(fn, FunctionDescriptor.of(JAVA_INT, args), Linker.Option.critical(false));
    }

    static MethodHandle handle(SymbolLookup lib, String name, FunctionDescriptor fd) {
        MemorySegment fn = lib.find(name).orElseThrow(() -> new UnsatisfiedLinkError("no symbol " + name));
        return LINKER.downcallHandle(fn, fd);
    }

    /** {@code const char* name(int)}, as error-name functions are. */
    static MethodHandle stringOfInt(SymbolLookup lib, String name) {
        return handle(lib, name, FunctionDescriptor.of(ADDRESS, JAVA_INT));
    }

    static String cString(MemorySegment p) {
        if (p == null || p.equals(MemorySegment.NULL)) {
            return null;
        }
        return p.reinterpret(Long.MAX_VALUE).getString(0);
    }
}
