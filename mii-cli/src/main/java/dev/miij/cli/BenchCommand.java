package dev.miij.cli;

import dev.miij.MiiException;
import dev.miij.arch.Architectures;
import dev.miij.arch.DecoderModel;
import dev.miij.backend.cpu.CpuBackend;
import dev.miij.bench.DummyModel;
import dev.miij.bench.EngineBench;
import dev.miij.bench.ServingBench;
import dev.miij.backend.Devices;
import dev.miij.engine.EngineConfig;
import dev.miij.model.DType;
import dev.miij.model.HfHub;
import dev.miij.model.ModelFolder;
import dev.miij.model.TensorData;
import dev.miij.model.WeightSource;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code mii bench}: engine speed on a model or on dummy weights of a known shape. With a workload
 * ({@code --batch-size}, {@code --num-requests}, {@code --input-len}, {@code --output-len}), with
 * {@code --json}, or on a GPU, it serves that workload through the engine ({@link WorkloadBench});
 * otherwise it runs the CPU suite (decode, prompt, concurrency, prefix-cache TTFT).
 *
 * <pre>
 * ./mii bench --device cuda --dummy llama-3-8b --batch-size 1 --num-requests 8 --input-len 128 --output-len 128 --json
 * </pre>
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = {"Measure a workload through the engine (--batch-size, --num-requests, --input-len, --output-len;"
                + " --json prints one JSON object), or on the CPU without those, decode and prompt speed, throughput"
                + " under concurrency and prefix-cache TTFT."})
final class BenchCommand implements Callable<Integer> {

    @Option(names = {"-m", "--model"}, paramLabel = "DIR_OR_ID", description = "Model to measure.")
    String model;

    @Option(names = "--dummy", paramLabel = "SHAPE",
            description = "Random weights of a known shape instead of a model: llama-3-8b, llama-3.2-1b, small, tiny"
                    + " (on a GPU generated in memory; on the CPU written once under --dummy-dir).")
    String dummy;

    @Option(names = "--dummy-dtype", paramLabel = "TYPE", description = "Type of the dummy weights: bf16 (default) or f16.")
    String dummyDtype = "bf16";

    @Option(names = "--dummy-dir", paramLabel = "DIR", description = "Where dummy weights are written (default: ~/.cache/mii).")
    Path dummyDir = Path.of(System.getProperty("user.home"), ".cache", "mii");

    @Option(names = "--concurrency", split = ",", paramLabel = "N,N,...", description = "Concurrency levels (default: 1,4,16,64).")
    int[] concurrency = {1, 4, 16, 64};

    @Option(names = "--decode-tokens", description = "Tokens generated when timing decode (default: ${DEFAULT-VALUE}).")
    int decodeTokens = 32;

    @Option(names = "--prompt-tokens", description = "Prompt length when timing prompt processing (default: ${DEFAULT-VALUE}).")
    int promptTokens = 512;

    @Option(names = "--decode-only", description = "Measure decode at batch 1 only (tokens/s and the fraction of read bandwidth).")
    boolean decodeOnly;

    @Option(names = "--decode-context", paramLabel = "N",
            description = "With --decode-only: decode after a prompt of N tokens, so that attention reads that much context"
                    + " at every step (default: ${DEFAULT-VALUE}).")
    int decodeContext = EngineBench.DECODE_CONTEXT;

    @Option(names = "--batch-size", paramLabel = "B", description = "Workload: requests in flight at once (default: 1).")
    Integer batchSize;

    @Option(names = "--num-requests", paramLabel = "N", description = "Workload: requests in all (default: max(B, 8)).")
    Integer numRequests;

    @Option(names = "--input-len", paramLabel = "I", description = "Workload: prompt tokens per request (default: 128).")
    Integer inputLen;

    @Option(names = "--output-len", paramLabel = "O", description = "Workload: new tokens per request (default: 128).")
    Integer outputLen;

    @Option(names = "--json", description = "Workload: print one JSON object on stdout (device, model, batch_size, ...,"
            + " ttft_ms, tpot_ms, output_tokens_per_s, read_bandwidth_gbs, roofline_tpot_ms), nothing else.")
    boolean json;

    @Mixin
    DeviceFlags deviceFlags = new DeviceFlags();

    @Mixin
    EngineFlags engineFlags = new EngineFlags();

