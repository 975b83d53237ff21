package dev.miij.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.miij.MiiException;
import dev.miij.arch.Architectures;
import dev.miij.arch.DecoderModel;
import dev.miij.arch.TransformerSpec;
import dev.miij.backend.Backend;
import dev.miij.backend.Devices;
import dev.miij.bench.DummyModel;
import dev.miij.bench.MemoryBandwidth;
import dev.miij.bench.ServingBench;
import dev.miij.cuda.CudaBackend;
import dev.miij.cuda.DeviceBandwidth;
import dev.miij.engine.Detokenizer;
import dev.miij.engine.Engine;
import dev.miij.engine.EngineConfig;
import dev.miij.model.DType;
import dev.miij.model.ModelFolder;
import dev.miij.model.TensorData;
import dev.miij.model.WeightSource;
import java.io.PrintStream;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeSet;

/**
 * {@code mii bench} with a workload ({@code --batch-size --num-requests --input-len --output-len},
 * {@code --json}, or on a GPU): the engine serves N requests, at most B at once, and one report says
 * what it reached next to the device's own limit (the streamed weight bytes over the read bandwidth
 * measured in the same run). {@code tools/hf-bench/hf_bench.py} prints the same fields for transformers.
 */
final class WorkloadBench {

    /** The JSON fields, in order; automated checks read them, so they only ever grow. */
    static final List<String> FIELDS = List.of("device", "model", "batch_size", "num_requests", "input_len", "output_len",
            "ttft_ms", "tpot_ms", "output_tokens_per_s", "total_tokens_per_s", "weight_bytes", "read_bandwidth_gbs",
            "roofline_tpot_ms", "engine", "backend", "dtype", "elapsed_s", "load_s", "kv_cache_tokens", "tensor_parallel");

    /** One run's figures. */
    record Report(String device, String model, ServingBench.Result result, long weightBytes, double readBandwidthGBs,
                  String backend, String dtype, double loadSeconds, int kvCacheTokens, int tensorParallel) {

        double rooflineTpotMs() {
            return weightBytes / (readBandwidthGBs * 1e9) * 1e3;
        }

        Map<String, Object> toMap() {
            ServingBench.Workload w = result.workload();
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("device", device);
            m.put("model", model);
            m.put("batch_size", w.batchSize());
            m.put("num_requests", w.numRequests());
            m.put("input_len", w.inputLen());
            m.put("output_len", w.outputLen());
            m.put("ttft_ms", round(result.ttftMs(), 3));
            m.put("tpot_ms", round(result.tpotMs(), 4));
            m.put("output_tokens_per_s", round(result.outputTokensPerSecond(), 1));
            m.put("total_tokens_per_s", round(result.totalTokensPerSecond(), 1));
            m.put("weight_bytes", weightBytes);
            m.put("read_bandwidth_gbs", round(readBandwidthGBs, 3));
            m.put("roofline_tpot_ms", round(rooflineTpotMs(), 4));
            m.put("engine", "mii-j");
            m.put("backend", backend);
            m.put("dtype", dtype);
            m.put("elapsed_s", round(result.elapsedSeconds(), 3));
            m.put("load_s", round(loadSeconds, 2));
            m.put("kv_cache_tokens", kvCacheTokens);
            m.put("tensor_parallel", tensorParallel);
            return m;
        }

        String toJson() {
            try {
                return new ObjectMapper().writeValueAsString(toMap());
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new MiiException(MiiException.Kind.INTERNAL, "could not write JSON", e);
            }
        }

        String toText() {
            ServingBench.Workload w = result.workload();
            return String.format(Locale.ROOT, """
                    device:              %s (%s, %s)
                    model:               %s (%.2f GB of weights read per step)
                    workload:            %d requests of %d prompt + %d new tokens, at most %d at once
                    TTFT (median):       %.2f ms
                    TPOT (median):       %.3f ms   (roofline %.3f ms = weights / %.0f GB/s measured read bandwidth)
                    throughput:          %.1f output tokens/s, %.1f total tokens/s (%.2f s)""",
                    device, backend, dtype, model, weightBytes / 1e9, w.numRequests(), w.inputLen(), w.outputLen(),
                    w.batchSize(), result.ttftMs(), result.tpotMs(), rooflineTpotMs(), readBandwidthGBs,
                    result.outputTokensPerSecond(), result.totalTokensPerSecond(), result.elapsedSeconds());
        }
    }

    private WorkloadBench() {
    }

    static double round(double v, int digits) {
        if (Double.isNaN(v) || Double.isInfinite(v)) {
            return v;
        }
        double f = Math.pow(10, digits);
        return Math.round(v * f) / f;
    }

