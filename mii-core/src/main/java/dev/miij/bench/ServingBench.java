package dev.miij.bench;

import dev.miij.GenerationOptions;
import dev.miij.MiiException;
import dev.miij.Response;
import dev.miij.engine.Engine;
import dev.miij.engine.StreamListener;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A fixed workload through the real engine (continuous batching): {@code numRequests} requests of
 * {@code inputLen} random prompt tokens and exactly {@code outputLen} new tokens (greedy, EOS
 * ignored), at most {@code batchSize} in flight: a closed loop that submits the next request when
 * one finishes, as a client with that concurrency would. Times are taken on the engine thread as
 * tokens come out.
 *
 * <pre>{@code
 * ServingBench.Result r = new ServingBench(engine, vocab).run(new ServingBench.Workload(1, 8, 128, 128));
 * }</pre>
 */
public final class ServingBench {

    /** The workload; all four are positive. */
    public record Workload(int batchSize, int numRequests, int inputLen, int outputLen) {
        public Workload {
            if (batchSize < 1 || numRequests < 1 || inputLen < 1 || outputLen < 1) {
                throw MiiException.invalid("batch_size, num_requests, input_len and output_len must be positive, got "
                        + batchSize + ", " + numRequests + ", " + inputLen + ", " + outputLen);
            }
        }
    }

    /**
     * What one run measured.
     *
     * @param ttftMs          median time from a request's submission to its first token
     * @param tpotMs          median over requests of (last token - first token) / (outputLen - 1)
     * @param elapsedSeconds  first submission to last completion
     */
    public record Result(Workload workload, double ttftMs, double tpotMs, double elapsedSeconds, long outputTokens) {

        public double outputTokensPerSecond() {
            return outputTokens / elapsedSeconds;
        }

        public double totalTokensPerSecond() {
            return (outputTokens + (long) workload.numRequests() * workload.inputLen()) / elapsedSeconds;
        }
    }

    private final Engine engine;
    private final int vocab;
    private final Random random = new Random(42);

    public ServingBench(Engine engine, int vocab) {
        this.engine = engine;
        this.vocab = vocab;
    }

    /** Runs the workload and measures it. */
    public Result run(Workload w) {
        int n = w.numRequests();
        long[] submitted = new long[n];
        long[] first = new long[n];
        long[] last = new long[n];
        int[] counts = new int[n];
        AtomicInteger next = new AtomicInteger();
        List<int[]> prompts = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            prompts.add(randomPrompt(w.inputLen()));
        }
        GenerationOptions options = GenerationOptions.builder().doSample(false).ignoreEos(true)
                .maxNewTokens(w.outputLen()).minNewTokens(w.outputLen()).maxLength(w.inputLen() + w.outputLen()).build();
        CompletableFuture<Void> done = new CompletableFuture<>();
        AtomicInteger finished = new AtomicInteger();
        Runnable[] submitNext = new Runnable[1];
        submitNext[0] = () -> {
            int i = next.getAndIncrement();
            if (i >= n) {
                return;
            }
            StreamListener listener = new StreamListener() {
                @Override
                public void onText(String text, int[] ids) {
                    if (ids.length == 0) {
                        return;
                    }
                    long now = System.nanoTime();
                    if (counts[i] == 0) {
                        first[i] = now;
                    }
                    counts[i] += ids.length;
                    last[i] = now;
                }

                @Override
                public void onFinish(Response response, Throwable error) {
                    if (error != null) {
                        done.completeExceptionally(error);
                        return;
                    }
                    if (finished.incrementAndGet() == n) {
                        done.complete(null);
                    } else {
                        submitNext[0].run();
                    }
                }
            };
            submitted[i] = System.nanoTime();
            engine.submit(prompts.get(i), options, listener, "");
        };
        long t0 = System.nanoTime();
        for (int i = 0; i < Math.min(w.batchSize(), n); i++) {
            submitNext[0].run();
        }
        try {
            done.join();
        } catch (java.util.concurrent.CompletionException e) {
            throw e.getCause() instanceof RuntimeException re ? re : e;
        }
        double elapsed = (System.nanoTime() - t0) / 1e9;
        double[] ttft = new double[n];
        double[] tpot = new double[n];
        long tokens = 0;
        for (int i = 0; i < n; i++) {
            ttft[i] = (first[i] - submitted[i]) / 1e6;
            tpot[i] = counts[i] > 1 ? (last[i] - first[i]) / 1e6 / (counts[i] - 1) : Double.NaN;
            tokens += counts[i];
        }
        return new Result(w, median(ttft), median(tpot), elapsed, tokens);
    }

    private int[] randomPrompt(int len) {
        int[] p = new int[len];
        for (int i = 0; i < len; i++) {
            p[i] = random.nextInt(vocab);
        }
        return p;
    }

    /** The median of the values that are not NaN (NaN when none is). */
    static double median(double[] values) {
        double[] v = Arrays.stream(values).filter(d -> !Double.isNaN(d)).sorted().toArray();
        if (v.length == 0) {
            return Double.NaN;
        }
        int m = v.length / 2;
        return v.length % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
    }
}
