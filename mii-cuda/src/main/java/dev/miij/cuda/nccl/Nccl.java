package dev.miij.cuda.nccl;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.miij.MiiException;
import dev.miij.cuda.NativeLibraries;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

/**
 * NCCL, bound through FFM: the calls a tensor-parallel group needs (unique id, communicator per
 * rank, all-reduce, all-gather, destroy and abort, version and error strings). {@code libnccl.so.2}
 * is found like the other NVIDIA libraries ({@link NativeLibraries}: {@code $CUDA_HOME}, the loader
 * path, {@code /usr/local/cuda}, the system library folders, and Python wheels, where the
 * {@code nvidia-nccl-cu12} / {@code -cu13} wheel puts it under {@code site-packages/nvidia/nccl/lib}),
 * and opened the first time a call needs it. Every call checks its {@code ncclResult_t}; a failure is
 * a {@link MiiException} naming the call and the result ({@code ncclAllReduce failed:
 * ncclUnhandledCudaError (1): ...}).
 *
 * <pre>{@code
 * byte[] id = Nccl.uniqueId();                       // on rank 0, then sent to the others
 * MemorySegment comm = Nccl.commInitRank(2, id, rank);   // every rank, with its device's context current
 * Nccl.allReduce(ptr, ptr, count, Nccl.BFLOAT16, Nccl.SUM, comm, stream);
 * }</pre>
 */
// Binding native code is what this class is for; the JVM runs with --enable-native-access.
@SuppressWarnings("restricted")
public final class Nccl {

    /** {@code NCCL_UNIQUE_ID_BYTES}. */
    public static final int UNIQUE_ID_BYTES = 128;

    /** {@code ncclDataType_t} values. */
    public static final int FLOAT32 = 7;
    public static final int BFLOAT16 = 9;

    /** {@code ncclRedOp_t}: {@code ncclSum}. */
    public static final int SUM = 0;

    /** {@code ncclResult_t} names, by value. */
    private static final String[] RESULTS = {"ncclSuccess", "ncclUnhandledCudaError", "ncclSystemError",
            "ncclInternalError", "ncclInvalidArgument", "ncclInvalidUsage", "ncclRemoteError", "ncclInProgress"};

    static final String[] SONAMES = {"libnccl.so.2", "libnccl.so"};

    private static final StructLayout UNIQUE_ID = MemoryLayout.structLayout(
            MemoryLayout.sequenceLayout(UNIQUE_ID_BYTES, JAVA_BYTE).withName("internal")).withName("ncclUniqueId");

    private Nccl() {
    }

    /** The bound functions; loading this class opens the library (the first call that needs it). */
    private static final class Lib {
        static final SymbolLookup LIB = NativeLibraries.open("NCCL", SONAMES);
        static final MethodHandle GET_VERSION = status("ncclGetVersion", ADDRESS);
        static final MethodHandle GET_UNIQUE_ID = status("ncclGetUniqueId", ADDRESS);
        static final MethodHandle COMM_INIT_RANK = status("ncclCommInitRank", ADDRESS, JAVA_INT, UNIQUE_ID, JAVA_INT);
        static final MethodHandle ALL_REDUCE = status("ncclAllReduce", JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT, JAVA_INT,
                ADDRESS, ADDRESS);
        static final MethodHandle ALL_GATHER = status("ncclAllGather", JAVA_LONG, JAVA_LONG, JAVA_LONG, JAVA_INT, ADDRESS,
                ADDRESS);
        static final MethodHandle COMM_DESTROY = status("ncclCommDestroy", ADDRESS);
        static final MethodHandle COMM_ABORT = status("ncclCommAbort", ADDRESS);
        static final MethodHandle GET_ERROR_STRING = Linker.nativeLinker().downcallHandle(find("ncclGetErrorString"),
                FunctionDescriptor.of(ADDRESS, JAVA_INT));
        /** NCCL 2.13 and later: the last error's details on a communicator. */
        static final Optional<MethodHandle> GET_LAST_ERROR = LIB.find("ncclGetLastError").map(f ->
                Linker.nativeLinker().downcallHandle(f, FunctionDescriptor.of(ADDRESS, ADDRESS)));

