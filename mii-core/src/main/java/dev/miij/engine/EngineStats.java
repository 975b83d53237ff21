package dev.miij.engine;

/** Counters of an engine, read for metrics and benchmarks (written by the engine thread only). */
public final class EngineStats {
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

    void recordStep(int rows, long nanos) {
        steps++;
        rowsProcessed += rows;
        forwardNanos += nanos;
    }

    void recordFirstToken(long nanos) {
        firstTokenCount++;
        firstTokenNanosTotal += nanos;
    }
}
