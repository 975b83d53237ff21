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
            description = "Ranks one model is split over (MII's tensor_parallel; default: ${DEFAULT-VALUE}): this process is"
                    + " rank 0 and starts ranks 1..N-1 as processes of this host. Runs on the CPU for generate and bench;"
                    + " on GPUs it needs N GPUs and NCCL.")
    int tensorParallel = 1;

    void checkTensorParallel() {
        if (tensorParallel < 1) {
            throw MiiException.invalid("--tensor-parallel must be >= 1, got " + tensorParallel);
        }
    }

    /**
     * Refuses a group of more than one rank where {@code command} does not launch one yet (serve and
     * k8s: deployments place one process per replica).
     */
    void refuseTensorParallel(String command) {
        checkTensorParallel();
        if (tensorParallel > 1) {
            throw MiiException.unsupported("--tensor-parallel " + tensorParallel + ": '" + command + "' does not start"
                    + " tensor-parallel ranks yet (a deployment runs one process per replica); 'mii generate' and"
                    + " 'mii bench' do (e.g. mii generate --tensor-parallel " + tensorParallel + " --device cpu ...)."
                    + " Use --tensor-parallel 1, with --replica-num to use several devices");
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
        return options.withEngine(applyTo(options.engine())).withDevice(device()).withTensorParallel(tensorParallel);
    }
}
