package dev.miij.bench;

import dev.miij.GenerationOptions;
import dev.miij.arch.DecoderModel;
import dev.miij.engine.Detokenizer;
import dev.miij.engine.Engine;
import dev.miij.engine.EngineConfig;
import dev.miij.engine.StreamListener;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.function.DoubleSupplier;

/**
 * End-to-end engine measurements on a loaded model, fed token ids directly (no tokenizer):
 * decode speed at batch 1, prompt processing speed, aggregate throughput under concurrency, and
 * time to first token with and without a cached prefix.
 */
public final class EngineBench {

    /** Results, for printing and for docs/benchmarks.md. */
    public record Result(DecodeResult decode, double promptTokensPerSecond, List<double[]> concurrency,
                         double ttftUncachedMs, double ttftCachedMs) {
    }


    private final DecoderModel model;
    private final PrintStream log;
    private final Random random = new Random(42);

    /** The model's weight matrices, read plainly to measure the bandwidth decode is held to; may be empty. */
    private final List<MemorySegment> weightBytes;

    public EngineBench(DecoderModel model, PrintStream log) {
        this(model, List.of(), log);
    }

    /**
     * With {@code weightBytes} (the checkpoint's matrices), the bandwidth that decode is compared
     * with is a plain read of those very pages; otherwise of a fresh 2 GiB buffer. Where memory
     * sits decides its speed on some machines (a VM's pages on different host nodes, or merged by
     * the host), and a fresh buffer measured up to 1.5x faster than the model's pages here.
     */
    public EngineBench(DecoderModel model, List<MemorySegment> weightBytes, PrintStream log) {
        this.model = model;
        this.weightBytes = weightBytes;
        this.log = log;
    }

    private Engine engine(int blocks, boolean prefixCaching) {
        EngineConfig c = EngineConfig.defaults().withKvBlockSize(16).withNumKvBlocks(blocks).withPrefixCaching(prefixCaching);
        return new Engine(model, c, Detokenizer.NONE, new int[0]);
    }

