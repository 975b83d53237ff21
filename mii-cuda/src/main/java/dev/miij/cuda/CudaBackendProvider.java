package dev.miij.cuda;

import dev.miij.backend.Backend;
import dev.miij.backend.BackendProvider;

/** Makes the CUDA backend available as device "cuda" wherever this module is on the class path. */
public final class CudaBackendProvider implements BackendProvider {

    @Override
    public String name() {
        return "cuda";
    }

    @Override
    public boolean available() {
        return deviceCount() > 0;
    }

    @Override
    public int numDevices() {
        return deviceCount();
    }

    @Override
    public String unavailableReason() {
        int n = deviceCount();
        if (n > 0) {
            return n + (n == 1 ? " GPU" : " GPUs") + " found";
        }
        Throwable t = failure;
        if (t == null) {
            return "the CUDA driver sees no GPU";
        }
        while (t.getCause() != null) {
            t = t.getCause();
        }
        return t.getMessage() == null || t.getMessage().isBlank() ? t.toString() : t.getMessage();
    }

    /** Why the driver could not be used, the first time it failed (later attempts only say the class failed). */
    private static volatile Throwable failure;

    /** GPUs the driver sees; 0 where there is no driver or no GPU. Never throws. */
    public static int deviceCount() {
        try {
            return CudaDriver.deviceCount();
        } catch (Throwable t) { // no libcuda, no device, or a driver that refuses cuInit
            if (failure == null) {
                failure = t;
            }
            return 0;
        }
    }

    @Override
    public Backend create(int ordinal) {
        return new CudaBackend(ordinal);
    }
}