    /**
     * Loads the model on {@code device}, warms up, runs the workload and returns the report.
     *
     * @param dummy     a dummy shape, or null to load {@code modelDir}
     * @param dummyFile where CPU dummy weights are written (the GPU's are generated in memory)
     * @param tensorParallel ranks the model is split over (rank 0 here, the others processes it starts);
     *                       weight_bytes and the roofline are then rank 0's share
     */
    static Report run(String device, String dummy, DType dummyType, Path dummyFile, Path modelDir, String modelName,
                      EngineConfig config, ServingBench.Workload w, int tensorParallel, PrintStream log) {
        String resolved = Devices.resolve(device);
        boolean gpu = !resolved.equals("cpu");
        if (gpu && dummy != null && tensorParallel > 1) {
            throw MiiException.unsupported("dummy weights on the GPU are generated in memory, where the other tensor-parallel"
                    + " ranks cannot load them; give --model, or --device cpu");
        }
        if (gpu && dummy != null && dummyType != DType.BF16) {
            throw MiiException.invalid("dummy weights on the GPU are BF16; --dummy-dtype " + dummyType + " applies to the CPU");
        }
        EngineConfig engineConfig = config.withMaxRaggedSequenceCount(Math.min(config.maxRaggedSequenceCount(), w.batchSize()));
        long t0 = System.nanoTime();
        TransformerSpec spec;
        WeightSource weights;
        String model;
        Path folderDir = null;
        if (dummy != null) {
            DummyModel.Shape shape = DummyModel.shape(dummy);
            model = dummy;
            if (gpu) {
                log.println("generating dummy " + dummy + " weights in memory...");
                spec = Architectures.fromConfig(DummyModel.config(shape, DType.BF16));
                weights = DummyModel.inMemory(shape);
            } else {
                ModelFolder folder = ModelFolder.open(DummyModel.ensure(shape, dummyType, dummyFile));
                folderDir = folder.dir();
                spec = Architectures.fromConfig(folder.config());
                weights = folder.openWeights();
            }
        } else {
            ModelFolder folder = ModelFolder.open(modelDir);
            folderDir = folder.dir();
            model = modelName;
            spec = Architectures.fromConfig(folder.config());
            weights = folder.openWeights();
        }
        try (weights) {
            // One rank opens its device now, to measure it before the weights take its memory; a group's ranks open theirs.
            Backend backend = tensorParallel > 1 ? null : Devices.open(resolved);
            String deviceName;
            double bandwidth = Double.NaN;
            if (backend instanceof CudaBackend cuda) {
                deviceName = cuda.deviceName();
                log.println("measuring the read bandwidth of " + deviceName + "...");
                bandwidth = DeviceBandwidth.measure(cuda);
            } else {
                deviceName = (gpu ? "cuda" : "cpu (" + Runtime.getRuntime().availableProcessors() + " cores)");
            }
            log.println("loading " + model + " onto " + (tensorParallel > 1 ? tensorParallel + " ranks on " + (gpu ? "cuda" : "cpu")
                    : resolved) + "...");
            try (RankedModel ranked = RankedModel.open(backend, folderDir, spec, weights, gpu ? (tensorParallel > 1
                    ? Devices.CUDA : resolved) : "cpu", tensorParallel)) {
                DecoderModel m = ranked.model();
                backend = m.backend();
                if (backend instanceof CudaBackend cuda && tensorParallel > 1) {
                    deviceName = cuda.deviceName();
                    bandwidth = DeviceBandwidth.measure(cuda);
                }
                if (backend instanceof CudaBackend cuda) {
                    cuda.synchronize();
                }
                double loadSeconds = (System.nanoTime() - t0) / 1e9;
                ServingBench.Result result;
                int kvTokens;
                try (Engine engine = new Engine(m, engineConfig, Detokenizer.NONE, new int[0])) {
                    kvTokens = engine.capacityTokens();
                    ServingBench bench = new ServingBench(engine, spec.vocabSize());
                    int warm = Math.min(w.batchSize(), w.numRequests());
                    log.println("warming up (" + warm + " requests)...");
                    bench.run(new ServingBench.Workload(warm, warm, w.inputLen(), Math.min(w.outputLen(), 4)));
                    log.println("running " + w.numRequests() + " requests...");
                    result = bench.run(w);
                }
                if (!(backend instanceof CudaBackend)) {
                    bandwidth = cpuReadBandwidth(weights);
                }
                String dtype = backend instanceof CudaBackend ? "bf16" : dtypeOf(weights);
                return new Report(deviceName, model, result, m.weightBytesPerToken(), bandwidth, resolved, dtype,
                        loadSeconds, kvTokens, tensorParallel);
            }
        }
    }

    /** The best of three plain reads of the model's weight matrices, GB/s. */
    private static double cpuReadBandwidth(WeightSource weights) {
        List<MemorySegment> matrices = new ArrayList<>();
        for (String name : new TreeSet<>(weights.names())) {
            TensorData t = weights.get(name);
            if (t.rank() == 2) {
                matrices.add(t.data());
            }
        }
        double best = 0;
        for (int i = 0; i < 3; i++) {
            best = Math.max(best, MemoryBandwidth.pass(matrices));
        }
        return best;
    }

    private static String dtypeOf(WeightSource weights) {
        for (String name : weights.names()) {
            TensorData t = weights.get(name);
            if (t.rank() == 2) {
                return t.dtype().name().toLowerCase(Locale.ROOT);
            }
        }
        return "unknown";
    }
}
