package dev.miij.engine;

import dev.miij.GenerationOptions;
import dev.miij.MiiException;
import dev.miij.Response.FinishReason;
import dev.miij.Response;
import dev.miij.TokenLogprob;
import dev.miij.arch.DecoderModel;
import dev.miij.backend.KvCache;
import dev.miij.backend.Logprobs;
import dev.miij.backend.RaggedBatch;
import dev.miij.backend.Sampled;
import dev.miij.backend.SamplingParams;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The serving engine: continuous batching over a paged KV cache. Requests may be submitted and
 * cancelled from any thread at any time; one engine thread runs the step loop (schedule, one
 * forward pass over the ragged batch, sample, stream, finish), so nothing on the hot path locks.
 *
 * <pre>{@code
 * try (Engine engine = new Engine(model, EngineConfig.defaults(), detokenizer, eosIds)) {
 *     Response r = engine.submit(promptIds, GenerationOptions.defaults(), StreamListener.NONE).result().join();
 * }
 * }</pre>
 */
public final class Engine implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(Engine.class.getName());

    private final DecoderModel model;
    private final Detokenizer detokenizer;
    private final int[] eosIds;
    private final KvCache cache;
    private final BlockManager blocks;
    private final Scheduler scheduler;
    private final int capacityTokens;
    private final ConcurrentLinkedQueue<Sequence> submitted = new ConcurrentLinkedQueue<>();
    private final ConcurrentLinkedQueue<Sequence> cancelled = new ConcurrentLinkedQueue<>();
    private final AtomicLong ids = new AtomicLong();
    private final Thread thread;
    private final EngineStats stats = new EngineStats();
    private final Warmup.Result warmup;
    private volatile boolean closing;

    /** A submitted request: its id, its eventual response, and a way to cancel it. */
    public record Handle(long id, CompletableFuture<Response> result, Runnable canceller) implements dev.miij.Generation {

        @Override
        public void cancel() {
            canceller.run();
        }
    }

    public Engine(DecoderModel model, EngineConfig config, Detokenizer detokenizer, int[] eosIds) {
        this.model = model;
        this.detokenizer = detokenizer;
        this.eosIds = eosIds.clone();
        KvSizing.Plan kv = KvSizing.plan(model, config);
        LOG.info(kv.describe(config.kvBlockSize()));
        int numBlocks = kv.blocks();
        this.cache = model.newKvCache(numBlocks, config.kvBlockSize());
        this.blocks = new BlockManager(numBlocks, config.kvBlockSize(), config.prefixCaching());
        this.scheduler = new Scheduler(blocks, config.maxRaggedBatchSize(), config.maxRaggedSequenceCount(),
                config.maxTrackedSequences());
        this.capacityTokens = numBlocks * config.kvBlockSize();
        Warmup.Result w = null;
        if (config.warmup() && model.backend().needsWarmup()) {
            try {
                w = Warmup.run(model, cache, numBlocks, config.kvBlockSize(), config.maxRaggedBatchSize(), this.eosIds,
                        Warmup.maxNanos());
            } catch (RuntimeException | Error e) {
                cache.close();
                throw e;
            }
            if (w != null) {
                LOG.info(w.describe());
            }
        }
        this.warmup = w;
        this.thread = Thread.ofPlatform().name("mii-engine").daemon(true).start(this::loop);
    }

    public DecoderModel model() {
        return model;
    }

    /** What the start-up warm-up did; null when none ran. */
    Warmup.Result warmup() {
        return warmup;
    }

    /** Tokens the KV cache can hold. */
    public int capacityTokens() {
        return capacityTokens;
    }

    public EngineStats stats() {
        stats.kvBlocksInUse = blocks.inUse();
        stats.kvBlocksTotal = blocks.numBlocks();
        stats.prefixHits = blocks.prefixHits();
        stats.prefixMisses = blocks.prefixMisses();
        stats.preemptions = scheduler.preemptions;
        return stats;
    }

    /**
     * Queues a request. The prompt must be non-empty and leave room for at least one new token in
     * the model's context and in the KV cache.
     */
    public Handle submit(int[] prompt, GenerationOptions options, StreamListener listener, String promptText) {
        if (closing) {
            throw new MiiException(MiiException.Kind.RESOURCE_EXHAUSTED, "the engine is shutting down");
        }
        if (prompt.length == 0) {
            throw MiiException.invalid("the prompt is empty (no tokens)");
        }
        int context = Math.min(model.spec().maxPositions(), options.maxLength());
        if (prompt.length >= context) {
            throw MiiException.invalid("the prompt has " + prompt.length + " tokens, which leaves no room to generate within "
                    + (context == options.maxLength() && context < model.spec().maxPositions()
                    ? "max_length " + context : "the model's context of " + context + " tokens"));
        }
        if (prompt.length >= capacityTokens) {
            throw MiiException.invalid("the prompt has " + prompt.length + " tokens but the KV cache holds only "
                    + capacityTokens + "; allocate more KV blocks (--num-kv-blocks, --kv-cache-memory)");
        }
        Integer asked = options.maxNewTokens();
        if (asked != null && (long) prompt.length + asked > model.spec().maxPositions()) {
            throw MiiException.invalid("the prompt has " + prompt.length + " tokens and max_new_tokens is " + asked
                    + ", more than the model's context of " + model.spec().maxPositions() + " tokens; ask for at most "
                    + (model.spec().maxPositions() - prompt.length) + " new tokens");
        }
        if (asked != null && (long) prompt.length + asked > capacityTokens) {
            throw MiiException.invalid("the prompt has " + prompt.length + " tokens and max_new_tokens is " + asked
                    + ", more than the KV cache can ever hold (" + capacityTokens + " tokens); ask for at most "
                    + (capacityTokens - prompt.length) + " new tokens, or allocate more KV blocks (--num-kv-blocks, "
                    + "--kv-cache-memory)");
        }
        // Without max_new_tokens a sequence runs to max_length, the model's context, or what the cache holds.
        int maxNew = Math.min(context, capacityTokens) - prompt.length;
        if (asked != null) {
            maxNew = Math.min(maxNew, asked);
        }
        Sequence seq = new Sequence(ids.incrementAndGet(), prompt, options, maxNew, listener, detokenizer.open(),
                promptText == null ? "" : promptText);
        seq.submittedNanos = System.nanoTime();
        submitted.add(seq);
        LockSupport.unpark(thread);
        return new Handle(seq.id, seq.result, () -> {
            seq.cancelled = true;
            cancelled.add(seq);
            LockSupport.unpark(thread);
        });
    }

    private void loop() {
        while (!closing) {
            try {
                drainQueues();
                stats.requestsRunning = scheduler.running.size();
                stats.requestsWaiting = scheduler.waiting.size();
                if (scheduler.idle()) {
                    LockSupport.park(this);
                    continue;
                }
                step();
            } catch (Throwable t) {
                LOG.log(Level.SEVERE, "engine step failed; failing the requests in flight", t);
                failAll(t);
            }
        }
        failAll(new MiiException(MiiException.Kind.CANCELLED, "the engine was shut down"));
    }

    private void drainQueues() {
        Sequence s;
        while ((s = submitted.poll()) != null) {
            scheduler.waiting.addLast(s);
            stats.requestsSubmitted++;
        }
        while ((s = cancelled.poll()) != null) {
            if (!s.finished) {
                finish(s, FinishReason.CANCELLED);
            }
        }
    }

    /** One iteration: schedule, run the model, sample, stream, finish. */
    void step() {
        List<Scheduler.Slice> plan = scheduler.schedule();
        if (plan.isEmpty()) {
            return;
        }
        int rows = 0;
        long scheduled = System.nanoTime();
        for (Scheduler.Slice s : plan) {
            rows += s.numTokens();
            if (s.seq().scheduledNanos == 0) {
                s.seq().scheduledNanos = scheduled;
                stats.recordQueueTime(scheduled - s.seq().submittedNanos);
            }
        }
        int[] tokens = new int[rows];
        int[] positions = new int[rows];
        int[] slots = new int[rows];
        int[] seqStarts = new int[plan.size() + 1];
        int[] contextLens = new int[plan.size()];
        int[][] tables = new int[plan.size()][];
        List<Integer> logitRows = new ArrayList<>();
        List<Sequence> sampled = new ArrayList<>();
        int bs = blocks.blockSize();
        int r = 0;
        for (int i = 0; i < plan.size(); i++) {
            Sequence seq = plan.get(i).seq();
            int n = plan.get(i).numTokens();
            seqStarts[i] = r;
            int[] table = seq.blocks.toArray();
            for (int j = 0; j < n; j++) {
                int pos = seq.computed + j;
                tokens[r] = seq.tokens[pos];
                positions[r] = pos;
                slots[r] = table[pos / bs] * bs + pos % bs;
                r++;
            }
            contextLens[i] = seq.computed + n;
            tables[i] = table;
            if (seq.computed + n == seq.length) {
                logitRows.add(r - 1);
                sampled.add(seq);
            }
        }
        seqStarts[plan.size()] = r;
        RaggedBatch batch = new RaggedBatch(tokens, positions, slots, seqStarts, contextLens, tables,
                logitRows.stream().mapToInt(Integer::intValue).toArray());
        SamplingParams[] sampling = new SamplingParams[sampled.size()];
        for (int i = 0; i < sampling.length; i++) {
            Sequence seq = sampled.get(i);
            sampling[i] = SamplingParams.of(seq.options, seq.seed, seq.generated(), seq.tokens, seq.promptLength);
        }
        long t0 = System.nanoTime();
        Sampled out = model.forwardSampled(batch, cache, sampling, eosIds);
        int[] next = out.tokens();
        stats.recordStep(rows, System.nanoTime() - t0);

        scheduler.advance(plan);
        long now = System.nanoTime();
        for (int i = 0; i < sampled.size(); i++) {
            Sequence seq = sampled.get(i);
            if (seq.finished) {
                continue;
            }
            int token = next[i];
            if (seq.firstTokenNanos == 0) {
                seq.firstTokenNanos = now;
                stats.recordFirstToken(now - seq.submittedNanos);
            }
            seq.append(token);
            Logprobs lp = out.logprobs(i);
            if (lp != null && seq.logprobs != null) {
                seq.logprobs.add(tokenLogprob(token, lp));
            }
            stats.tokensGenerated++;
            boolean eos = !seq.options.ignoreEos() && isEos(token);
            boolean stopString = seq.addText(token, true);
            if (eos || stopString) {
                finish(seq, FinishReason.STOP, !stopString);
            } else if (seq.generated() >= seq.maxNewTokens || seq.length >= capacityTokens) {
                finish(seq, FinishReason.LENGTH, true);
            } else {
                seq.stream(false);
            }
        }
    }

    private TokenLogprob tokenLogprob(int token, Logprobs lp) {
        List<TokenLogprob.Alternative> top = new ArrayList<>(lp.topIds().length);
        for (int k = 0; k < lp.topIds().length; k++) {
            top.add(new TokenLogprob.Alternative(lp.topIds()[k], detokenizer.token(lp.topIds()[k]), lp.topLogprobs()[k]));
        }
        return new TokenLogprob(token, detokenizer.token(token), lp.logprob(), top);
    }

    private boolean isEos(int token) {
        for (int e : eosIds) {
            if (e == token) {
                return true;
            }
        }
        return false;
    }

    private void finish(Sequence seq, FinishReason reason) {
        finish(seq, reason, true);
    }

    private void finish(Sequence seq, FinishReason reason, boolean flush) {
        seq.finished = true;
        scheduler.remove(seq);
        if (flush) {
            seq.flushText();
        }
        seq.stream(true);
        Response response = seq.response(reason);
        stats.requestsFinished++;
        try {
            seq.listener.onFinish(response, null);
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "stream listener failed", e);
        }
        seq.result.complete(response);
    }

    private void failAll(Throwable error) {
        List<Sequence> all = new ArrayList<>(scheduler.running);
        all.addAll(scheduler.waiting);
        Sequence s;
        while ((s = submitted.poll()) != null) {
            all.add(s);
        }
        for (Sequence seq : all) {
            seq.finished = true;
            scheduler.remove(seq);
            try {
                seq.listener.onFinish(null, error);
            } catch (RuntimeException e) {
                LOG.log(Level.WARNING, "stream listener failed", e);
            }
            seq.result.completeExceptionally(error);
        }
    }

    /** Stops the step loop; requests still in flight fail as cancelled. */
    @Override
    public void close() {
        closing = true;
        LockSupport.unpark(thread);
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        cache.close();
    }
}
