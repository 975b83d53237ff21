package dev.miij;

import dev.miij.backend.Devices;
import dev.miij.engine.EngineConfig;

/**
 * How a pipeline runs its model: the engine's knobs and the device.
 *
 * <pre>{@code
 * Mii.pipeline("path/to/model", PipelineOptions.defaults().withDevice("cuda:1"));
 * }</pre>
 *
 * @param engine         scheduler and KV-cache settings (FastGen's names and defaults)
 * @param device         "cpu", "cuda" or "cuda:N"; null (the default) picks cuda where a usable GPU is
 *                       present and the CUDA backend (mii-cuda) is on the class path, else cpu
 * @param tensorParallel ranks the model is split over (MII's {@code tensor_parallel}, default 1): each
 *                       rank past the first is a process of this host that the pipeline starts and
 *                       stops ({@link dev.miij.parallel.LeadRank}); on "cuda" rank r runs on GPU r
 */
public record PipelineOptions(EngineConfig engine, String device, int tensorParallel) {

    public PipelineOptions {
        if (engine == null) {
            throw MiiException.invalid("engine options must not be null");
        }
        Devices.Device d = Devices.parse(device);
        device = d == null ? null : d.toString();
        if (tensorParallel < 1) {
            throw MiiException.invalid("tensor_parallel must be >= 1, got " + tensorParallel);
        }
    }

    /** One rank. */
    public PipelineOptions(EngineConfig engine, String device) {
        this(engine, device, 1);
    }

    public static PipelineOptions defaults() {
        return new PipelineOptions(EngineConfig.defaults(), null);
    }

    public PipelineOptions withEngine(EngineConfig e) {
        return new PipelineOptions(e, device, tensorParallel);
    }

    public PipelineOptions withDevice(String d) {
        return new PipelineOptions(engine, d, tensorParallel);
    }

    public PipelineOptions withTensorParallel(int n) {
        return new PipelineOptions(engine, device, n);
    }

    /** Same as {@code engine().withGpuMemoryUtilization(v)}: the fraction of a GPU's memory to use (0.9). */
    public PipelineOptions withGpuMemoryUtilization(double v) {
        return new PipelineOptions(engine.withGpuMemoryUtilization(v), device, tensorParallel);
    }
}
