package dev.miij.backend;

import dev.miij.MiiException;
import dev.miij.backend.cpu.CpuBackend;
import java.util.Locale;
import java.util.Optional;
import java.util.function.Supplier;

/**
 * Which device runs a model: {@code cpu}, {@code cuda} (the first GPU, or the one a replica is placed
 * on) or {@code cuda:N}; none given means {@code cuda} where a usable GPU is present, else {@code cpu}.
 * The CUDA backend lives in the mii-cuda module and is found through {@link BackendProvider}.
 *
 * <pre>{@code
 * Backend b = Devices.open("cuda:1");   // throws, naming the reason, when there is no such GPU here
 * String d = Devices.resolve(null);      // "cuda:0" on a GPU host, "cpu" elsewhere
 * }</pre>
 */
public final class Devices {

    /** The name of the CUDA backend's provider. */
    public static final String CUDA = "cuda";

    private Devices() {
    }

    /**
     * A parsed device: {@code kind} is "cpu" or "cuda"; {@code ordinal} is -1 when no GPU was named
     * ("cuda": the first one, or spread over GPUs by replica placement).
     */
    public record Device(String kind, int ordinal) {

        public boolean isCuda() {
            return CUDA.equals(kind);
        }

        @Override
        public String toString() {
            return ordinal < 0 ? kind : kind + ":" + ordinal;
        }
    }

    /**
     * Parses a device name; null, blank and "auto" give null (choose automatically).
     *
     * @throws MiiException INVALID_ARGUMENT naming the accepted forms
     */
    public static Device parse(String device) {
        if (device == null || device.isBlank() || device.trim().equalsIgnoreCase("auto")) {
            return null;
        }
        String d = device.trim().toLowerCase(Locale.ROOT);
        if (d.equals("cpu")) {
            return new Device("cpu", -1);
        }
        if (d.equals(CUDA)) {
            return new Device(CUDA, -1);
        }
        if (d.startsWith(CUDA + ":")) {
            String n = d.substring(CUDA.length() + 1);
            if (!n.isEmpty() && n.length() <= 4 && n.chars().allMatch(Character::isDigit)) {
                return new Device(CUDA, Integer.parseInt(n));
            }
        }
        throw MiiException.invalid("device must be cpu, cuda or cuda:N (N = 0, 1, ...), got '" + device + "'");
    }

    /** The CUDA backend's provider, when mii-cuda is on the class path. */
    static Optional<BackendProvider> cudaProvider() {
        return BackendProvider.find(CUDA);
    }

    /** GPUs usable here: 0 without mii-cuda, a driver or a device. Never throws. */
    public static int gpuCount() {
        return cudaProvider().map(p -> p.available() ? p.numDevices() : 0).orElse(0);
    }

    /** The device a null/"auto" choice means here: "cuda" when a usable GPU is present, else "cpu". */
    public static String defaultDevice() {
        return gpuCount() > 0 ? CUDA : "cpu";
    }

    /**
     * Checks that {@code device} can be used here and names it fully ("cpu", "cuda:0", ...).
     *
     * @throws MiiException INVALID_ARGUMENT for a malformed name, UNSUPPORTED when the GPU is absent
     */
    public static String resolve(String device) {
        Device d = parse(device);
        if (d == null) {
            d = parse(defaultDevice());
        }
        if (!d.isCuda()) {
            return "cpu";
        }
        BackendProvider p = requireCuda(d);
        return CUDA + ":" + checkOrdinal(d, p.numDevices());
    }

    /** A backend on {@code device} (null or "auto": the default device). */
    public static Backend open(String device) {
        return open(device, CpuBackend::new);
    }

    static Backend open(String device, Supplier<Backend> cpu) {
        Device d = parse(device);
        if (d == null) {
            d = parse(defaultDevice());
        }
        if (!d.isCuda()) {
            return cpu.get();
        }
        BackendProvider p = requireCuda(d);
        return p.create(checkOrdinal(d, p.numDevices()));
    }

    private static BackendProvider requireCuda(Device d) {
        BackendProvider p = cudaProvider().orElseThrow(() -> MiiException.unsupported("device '" + d
                + "' was asked for, but this build has no CUDA backend (the mii-cuda jar is not on the class path);"
                + " use --device cpu"));
        if (!p.available()) {
            throw MiiException.unsupported("device '" + d + "' was asked for, but no usable GPU was found: "
                    + p.unavailableReason() + "; use --device cpu");
        }
        return p;
    }

    private static int checkOrdinal(Device d, int count) {
        int ordinal = Math.max(0, d.ordinal());
        if (ordinal >= count) {
            throw MiiException.unsupported("device '" + d + "' was asked for, but this machine has " + count
                    + (count == 1 ? " GPU (cuda:0)" : " GPUs (cuda:0 to cuda:" + (count - 1) + ")"));
        }
        return ordinal;
    }

    /**
     * Where replica {@code index} of {@code replicas} runs, and how many replicas share its device.
     * With "cuda" (no GPU named) replicas go round-robin over the {@code gpus} GPUs (cuda:0, cuda:1, ...);
     * "cuda:N" puts every replica on GPU N; the CPU is shared by all.
     *
     * @param device   the deployment's device (null/"auto": cuda when {@code gpus} > 0, else cpu)
     * @param gpus     usable GPUs on this host
     */
    public static Placement place(String device, int index, int replicas, int gpus) {
        if (index < 0 || index >= replicas) {
            throw new IllegalArgumentException("replica " + index + " of " + replicas);
        }
        Device d = parse(device);
        if (d == null) {
            d = gpus > 0 ? new Device(CUDA, -1) : new Device("cpu", -1);
        }
        if (!d.isCuda()) {
            return new Placement("cpu", replicas);
        }
        if (d.ordinal() >= 0 || gpus <= 1) {
            return new Placement(CUDA + ":" + Math.max(0, d.ordinal()), replicas);
        }
        int gpu = index % gpus;
        int sharing = replicas / gpus + (gpu < replicas % gpus ? 1 : 0);
        return new Placement(CUDA + ":" + gpu, sharing);
    }

    /**
     * A replica's device and the number of replicas on it (each takes its share of
     * gpu_memory_utilization).
     */
    public record Placement(String device, int sharedBy) {
    }
}