    @Option(names = "--debug", description = "Show stack traces on errors.")
    boolean debug;

    /** Whether this call measures a workload rather than the CPU suite. */
    boolean workload() {
        return json || batchSize != null || numRequests != null || inputLen != null || outputLen != null
                || !"cpu".equals(Devices.resolve(deviceFlags.device()));
    }

    ServingBench.Workload workloadSpec() {
        int b = batchSize == null ? 1 : batchSize;
        int n = numRequests == null ? Math.max(b, 8) : numRequests;
        return new ServingBench.Workload(b, n, inputLen == null ? 128 : inputLen, outputLen == null ? 128 : outputLen);
    }

    @Override
    public Integer call() {
        deviceFlags.checkTensorParallel(); // before the CPU suite, which does not read the device flags
        if (dummy != null && model != null) {
            throw MiiException.invalid("give --model or --dummy, not both");
        }
        if (workload()) {
            if (decodeOnly) {
                throw MiiException.invalid("--decode-only is part of the CPU suite; a workload (--batch-size, --num-requests,"
                        + " --input-len, --output-len, --json or a GPU) measures TTFT and TPOT itself");
            }
            return runWorkload();
        }
        if (decodeContext < 1) {
            throw MiiException.invalid("--decode-context must be at least 1, got " + decodeContext);
        }
        if (decodeContext != EngineBench.DECODE_CONTEXT && !decodeOnly) {
            throw MiiException.invalid("--decode-context applies to --decode-only");
        }
        if (decodeTokens < 2) {
            throw MiiException.invalid("--decode-tokens must be at least 2, got " + decodeTokens);
        }
        Path dir;
        if (dummy != null) {
            System.err.println("preparing dummy weights (" + dummy + ") under " + dummyDir + " ...");
            DType dtype = dummyType();
            dir = DummyModel.ensure(DummyModel.shape(dummy), dtype, dummyDir);
        } else {
            dir = HfHub.resolve(DefaultModel.resolve(model));
        }
        ModelFolder folder = ModelFolder.open(dir);

        try (WeightSource weights = folder.openWeights();
             RankedModel ranked = RankedModel.open(null, dir, Architectures.fromConfig(folder.config()), weights, "cpu",
                     deviceFlags.tensorParallel)) {
            DecoderModel m = ranked.model();
            System.out.println("model: " + dir + " (" + m.spec().modelType() + ", " + m.spec().numLayers() + " layers, hidden "
                    + m.spec().hiddenSize() + (deviceFlags.tensorParallel > 1 ? ", split over " + deviceFlags.tensorParallel
                    + " ranks" : "") + ")");
            System.out.println(CpuBackend.describe());
            List<MemorySegment> matrices = new ArrayList<>();
            for (String name : new TreeSet<>(weights.names())) {
                TensorData t = weights.get(name);
                if (t.rank() == 2) {
                    matrices.add(t.data());
                }
            }
            EngineBench bench = new EngineBench(m, matrices, System.out);
            if (decodeOnly) {
                bench.runDecode(decodeTokens, decodeContext);
            } else {
                bench.runAll(concurrency, decodeTokens, promptTokens);
            }
        }
        return 0;
    }

    private int runWorkload() {
        ServingBench.Workload w = workloadSpec();
        DType dtype = dummyType();
        Path dir = dummy == null ? HfHub.resolve(DefaultModel.resolve(model)) : null;
        String name = dummy != null ? dummy : model == null ? dir.getFileName().toString() : model;
        PrintStream log = json ? System.err : System.out;
        EngineConfig config = deviceFlags.applyTo(engineFlags.toConfig());
        WorkloadBench.Report report = WorkloadBench.run(deviceFlags.device(), dummy, dtype, dummyDir, dir, name, config, w,
                deviceFlags.tensorParallel, System.err);
        if (json) {
            System.out.println(report.toJson());
        } else {
            log.println(report.toText());
        }
        return 0;
    }

    private DType dummyType() {
        return switch (dummyDtype.toLowerCase(java.util.Locale.ROOT)) {
            case "bf16" -> DType.BF16;
            case "f16" -> DType.F16;
            default -> throw MiiException.invalid("--dummy-dtype must be bf16 or f16, not '" + dummyDtype + "'");
        };
    }
}
