package dev.miij.backend;

import java.util.Optional;
import java.util.ServiceLoader;

/**
 * A device backend that lives in another module (the CUDA backend in mii-cuda), found through
 * {@link ServiceLoader} so that the core never depends on it.
 *
 * <pre>{@code
 * Backend b = BackendProvider.find("cuda").filter(BackendProvider::available)
 *         .map(p -> p.create(0)).orElseGet(CpuBackend::new);
 * }</pre>
 */
public interface BackendProvider {

    /** The device name this provider answers to, as given to {@code --device} ("cuda"). */
    String name();

    /** Whether a usable device is present here (driver and libraries load, a device exists). Never throws. */
    boolean available();

    /** A backend on the device with this ordinal. */
    Backend create(int ordinal);

    /** Devices of this kind present here (0 when {@link #available()} is false). Never throws. */
    default int numDevices() {
        return available() ? 1 : 0;
    }

    /** Why {@link #available()} is false, in words a user can act on. Never throws. */
    default String unavailableReason() {
        return "no usable " + name() + " device was found";
    }

    /** The provider named {@code name} on the class path, if any. */
    static Optional<BackendProvider> find(String name) {
        for (BackendProvider p : ServiceLoader.load(BackendProvider.class)) {
            if (p.name().equals(name)) {
                return Optional.of(p);
            }
        }
        return Optional.empty();
    }
}
