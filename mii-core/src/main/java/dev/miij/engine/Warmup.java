package dev.miij.engine;

import dev.miij.GenerationOptions;
import dev.miij.arch.DecoderModel;
import dev.miij.backend.KvCache;
import dev.miij.backend.RaggedBatch;
import dev.miij.backend.SamplingParams;
import java.lang.management.CompilationMXBean;
import java.lang.management.ManagementFactory;
import java.util.Arrays;
import java.util.Locale;
import java.util.logging.Logger;

/**
 * The start-up warm-up: before the engine takes requests, it runs the forward pass on a scratch
 * sequence until the decode step stops getting faster, so that the JIT has compiled the kernels
 * before the first request instead of during it. On the CPU this matters a great deal: the Vector
 * API kernels run one to three orders of magnitude slower until C2 has compiled them, which made the
 * demo model's first 128 tokens take over 2 s on 2 cores although they decode in 0.3 s once compiled.
 * Like vLLM's profiling run or CUDA-graph capture, this is start-up work, logged with its time.
 *
 * <p>The scratch sequence is a prompt of {@value #PROMPT} tokens (so the several-row kernels of
 * prompts and batched decoding run too, with four, two and one row) followed by decode steps, which
 * pick their tokens greedily and by a draw in turns, and it starts again at position 0 after a little
 * more than one KV block. It writes only the first KV blocks of the engine's cache, before any
 * request owns them; the block manager never hears of it, so the prefix cache cannot find it, and
 * every request writes the keys and values it reads. It has the model's real shapes and dtypes, so
 * the code compiled is the code requests run.
 *
 * <p>It stops once the median of {@value #WINDOW} decode steps has not improved by 10% for
 * {@value #QUIET_WINDOWS} windows in a row, no compilation finished during the last window, and the
 * time without improvement is at least a tenth of the time spent so far; or after
 * {@code mii.warmup.maxMillis} (default {@value #DEFAULT_MAX_MILLIS} ms), though never before the
 * first decode step.
 */
final class Warmup {

    private static final Logger LOG = Logger.getLogger(Warmup.class.getName());

    /** Prompt tokens of the scratch sequence: 4 + 2 + 1 rows, the multi-row kernels' three shapes. */
    static final int PROMPT = 7;
    /** Decode steps per window; a window's median is robust to a step that was lucky or preempted. */
    static final int WINDOW = 8;
    /** Windows in a row without a 10% better median before the warm-up may end. */
    static final int QUIET_WINDOWS = 2;
    /** The time without improvement must also be this share of the time spent so far. */
    static final double QUIET_FRACTION = 0.1;
    /** A window counts as faster when its median beats the best so far by this factor. */
    static final double BETTER = 0.9;
    static final long DEFAULT_MAX_MILLIS = 30_000;

    /** What the warm-up did, for the log and for tests; the decode times are window medians. */
    record Result(int steps, int decodeSteps, long nanos, double firstDecodeMillis, double lastDecodeMillis,
                  boolean capped) {

        String describe() {
            return String.format(Locale.ROOT, "warm-up: %d forward steps (%d of them decode) in %.0f ms, %s; decode step"
                            + " %.2f ms at first, %.2f ms at the end (--no-warmup or -Dmii.warmup=false skips this)", steps,
                    decodeSteps, nanos / 1e6, capped ? "stopped at mii.warmup.maxMillis" : "until the step time settled",
                    firstDecodeMillis, lastDecodeMillis);
        }
    }

    private Warmup() {
    }

    /** The time limit: {@code mii.warmup.maxMillis}, default {@value #DEFAULT_MAX_MILLIS} ms. */
    static long maxNanos() {
        return Long.getLong("mii.warmup.maxMillis", DEFAULT_MAX_MILLIS) * 1_000_000L;
    }

