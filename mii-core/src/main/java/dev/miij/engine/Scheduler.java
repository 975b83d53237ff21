package dev.miij.engine;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;

/**
 * Dynamic SplitFuse scheduling: each step first gives every running sequence that is decoding its
 * one token, then fills what is left of the token budget with prompt chunks in arrival order,
 * splitting a prompt that does not fit. When KV blocks run out the newest running sequence is
 * preempted by recompute: its blocks are freed and its prompt plus generated tokens are fed again
 * later as a new prompt, so no request is lost and none deadlocks. Knows nothing of kernels.
 */
final class Scheduler {

    /** One sequence's share of a step. */
    record Slice(Sequence seq, int numTokens) {
    }

    private final BlockManager blocks;
    private final int tokenBudget;
    private final int maxSeqsPerStep;
    private final int maxTracked;
    /** Admitted sequences holding blocks, in arrival order. */
    final List<Sequence> running = new ArrayList<>();
    /** Sequences waiting for admission; preempted ones go back to the front. */
    final Deque<Sequence> waiting = new ArrayDeque<>();
    long preemptions;

    Scheduler(BlockManager blocks, int tokenBudget, int maxSeqsPerStep, int maxTracked) {
        this.blocks = blocks;
        this.tokenBudget = tokenBudget;
        this.maxSeqsPerStep = maxSeqsPerStep;
        this.maxTracked = maxTracked;
    }

    boolean idle() {
        return running.isEmpty() && waiting.isEmpty();
    }

    /** Chooses this step's work; never returns more than the token budget. */
    List<Slice> schedule() {
        List<Slice> plan = new ArrayList<>();
        int budget = tokenBudget;
        // 1. Decodes: every running sequence whose prompt is in the cache gets its one token.
        for (int i = 0; i < running.size() && budget > 0 && plan.size() < maxSeqsPerStep; i++) {
            Sequence seq = running.get(i);
            if (seq.pending() != 1) {
                continue;
            }
            while (!ensureBlocks(seq, seq.computed + 1)) {
                Sequence victim = running.getLast();
                preempt(victim);
                if (victim == seq) {
                    break;
                }
            }
            if (running.contains(seq)) {
                plan.add(new Slice(seq, 1));
                budget--;
            } else {
                i--;
            }
        }
        // 2. Prompt chunks of running sequences that are part-way through their prompt.
        for (Sequence seq : running) {
            if (budget == 0 || plan.size() >= maxSeqsPerStep) {
                break;
            }
            if (seq.pending() > 1 && !inPlan(plan, seq)) {
                int n = chunk(seq, budget);
                if (n > 0) {
                    plan.add(new Slice(seq, n));
                    budget -= n;
                }
            }
        }
        // 3. Admit waiting sequences in arrival order while budget, blocks and tracking slots last.
        while (budget > 0 && plan.size() < maxSeqsPerStep && !waiting.isEmpty() && running.size() < maxTracked) {
            Sequence seq = waiting.peekFirst();
            if (seq.blocks.size() == 0) {
                seq.computed = blocks.matchPrefix(seq.tokens, seq.length, seq.blocks);
            }
            int n = chunk(seq, budget);
            if (n == 0) {
                blocks.release(seq.blocks);
                seq.computed = 0;
                break;
            }
            waiting.pollFirst();
            running.add(seq);
            plan.add(new Slice(seq, n));
            budget -= n;
        }
        if (plan.isEmpty() && running.size() > 1) {
            // Every admitted sequence is stuck part-way through its prompt with no block to grow
            // into: give the newest one's blocks to the others and try again.
            preempt(running.getLast());
            return schedule();
        }
        return plan;
    }

    private static boolean inPlan(List<Slice> plan, Sequence seq) {
        for (Slice s : plan) {
            if (s.seq() == seq) {
                return true;
            }
        }
        return false;
    }

    /** Prompt tokens of {@code seq} to process now: as many as the budget and the free blocks allow. */
    private int chunk(Sequence seq, int budget) {
        int want = Math.min(seq.pending(), budget);
        int bs = blocks.blockSize();
        int haveSlots = seq.blocks.size() * bs - seq.computed;
        int extraBlocks = Math.max(0, ceilDiv(want - haveSlots, bs));
        if (extraBlocks > blocks.available()) {
            want = haveSlots + blocks.available() * bs;
        }
        if (want <= 0) {
            return 0;
        }
        ensureBlocks(seq, seq.computed + want);
        return want;
    }

    /** Grows the sequence's block table to hold {@code tokens} tokens; false if blocks ran out. */
    private boolean ensureBlocks(Sequence seq, int tokens) {
        int needed = ceilDiv(tokens, blocks.blockSize());
        while (seq.blocks.size() < needed) {
            int b = blocks.allocate();
            if (b < 0) {
                return false;
            }
            seq.blocks.add(b, 0);
        }
        return true;
    }

    /**
     * Records that the plan's tokens are now in the cache, and makes each block this filled
     * findable by content for later requests.
     */
    void advance(List<Slice> plan) {
        int bs = blocks.blockSize();
        for (Slice s : plan) {
            Sequence seq = s.seq();
            int before = seq.computed;
            seq.computed += s.numTokens();
            for (int b = before / bs; b < seq.computed / bs; b++) {
                long previous = b == 0 ? 0 : seq.blocks.hash(b - 1);
                long h = blocks.blockHash(previous, seq.tokens, b * bs);
                seq.blocks.setHash(b, h);
                blocks.publish(seq.blocks.block(b), h, seq.tokens, b * bs, b == 0 ? -1 : seq.blocks.block(b - 1));
            }
        }
    }

    /** Frees a running sequence's blocks and queues it to be recomputed from scratch. */
    void preempt(Sequence seq) {
        running.remove(seq);
        blocks.release(seq.blocks);
        seq.computed = 0;
        waiting.addFirst(seq);
        preemptions++;
    }

    /** Removes a finished or cancelled sequence and frees its blocks. */
    void remove(Sequence seq) {
        if (!running.remove(seq)) {
            waiting.remove(seq);
        }
        blocks.release(seq.blocks);
    }

    static int ceilDiv(int a, int b) {
        return (a + b - 1) / b;
    }
}
