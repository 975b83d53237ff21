package dev.miij.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.miij.MiiException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.logging.Logger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The module of MII-J's own kernels and a reusable argument block for launching them. The kernels
 * come from {@code kernels.fatbin}, built by nvcc with the jar; where it is absent (a build without
 * nvcc), does not fit the GPU, or {@code -Dmii.cuda.nvrtc=true} asks for it, the CUDA sources bundled
 * beside it are compiled by NVRTC for this GPU and the cubin is cached under
 * {@code ~/.cache/mii-j/cuda}.
 */
final class CudaKernels implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(CudaKernels.class.getName());
    private static final String RESOURCES = "/dev/miij/cuda/";
    private static final Pattern INCLUDE = Pattern.compile("#include \"([^\"]+)\"");
    private static final int MAX_ARGS = 32;

    /** A kernel of the module. */
    record Kernel(String name, MemorySegment fn) {
    }

    private final MemorySegment module;
    private final MemorySegment stream;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment values = arena.allocate(8L * MAX_ARGS, 16);
    private final MemorySegment pointers = arena.allocate(ADDRESS, MAX_ARGS);
    private final String origin;
    private int argCount;

    CudaKernels(int major, int minor, MemorySegment stream) {
        this.stream = stream;
        for (int i = 0; i < MAX_ARGS; i++) {
            pointers.setAtIndex(ADDRESS, i, values.asSlice(8L * i));
        }
        MemorySegment loaded = null;
        String from = null;
        byte[] fatbin = Boolean.getBoolean("mii.cuda.nvrtc") ? null : resource("kernels.fatbin");
        if (fatbin != null) {
            try {
                loaded = load(fatbin);
                from = "the bundled fatbin";
            } catch (MiiException e) {
                LOG.info("the bundled kernels do not load on sm_" + major + minor + " (" + e.getMessage()
                        + "); compiling them with NVRTC");
            }
        }
        if (loaded == null) {
            loaded = load(nvrtcCubin(major, minor));
            from = "NVRTC (sm_" + major + minor + ")";
        }
        this.module = loaded;
        this.origin = from;
    }

    /** Where the kernels came from, for the log. */
    String origin() {
        return origin;
    }

    Kernel kernel(String name) {
        return new Kernel(name, CudaDriver.moduleFunction(module, name));
    }

    private MemorySegment load(byte[] image) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment seg = a.allocate(image.length + 1L, 16);
            MemorySegment.copy(MemorySegment.ofArray(image), 0, seg, 0, image.length);
            return CudaDriver.moduleLoadData(seg);
        }
    }

    private static byte[] nvrtcCubin(int major, int minor) {
        String main = new String(require("kernels/kernels.cu"), StandardCharsets.UTF_8);
        Map<String, String> headers = new LinkedHashMap<>();
        collectIncludes(main, headers);
        StringBuilder all = new StringBuilder(main);
        headers.values().forEach(all::append);
        Path cache = cacheDir().resolve("kernels-" + sha256(all.toString()) + "-sm_" + major + minor + ".cubin");
        try {
            if (Files.isRegularFile(cache)) {
                return Files.readAllBytes(cache);
            }
        } catch (IOException e) {
            // Unreadable cache: compile again.
        }
        long t0 = System.nanoTime();
        byte[] cubin = Nvrtc.compile("kernels.cu", main, headers, major, minor);
        LOG.info(String.format("compiled the CUDA kernels with NVRTC for sm_%d%d in %.1f s", major, minor,
                (System.nanoTime() - t0) / 1e9));
        try {
            Files.createDirectories(cache.getParent());
            Path tmp = Files.createTempFile(cache.getParent(), "kernels", ".tmp");
            Files.write(tmp, cubin);
            Files.move(tmp, cache, java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                    java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        } catch (IOException e) {
            LOG.fine("cannot cache the compiled kernels in " + cache + ": " + e);
        }
        return cubin;
    }

    private static void collectIncludes(String source, Map<String, String> headers) {
        Matcher m = INCLUDE.matcher(source);
        while (m.find()) {
            String name = m.group(1);
            if (!headers.containsKey(name)) {
                String text = new String(require("kernels/" + name), StandardCharsets.UTF_8);
                headers.put(name, text);
                collectIncludes(text, headers);
            }
        }
    }

    private static Path cacheDir() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("mii-j").resolve("cuda");
    }

    private static String sha256(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)))
                    .substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static byte[] resource(String name) {
        try (InputStream in = CudaKernels.class.getResourceAsStream(RESOURCES + name)) {
            return in == null ? null : in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static byte[] require(String name) {
        byte[] b = resource(name);
        if (b == null) {
            throw new MiiException(MiiException.Kind.INTERNAL, "the mii-cuda jar lacks " + RESOURCES + name);
        }
        return b;
    }

    // ---- Launching: args() starts a new argument list, run() launches on the backend's stream. ----

    CudaKernels args() {
        argCount = 0;
        return this;
    }

    CudaKernels ptr(long devicePointer) {
        values.set(JAVA_LONG, 8L * argCount++, devicePointer);
        return this;
    }

    CudaKernels i32(int v) {
        values.set(JAVA_INT, 8L * argCount++, v);
        return this;
    }

    CudaKernels i64(long v) {
        values.set(JAVA_LONG, 8L * argCount++, v);
        return this;
    }

    CudaKernels f32(float v) {
        values.set(JAVA_FLOAT, 8L * argCount++, v);
        return this;
    }

    /** Launches {@code k} over a {@code gridX x gridY} grid of {@code block}-thread blocks. */
    void run(Kernel k, int gridX, int gridY, int block) {
        run3(k, gridX, gridY, 1, block);
    }

    /** Launches {@code k} over a three-dimensional grid. */
    void run3(Kernel k, int gridX, int gridY, int gridZ, int block) {
        run3(k, gridX, gridY, gridZ, block, 0);
    }

    /**
     * Launches {@code k} over a three-dimensional grid with {@code sharedBytes} of dynamic shared
     * memory (past 48 KiB, after {@link #allowSharedMemory}).
     */
    void run3(Kernel k, int gridX, int gridY, int gridZ, int block, int sharedBytes) {
        if (gridX == 0 || gridY == 0 || gridZ == 0) {
            return;
        }
        if (PROFILE) {
            profile(k.name() + (gridX == 1 ? "" : " [grid " + Math.min(gridX, 2) + "+]"), () ->
                    CudaDriver.launch(k.fn(), gridX, gridY, gridZ, block, 1, 1, sharedBytes, stream, pointers, k.name()));
            return;
        }
        CudaDriver.launch(k.fn(), gridX, gridY, gridZ, block, 1, 1, sharedBytes, stream, pointers, k.name());
    }

    /** Lets {@code k} launch with up to {@code bytes} of dynamic shared memory. */
    static void allowSharedMemory(Kernel k, int bytes) {
        CudaDriver.funcSetAttribute(k.fn(), CudaDriver.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes, k.name());
    }

    // ---- Profiling (-Dmii.cuda.profile=true): GPU time per kernel, each launch timed on its own. ----

    static final boolean PROFILE = Boolean.getBoolean("mii.cuda.profile");
    private static final Map<String, double[]> PROFILE_MS = new java.util.TreeMap<>();
    private MemorySegment profileStart;
    private MemorySegment profileEnd;

    /** Runs {@code work} (enqueueing on the stream) between two events and adds the GPU time under {@code name}. */
    void profile(String name, Runnable work) {
        if (profileStart == null) {
            profileStart = CudaDriver.eventCreate();
            profileEnd = CudaDriver.eventCreate();
        }
        CudaDriver.eventRecord(profileStart, stream);
        work.run();
        CudaDriver.eventRecord(profileEnd, stream);
        CudaDriver.eventSynchronize(profileEnd);
        double[] t = PROFILE_MS.computeIfAbsent(name, n -> new double[2]);
        t[0] += CudaDriver.eventElapsed(profileStart, profileEnd);
        t[1]++;
    }

    /** Forgets the times so far. */
    static void resetProfile() {
        PROFILE_MS.clear();
    }

    /** The times so far, one line per kernel: total ms, launches, µs per launch. */
    static String profileReport() {
        StringBuilder b = new StringBuilder();
        PROFILE_MS.forEach((n, t) -> b.append(String.format("%-40s %9.3f ms %7d x %8.2f us%n", n, t[0], (long) t[1],
                1e3 * t[0] / t[1])));
        return b.toString();
    }

    @Override
    public void close() {
        CudaDriver.moduleUnload(module);
        arena.close();
    }
}
