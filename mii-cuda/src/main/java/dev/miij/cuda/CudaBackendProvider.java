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

    /** GPUs the driver sees; 0 where there is no driver or no GPU. Never throws. */
    public static int deviceCount() {
        try {
            return CudaDriver.deviceCount();
        } catch (Throwable t) { // no libcuda, no device, or a driver that refuses cuInit
            return 0;
        }
    }

    @Override
    public Backend create(int ordinal) {
        return new CudaBackend(ordinal);
    }
}