    /**
     * Runs the warm-up on {@code cache} ({@code numBlocks} blocks of {@code blockSize} tokens, none in
     * use yet), prompts of at most {@code maxRows} tokens, and returns what it did, or null when the
     * cache or the context cannot hold a prompt and a next token.
     */
    static Result run(DecoderModel model, KvCache cache, int numBlocks, int blockSize, int maxRows, int[] eosIds,
                      long maxNanos) {
        boolean trace = Boolean.getBoolean("mii.warmup.trace");
        // Positions 0..length-1, across one block boundary where the cache and the context allow.
        int length = (int) Math.min(Math.min((long) numBlocks * blockSize, model.spec().maxPositions()),
                blockSize + 16L);
        int prompt = Math.min(Math.min(PROMPT, length - 1), maxRows);
        if (prompt < 1) {
            return null;
        }
        int[] table = new int[Scheduler.ceilDiv(length, blockSize)];
        for (int b = 0; b < table.length; b++) {
            table[b] = b;
        }
        int vocab = model.spec().vocabSize();
        // Greedy and drawn tokens in turns (the draw with generate's defaults: temperature 1, top-p 0.9).
        SamplingParams[][] sampling = {{SamplingParams.GREEDY}, null};
        GenerationOptions drawn = GenerationOptions.defaults();
        JitClock jit = new JitClock();
        long start = System.nanoTime();
        long improvedAt = start;
        double[] window = new double[WINDOW];
        int inWindow = 0;
        double best = Double.MAX_VALUE;
        double first = -1;
        double last = -1;
        int quietWindows = 0;
        long jitAtWindowStart = jit.millis();
        int steps = 0;
        int decodeSteps = 0;
        boolean capped = false;
        int next = 0;
        for (int pos = 0; ; ) {
            RaggedBatch batch;
            if (pos == 0) {
                int[] ids = new int[prompt];
                int[] positions = new int[prompt];
                int[] slots = new int[prompt];
                for (int i = 0; i < prompt; i++) {
                    ids[i] = (int) ((i * 7919L + 1) % vocab);
                    positions[i] = i;
                    slots[i] = i;
                }
                batch = new RaggedBatch(ids, positions, slots, new int[] {0, prompt}, new int[] {prompt},
                        new int[][] {table}, new int[] {prompt - 1});
            } else {
                int slot = table[pos / blockSize] * blockSize + pos % blockSize;
                batch = new RaggedBatch(new int[] {next}, new int[] {pos}, new int[] {slot}, new int[] {0, 1},
                        new int[] {pos + 1}, new int[][] {table}, new int[] {0});
            }
            long t0 = System.nanoTime();
            sampling[1] = new SamplingParams[] {SamplingParams.of(drawn, 0, steps)};
            int[] out = model.forward(batch, cache, sampling[steps & 1], eosIds);
            long now = System.nanoTime();
            next = Math.floorMod(out[0], vocab);
            steps++;
            double ms = (now - t0) / 1e6;
            if (trace) {
                LOG.info(String.format(Locale.ROOT, "warm-up step %d (%d rows at %d): %.2f ms, at %.0f ms, JIT %d ms",
                        steps, batch.numRows(), pos, ms, (now - start) / 1e6, jit.millis()));
            }
            if (pos > 0) {
                decodeSteps++;
                window[inWindow++] = ms;
                if (inWindow == WINDOW) {
                    inWindow = 0;
                    double median = median(window);
                    if (first < 0) {
                        first = median;
                    }
                    last = median;
                    long jitNow = jit.millis();
                    boolean jitQuiet = jitNow == jitAtWindowStart;
                    jitAtWindowStart = jitNow;
                    if (median < best * BETTER) {
                        best = median;
                        improvedAt = now;
                        quietWindows = 0;
                    } else {
                        best = Math.min(best, median);
                        quietWindows++;
                    }
                    if (quietWindows >= QUIET_WINDOWS && jitQuiet && now - improvedAt >= QUIET_FRACTION * (now - start)) {
                        break;
                    }
                }
            }
            if (decodeSteps > 0 && now - start >= maxNanos) {
                capped = true;
                break;
            }
            pos = pos == 0 ? prompt : pos + 1;
            if (pos >= length) {
                pos = 0;
            }
        }
        if (inWindow > 0 && first < 0) { // stopped at the limit before a window was full
            first = median(Arrays.copyOf(window, inWindow));
            last = first;
        }
        return new Result(steps, decodeSteps, System.nanoTime() - start, first, last, capped);
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return (s[(s.length - 1) / 2] + s[s.length / 2]) / 2;
    }

    /** Total time the JIT compilers have spent so far (it grows when a compilation finishes); 0 where not known. */
    private static final class JitClock {
        private final CompilationMXBean bean = ManagementFactory.getCompilationMXBean();
        private final boolean supported = bean != null && bean.isCompilationTimeMonitoringSupported();

        long millis() {
            return supported ? bean.getTotalCompilationTime() : 0;
        }
    }
}
