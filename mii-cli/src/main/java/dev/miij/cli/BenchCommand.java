package dev.miij.cli;

import dev.miij.MiiException;
import dev.miij.arch.Architectures;
import dev.miij.arch.DecoderModel;
import dev.miij.backend.cpu.CpuBackend;
import dev.miij.bench.DummyModel;
import dev.miij.bench.EngineBench;
import dev.miij.model.DType;
import dev.miij.model.HfHub;
import dev.miij.model.ModelFolder;
import dev.miij.model.TensorData;
import dev.miij.model.WeightSource;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code mii bench}: engine speed on a model or on dummy weights of a known shape. */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure decode and prompt speed, throughput under concurrency and prefix-cache TTFT.")
final class BenchCommand implements Callable<Integer> {

    @Option(names = {"-m", "--model"}, paramLabel = "DIR_OR_ID", description = "Model to measure.")
    String model;

    @Option(names = "--dummy", paramLabel = "SHAPE",
            description = "Random weights of a known shape instead of a model: llama-3.2-1b, small, tiny.")
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

    @Option(names = "--debug", description = "Show stack traces on errors.")
    boolean debug;

    @Override
    public Integer call() {
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
            DType dtype = switch (dummyDtype.toLowerCase(java.util.Locale.ROOT)) {
                case "bf16" -> DType.BF16;
                case "f16" -> DType.F16;
                default -> throw MiiException.invalid("--dummy-dtype must be bf16 or f16, not '" + dummyDtype + "'");
            };
            dir = DummyModel.ensure(DummyModel.shape(dummy), dtype, dummyDir);
        } else {
            dir = HfHub.resolve(DefaultModel.resolve(model));
        }
        ModelFolder folder = ModelFolder.open(dir);
        try (WeightSource weights = folder.openWeights();
             DecoderModel m = new DecoderModel(Architectures.fromConfig(folder.config()), weights, new CpuBackend())) {
            System.out.println("model: " + dir + " (" + m.spec().modelType() + ", " + m.spec().numLayers() + " layers, hidden "
                    + m.spec().hiddenSize() + ")");
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
}
