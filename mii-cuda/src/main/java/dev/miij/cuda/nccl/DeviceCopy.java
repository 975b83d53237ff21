package dev.miij.cuda.nccl;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.miij.MiiException;
import dev.miij.cuda.NativeLibraries;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;

/**
 * Strided device-to-device copies ({@code cuMemcpy2DAsync}): how a gather lays every rank's columns
 * side by side in rows, where NCCL's all-gather puts each rank's block after the previous one.
 */
// Binding native code is what this class is for; the JVM runs with --enable-native-access.
@SuppressWarnings("restricted")
public final class DeviceCopy {

    private static final SymbolLookup CUDA = NativeLibraries.open("the CUDA driver", "libcuda.so.1", "libcuda.so");
    private static final MethodHandle MEMCPY_2D_ASYNC = Linker.nativeLinker().downcallHandle(
            CUDA.find("cuMemcpy2DAsync_v2").orElseThrow(), FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    private static final MethodHandle GET_ERROR_NAME = Linker.nativeLinker().downcallHandle(
            CUDA.find("cuGetErrorName").orElseThrow(), FunctionDescriptor.of(JAVA_INT, JAVA_INT, ADDRESS));

    /** {@code CUDA_MEMCPY2D} (128 bytes on 64-bit hosts) and the offsets of the fields set here. */
    private static final long STRUCT_BYTES = 128;
    private static final long SRC_MEMORY_TYPE = 16;
    private static final long SRC_DEVICE = 32;
    private static final long SRC_PITCH = 48;
    private static final long DST_MEMORY_TYPE = 72;
    private static final long DST_DEVICE = 88;
    private static final long DST_PITCH = 104;
    private static final long WIDTH_IN_BYTES = 112;
    private static final long HEIGHT = 120;
    private static final int CU_MEMORYTYPE_DEVICE = 2;

    private DeviceCopy() {
    }

    /**
     * Enqueues on {@code stream}: {@code height} rows of {@code widthBytes} bytes from {@code src}
     * (rows {@code srcPitch} bytes apart) to {@code dst} (rows {@code dstPitch} bytes apart).
     */
    public static void copy2D(long src, long srcPitch, long dst, long dstPitch, long widthBytes, long height, MemorySegment stream) {
        if (widthBytes > srcPitch || widthBytes > dstPitch) {
            throw new IllegalArgumentException("rows of " + widthBytes + " bytes with pitches " + srcPitch + " and " + dstPitch);
        }
        if (widthBytes == 0 || height == 0) {
            return;
        }
        int r;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(STRUCT_BYTES, 8); // zeroed: offsets x/y 0, host and array pointers null
            p.set(JAVA_INT, SRC_MEMORY_TYPE, CU_MEMORYTYPE_DEVICE);
            p.set(JAVA_LONG, SRC_DEVICE, src);
            p.set(JAVA_LONG, SRC_PITCH, srcPitch);
            p.set(JAVA_INT, DST_MEMORY_TYPE, CU_MEMORYTYPE_DEVICE);
            p.set(JAVA_LONG, DST_DEVICE, dst);
            p.set(JAVA_LONG, DST_PITCH, dstPitch);
            p.set(JAVA_LONG, WIDTH_IN_BYTES, widthBytes);
            p.set(JAVA_LONG, HEIGHT, height);
            r = (int) MEMCPY_2D_ASYNC.invokeExact(p, stream);
        } catch (Throwable t) {
            throw new MiiException(MiiException.Kind.INTERNAL, "cuMemcpy2DAsync could not be called: " + t, t);
        }
        if (r != 0) {
            throw new MiiException(MiiException.Kind.INTERNAL, "cuMemcpy2DAsync failed: " + errorName(r) + " (" + r + ")");
        }
    }

    private static String errorName(int result) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            int ignored = (int) GET_ERROR_NAME.invokeExact(result, p);
            MemorySegment s = p.get(ADDRESS, 0);
            return s.equals(MemorySegment.NULL) ? "CUresult" : s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "CUresult";
        }
    }
}
