package dev.miij.cli;

import dev.miij.MiiException;
import dev.miij.PipelineOptions;
import dev.miij.backend.Devices;
import dev.miij.engine.EngineConfig;
import picocli.CommandLine.Option;

/** {@code --device} and {@code --gpu-memory-utilization}, shared by generate, serve and bench. */
final class DeviceFlags {

    @Option(names = "--device", paramLabel = "DEVICE",
            description = "cpu, cuda or cuda:N (default: cuda when a usable GPU is present, else cpu).")
    String device;

    @Option(names = "--gpu-memory-utilization", paramLabel = "F",
            description = "Fraction of each GPU's memory to use for weights, activations and the KV cache, which gets"
                    + " the rest (default: 0.9). Replicas sharing a GPU split it.")
    double gpuMemoryUtilization = EngineConfig.DEFAULT_GPU_MEMORY_UTILIZATION;

    /** The device as given, checked for form (null: automatic). */
    String device() {
        Devices.Device d = Devices.parse(device);
        return d == null ? null : d.toString();
    }

    EngineConfig applyTo(EngineConfig config) {
        if (!(gpuMemoryUtilization > 0 && gpuMemoryUtilization <= 1)) {
            throw MiiException.invalid("--gpu-memory-utilization must be in (0, 1], got " + gpuMemoryUtilization);
        }
        return config.withGpuMemoryUtilization(gpuMemoryUtilization);
    }

    PipelineOptions applyTo(PipelineOptions options) {
        return options.withEngine(applyTo(options.engine())).withDevice(device());
    }
}
