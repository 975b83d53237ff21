package dev.miij.cli;

import dev.miij.MiiException;
import dev.miij.PipelineOptions;
import dev.miij.backend.Devices;
import dev.miij.engine.EngineConfig;
import picocli.CommandLine.Option;

/** {@code --device}, {@code --gpu-memory-utilization} and {@code --tensor-parallel}, shared by generate, serve, bench and k8s. */
final class DeviceFlags {

    @Option(names = "--device", paramLabel = "DEVICE",
            description = "cpu, cuda or cuda:N (default: cuda when a usable GPU is present, else cpu).")
    String device;

    @Option(names = "--gpu-memory-utilization", paramLabel = "F",
            description = "Fraction of each GPU's memory to use for weights, activations and the KV cache, which gets"
                    + " the rest (default: 0.9). Replicas sharing a GPU split it.")
    double gpuMemoryUtilization = EngineConfig.DEFAULT_GPU_MEMORY_UTILIZATION;

    @Option(names = "--tensor-parallel", paramLabel = "N",
            description = "GPUs one model is split over (MII's tensor_parallel; default: ${DEFAULT-VALUE}). Only 1 runs yet.")
    int tensorParallel = 1;

    /**
     * Refuses a group of more than one rank until ranks can be launched: the sharded forward pass
     * exists ({@code dev.miij.parallel}), one process per GPU joined through NCCL does not yet.
     */
    void checkTensorParallel() {
        if (tensorParallel < 1) {
            throw MiiException.invalid("--tensor-parallel must be >= 1, got " + tensorParallel);
        }
        if (tensorParallel > 1) {
            throw MiiException.unsupported("--tensor-parallel " + tensorParallel + ": splitting a model over GPUs needs one"
                    + " process per GPU joined through NCCL, which MII-J does not launch yet; use --tensor-parallel 1"
                    + " (or --replica-num to use several GPUs)");
        }
    }

    /** The device as given, checked for form (null: automatic). */
    String device() {
        Devices.Device d = Devices.parse(device);
        return d == null ? null : d.toString();
    }

    EngineConfig applyTo(EngineConfig config) {
        checkTensorParallel();
        if (!(gpuMemoryUtilization > 0 && gpuMemoryUtilization <= 1)) {
            throw MiiException.invalid("--gpu-memory-utilization must be in (0, 1], got " + gpuMemoryUtilization);
        }
        return config.withGpuMemoryUtilization(gpuMemoryUtilization);
    }

    PipelineOptions applyTo(PipelineOptions options) {
        return options.withEngine(applyTo(options.engine())).withDevice(device());
    }
}
