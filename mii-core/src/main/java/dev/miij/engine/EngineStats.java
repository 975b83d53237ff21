package dev.miij.engine;

import java.util.concurrent.atomic.AtomicLongArray;

/** Counters of an engine, read for metrics and benchmarks (written by the engine thread only). */
public final class EngineStats {

    /**
     * Upper bounds, in seconds, of the queue-time histogram: vLLM's request-latency buckets (what its
     * {@code vllm:request_queue_time_seconds} uses), with finer ones below 0.3 s added.
     */
    public static final double[] QUEUE_TIME_BUCKETS = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.3, 0.5, 0.8, 1.0, 1.5,
        2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};

    public volatile long requestsSubmitted;
    public volatile long requestsFinished;
    public volatile long tokensGenerated;
    public volatile long steps;
    public volatile long rowsProcessed;
    public volatile long forwardNanos;
    public volatile long firstTokenCount;
    public volatile long firstTokenNanosTotal;
    public volatile int kvBlocksInUse;
    public volatile int kvBlocksTotal;
    public volatile long prefixHits;
    public volatile long prefixMisses;
    public volatile long preemptions;
    /** Sequences admitted (holding KV blocks) and sequences queued, as of the last step. */
    public volatile int requestsRunning;
    public volatile int requestsWaiting;
    /**
     * Time requests spent queued, from submission to their first step: per bucket of
     * {@link #QUEUE_TIME_BUCKETS} (not cumulative; the last, beyond every bound, is +Inf), count and sum.
     */
    public final AtomicLongArray queueTimeBuckets = new AtomicLongArray(QUEUE_TIME_BUCKETS.length + 1);
    public volatile long queueTimeCount;
    public volatile long queueTimeNanosTotal;

    void recordStep(int rows, long nanos) {
        steps++;
        rowsProcessed += rows;
        forwardNanos += nanos;
    }

    void recordQueueTime(long nanos) {
        double seconds = nanos / 1e9;
        int i = 0;
        while (i < QUEUE_TIME_BUCKETS.length && seconds > QUEUE_TIME_BUCKETS[i]) {
            i++;
        }
        queueTimeBuckets.incrementAndGet(i);
        queueTimeNanosTotal += nanos;
        queueTimeCount++;
    }

    void recordFirstToken(long nanos) {
        firstTokenCount++;
        firstTokenNanosTotal += nanos;
    }
}