    private int[] randomPrompt(int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = random.nextInt(model.spec().vocabSize());
        }
        return p;
    }

    private static GenerationOptions greedy(int newTokens) {
        return GenerationOptions.builder().doSample(false).ignoreEos(true).maxNewTokens(newTokens).maxLength(1 << 20).build();
    }

    /** KV blocks (of 16 tokens) for one request of this many tokens, and some to spare. */
    private static int blocksFor(int tokens) {
        return Math.max(64, tokens / 16 + 4);
    }

    /** Decode tokens/s of one request: the time between its first and last generated token. */
    public double decode(int promptTokens, int newTokens) {
        try (Engine e = engine(blocksFor(promptTokens + newTokens), false)) {
            long[] times = new long[newTokens];
            int[] count = {0};
            StreamListener l = (text, ids) -> {
                for (int i = 0; i < ids.length && count[0] < newTokens; i++) {
                    times[count[0]++] = System.nanoTime();
                }
            };
            e.submit(randomPrompt(promptTokens), greedy(newTokens), l, "").result().join();
            return (newTokens - 1) / ((times[newTokens - 1] - times[0]) / 1e9);
        }
    }

    /**
     * Decode is bound by memory bandwidth, which other tenants of a machine change from one second
     * to the next (here by up to 2x), so a read measured a few seconds away from a decode run says
     * little about the bandwidth that run had. This decodes one request and, after each generated
     * token (on the engine thread, between steps), runs {@code read} (a plain read of the weights
     * with the same threads, GB/s): each decode step is compared with a read of the same bytes
     * taken right after it. Returns {reads in GB/s, step GB/s / read} over the steps after the
     * first token.
     */
    double[][] decodeAgainstReads(int promptTokens, int newTokens, DoubleSupplier read) {
        double gbPerToken = model.weightBytesPerToken() / 1e9;
        double[] reads = new double[newTokens - 1];
        double[] fractions = new double[newTokens - 1];
        try (Engine e = engine(blocksFor(promptTokens + newTokens), false)) {
            long[] lastEnd = {0};
            int[] count = {0};
            StreamListener l = (text, ids) -> {
                long now = System.nanoTime();
                for (int i = 0; i < ids.length; i++, count[0]++) {
                    if (count[0] == 0 || count[0] >= newTokens) {
                        continue;
                    }
                    double gbs = read.getAsDouble();
                    reads[count[0] - 1] = gbs;
                    fractions[count[0] - 1] = gbPerToken / ((now - lastEnd[0]) / 1e9) / gbs;
                }
                lastEnd[0] = System.nanoTime();
            };
            e.submit(randomPrompt(promptTokens), greedy(newTokens), l, "").result().join();
        }
        return new double[][] {reads, fractions};
    }

    /**
     * The segments with the largest last. A read leaves its last tens of MiB in the cache; decode
     * reads the largest matrix (the LM head, or the tied embedding) at the end of a step, so that
     * is what the read should end on, not some layer's matrix that the next step would then find
     * cached.
     */
    private static List<MemorySegment> largestLast(List<MemorySegment> segments) {
        List<MemorySegment> s = new ArrayList<>(segments);
        s.sort(Comparator.comparingLong(MemorySegment::byteSize));
        return s;
    }

    /** Prompt tokens/s: one prompt processed in a single step, timed to its first token. */
    public double prompt(int promptTokens) {
        try (Engine e = engine(Math.max(64, promptTokens / 16 + 4), false)) {
            long t0 = System.nanoTime();
            e.submit(randomPrompt(promptTokens), greedy(1), StreamListener.NONE, "").result().join();
            return promptTokens / ((System.nanoTime() - t0) / 1e9);
        }
    }

    /** Aggregate output tokens/s with {@code n} concurrent requests. */
    public double concurrent(int n, int promptTokens, int newTokens) {
        try (Engine e = engine(n * ((promptTokens + newTokens) / 16 + 2) + 8, false)) {
            List<Engine.Handle> hs = new ArrayList<>();
            long t0 = System.nanoTime();
            for (int i = 0; i < n; i++) {
                hs.add(e.submit(randomPrompt(promptTokens), greedy(newTokens), StreamListener.NONE, ""));
            }
            hs.forEach(h -> h.result().join());
            return (double) n * newTokens / ((System.nanoTime() - t0) / 1e9);
        }
    }

    /** Time to first token (ms) of a request whose first {@code prefix} tokens are, or are not, cached. */
    public double[] prefixTtft(int prefix, int suffix) {
        int[] shared = randomPrompt(prefix);
        try (Engine e = engine(2 * (prefix + suffix) / 16 + 16, true)) {
            double uncached = ttft(e, withSuffix(shared, suffix));
            double cached = ttft(e, withSuffix(shared, suffix));
            return new double[] {uncached, cached};
        }
    }

    private int[] withSuffix(int[] prefix, int suffix) {
        int[] p = Arrays.copyOf(prefix, prefix.length + suffix);
        System.arraycopy(randomPrompt(suffix), 0, p, prefix.length, suffix);
        return p;
    }

    private static double ttft(Engine e, int[] prompt) {
        long t0 = System.nanoTime();
        e.submit(prompt, greedy(1), StreamListener.NONE, "").result().join();
        return (System.nanoTime() - t0) / 1e6;
    }

    /** Decode at batch 1: tokens/s (best of 5 undisturbed runs) and the fraction of bandwidth. */
    public record DecodeResult(double tokensPerSecond, double readGBPerSecond, double bandwidthFraction,
                               double weightGBPerToken) {
    }

    /** Measures and prints decode at batch 1 (after a warm-up): {@link DecodeResult}. */
    public DecodeResult runDecode(int decodeTokens) {
        return runDecode(decodeTokens, DECODE_CONTEXT);
    }

    /**
     * As {@link #runDecode(int)}, decoding after a prompt of {@code contextTokens} tokens: attention
     * then reads that much context at every step.
     */
    public DecodeResult runDecode(int decodeTokens, int contextTokens) {
        log.println("warming up...");
        decode(8, 8);
        decode(contextTokens, decodeTokens);
        return measureDecode(decodeTokens, contextTokens);
    }

    /** The prompt before a decode measurement: short, so that the weights dominate each step. */
    public static final int DECODE_CONTEXT = 16;

    private DecodeResult measureDecode(int decodeTokens, int contextTokens) {
        double gbPerToken = model.weightBytesPerToken() / 1e9;
        // Each round processes the prompt again: fewer rounds after long prompts.
        int rounds = Math.max(1, Math.min(5, 4096 / contextTokens));
        double dec = 0;
        for (int i = 0; i < rounds; i++) {
            dec = Math.max(dec, decode(contextTokens, decodeTokens));
        }
        double[][] paired;
        try (Arena arena = Arena.ofShared()) {
            List<MemorySegment> target = weightBytes.isEmpty() ? List.of(MemoryBandwidth.buffer(arena, 2048)) : largestLast(weightBytes);
            MemoryBandwidth.pass(target); // compiles the read loop
            paired = decodeAgainstReads(contextTokens, decodeTokens, () -> MemoryBandwidth.pass(target));
        }
        double readMedian = KernelBench.median(paired[0]);
        double fractionMedian = KernelBench.median(paired[1]);
        double[] sorted = paired[1].clone();
        Arrays.sort(sorted);
        log.printf("decode, batch 1:        %8.2f tokens/s  (best of %d; %.3f GB of weights per token -> %.1f GB/s%s)%n", dec,
                rounds, gbPerToken, dec * gbPerToken,
                contextTokens == DECODE_CONTEXT ? "" : "; after a " + contextTokens + "-token prompt");
        log.printf("read bandwidth:         %8.1f GB/s      (median of %d plain reads of %s, each right after a decode step)%n",
                readMedian, paired[0].length, weightBytes.isEmpty() ? "a 2 GiB buffer" : "the model's weight matrices");
        log.printf("decode / bandwidth:     %8.1f %%         (median over %d steps of the step's GB/s / the read after it;"
                + " quartiles %.1f-%.1f %%)%n", 100 * fractionMedian, sorted.length, 100 * sorted[sorted.length / 4],
                100 * sorted[3 * sorted.length / 4]);
        return new DecodeResult(dec, readMedian, fractionMedian, gbPerToken);
    }

    /** Runs everything (after a warm-up) and prints a table. */
    public Result runAll(int[] concurrencyLevels, int decodeTokens, int promptTokens) {
        log.println("warming up...");
        prompt(64);
        decode(8, 8);
        prompt(promptTokens);
        decode(DECODE_CONTEXT, decodeTokens);
        DecodeResult d = measureDecode(decodeTokens, DECODE_CONTEXT);
        double pp = Math.max(prompt(promptTokens), prompt(promptTokens));
        log.printf("prompt, %4d tokens:    %8.2f tokens/s%n", promptTokens, pp);
        List<double[]> conc = new ArrayList<>();
        for (int n : concurrencyLevels) {
            double t = concurrent(n, 16, 64);
            conc.add(new double[] {n, t});
            log.printf("concurrency %3d:        %8.2f output tokens/s aggregate (16-token prompts, 64 new tokens each)%n", n, t);
        }
        double[] ttft = prefixTtft(512, 16);
        log.printf("TTFT 512-token prefix:  %8.1f ms uncached, %8.1f ms cached (%.2fx)%n", ttft[0], ttft[1],
                ttft[1] / ttft[0]);
        return new Result(d, pp, conc, ttft[0], ttft[1]);
    }
}