        static void init() {
            // loading the class is the work
        }

        private static MemorySegment find(String name) {
            return LIB.find(name).orElseThrow(() -> MiiException.unsupported("the NCCL library found has no " + name
                    + "; MII-J needs NCCL 2.10 or newer (BF16)"));
        }

        private static MethodHandle status(String name, MemoryLayout... args) {
            return Linker.nativeLinker().downcallHandle(find(name), FunctionDescriptor.of(JAVA_INT, args));
        }
    }

    private static volatile MiiException unavailable;

    /** Opens the library once; throws why it cannot be used, each time it is asked. */
    private static void load() {
        MiiException u = unavailable;
        if (u != null) {
            throw new MiiException(u.kind(), u.getMessage(), u);
        }
        try {
            Lib.init();
        } catch (ExceptionInInitializerError e) {
            unavailable = e.getCause() instanceof MiiException m
                    ? new MiiException(m.kind(), m.getMessage() + ". NCCL comes with the nvidia-nccl-cu12 (or -cu13) Python"
                    + " wheel, under site-packages/nvidia/nccl/lib, and with the libnccl2 package of NVIDIA's repositories", m)
                    : MiiException.unsupported("NCCL could not be bound: " + e.getCause());
            throw unavailable;
        } catch (NoClassDefFoundError e) { // another thread's first attempt failed
            MiiException v = unavailable;
            throw v != null ? v : MiiException.unsupported("NCCL could not be bound");
        }
    }

    /** Whether libnccl can be opened here. Never throws. */
    public static boolean available() {
        try {
            load();
            return true;
        } catch (MiiException e) {
            return false;
        }
    }

    /** Why {@link #available()} is false (null when it is true). Never throws. */
    public static String unavailableReason() {
        try {
            load();
            return null;
        } catch (MiiException e) {
            return e.getMessage();
        }
    }

    /** The library's version, e.g. "2.23.4". */
    public static String version() {
        load();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(JAVA_INT);
            check("ncclGetVersion", (int) Lib.GET_VERSION.invokeExact(v));
            return versionString(v.get(JAVA_INT, 0));
        } catch (MiiException e) {
            throw e;
        } catch (Throwable t) {
            throw bug("ncclGetVersion", t);
        }
    }

    /** NCCL's version code as text: {@code major*10000 + minor*100 + patch} since 2.9, {@code major*1000 + ...} before. */
    static String versionString(int code) {
        if (code >= 10000) {
            return code / 10000 + "." + code / 100 % 100 + "." + code % 100;
        }
        return code / 1000 + "." + code / 100 % 10 + "." + code % 100;
    }

    /** A new unique id (rank 0 makes it; every rank needs it to create its communicator). */
    public static byte[] uniqueId() {
        load();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment id = a.allocate(UNIQUE_ID);
            check("ncclGetUniqueId", (int) Lib.GET_UNIQUE_ID.invokeExact(id));
            return id.toArray(JAVA_BYTE);
        } catch (MiiException e) {
            throw e;
        } catch (Throwable t) {
            throw bug("ncclGetUniqueId", t);
        }
    }

    /**
     * Rank {@code rank}'s communicator of a group of {@code size} that share {@code uniqueId}. Blocks
     * until every rank has called it; runs on the device whose context is current on this thread.
     */
    public static MemorySegment commInitRank(int size, byte[] uniqueId, int rank) {
        load();
        if (uniqueId == null || uniqueId.length != UNIQUE_ID_BYTES) {
            throw new IllegalArgumentException("an NCCL unique id has " + UNIQUE_ID_BYTES + " bytes");
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment comm = a.allocate(ADDRESS);
            MemorySegment id = a.allocate(UNIQUE_ID);
            MemorySegment.copy(uniqueId, 0, id, JAVA_BYTE, 0, UNIQUE_ID_BYTES);
            check("ncclCommInitRank", (int) Lib.COMM_INIT_RANK.invokeExact(comm, size, id, rank));
            return comm.get(ADDRESS, 0);
        } catch (MiiException e) {
            throw e;
        } catch (Throwable t) {
            throw bug("ncclCommInitRank", t);
        }
    }

    /** Enqueues on {@code stream}: {@code recv = sum over ranks of send}, {@code count} elements of {@code type}. */
    public static void allReduce(long send, long recv, long count, int type, int op, MemorySegment comm, MemorySegment stream) {
        int r;
        try {
            r = (int) Lib.ALL_REDUCE.invokeExact(send, recv, count, type, op, comm, stream);
        } catch (Throwable t) {
            throw bug("ncclAllReduce", t);
        }
        check("ncclAllReduce", r, comm);
    }

    /** Enqueues on {@code stream}: {@code recv} = every rank's {@code send} ({@code count} elements each), in rank order. */
    public static void allGather(long send, long recv, long count, int type, MemorySegment comm, MemorySegment stream) {
        int r;
        try {
            r = (int) Lib.ALL_GATHER.invokeExact(send, recv, count, type, comm, stream);
        } catch (Throwable t) {
            throw bug("ncclAllGather", t);
        }
        check("ncclAllGather", r, comm);
    }

    /** Frees a communicator once its work is done. */
    public static void commDestroy(MemorySegment comm) {
        int r;
        try {
            r = (int) Lib.COMM_DESTROY.invokeExact(comm);
        } catch (Throwable t) {
            throw bug("ncclCommDestroy", t);
        }
        check("ncclCommDestroy", r);
    }

    /** Frees a communicator at once, its pending work abandoned (a rank of the group failed). */
    public static void commAbort(MemorySegment comm) {
        int r;
        try {
            r = (int) Lib.COMM_ABORT.invokeExact(comm);
        } catch (Throwable t) {
            throw bug("ncclCommAbort", t);
        }
        check("ncclCommAbort", r);
    }

    /** The name of an {@code ncclResult_t}. */
    static String resultName(int result) {
        return result >= 0 && result < RESULTS.length ? RESULTS[result] : "unknown ncclResult";
    }

    private static void check(String call, int result) {
        if (result != 0) {
            throw error(call, result, errorString(result));
        }
    }

    private static void check(String call, int result, MemorySegment comm) {
        if (result != 0) {
            String detail = errorString(result);
            String last = lastError(comm);
            throw error(call, result, last == null || last.isBlank() ? detail : detail + "; " + last);
        }
    }

    /**
     * The exception for a failed call: its name, the result's name and number, and NCCL's words. A
     * system or remote error (network, a peer gone) is an I/O problem; the rest are MII-J's to fix.
     */
    static MiiException error(String call, int result, String detail) {
        MiiException.Kind kind = result == 2 || result == 6 ? MiiException.Kind.IO : MiiException.Kind.INTERNAL;
        return new MiiException(kind, call + " failed: " + resultName(result) + " (" + result + ")"
                + (detail == null || detail.isBlank() ? "" : ": " + detail));
    }

    private static String errorString(int result) {
        try {
            MemorySegment p = (MemorySegment) Lib.GET_ERROR_STRING.invokeExact(result);
            return cString(p);
        } catch (Throwable t) {
            return null;
        }
    }

    private static String lastError(MemorySegment comm) {
        try {
            if (Lib.GET_LAST_ERROR.isEmpty()) {
                return null;
            }
            return cString((MemorySegment) Lib.GET_LAST_ERROR.get().invokeExact(comm));
        } catch (Throwable t) {
            return null;
        }
    }

    private static String cString(MemorySegment p) {
        return p == null || p.equals(MemorySegment.NULL) ? null : p.reinterpret(4096).getString(0);
    }

    private static MiiException bug(String call, Throwable t) {
        return new MiiException(MiiException.Kind.INTERNAL, call + " could not be called: " + t, t);
    }
}
