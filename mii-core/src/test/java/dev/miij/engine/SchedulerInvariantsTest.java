package dev.miij.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.GenerationOptions;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Random arrivals, prompt lengths, shared prefixes and cancellations against tiny caches and
 * budgets, checking after every step: the budget holds, every block is referenced exactly as often
 * as tables hold it, shared blocks hold the same tokens, and in the end every request finished or
 * was cancelled with no block left in use.
 */
class SchedulerInvariantsTest {

    @ParameterizedTest
    @ValueSource(longs = {1, 2, 3, 4, 5, 6, 7, 8})
    void randomWorkloadKeepsEveryInvariant(long seed) {
        Random rnd = new Random(seed);
        int blockSize = 1 + rnd.nextInt(8);
        int numBlocks = 8 + rnd.nextInt(40);
        int budget = 1 + rnd.nextInt(64);
        int maxSeqs = 1 + rnd.nextInt(16);
        BlockManager blocks = new BlockManager(numBlocks, blockSize, rnd.nextBoolean());
        Scheduler scheduler = new Scheduler(blocks, budget, maxSeqs, 1 + rnd.nextInt(32));
        int capacity = numBlocks * blockSize;
        int[] sharedPrefix = rnd.ints(64, 0, 50).toArray();
        List<Sequence> all = new ArrayList<>();
        Map<Sequence, Integer> target = new HashMap<>();
        int finished = 0;
        int cancelled = 0;
        long id = 0;
        for (int step = 0; step < 3000 && (step < 400 || !scheduler.idle()); step++) {
            if (step < 400 && rnd.nextInt(3) == 0) {
                int len = 1 + rnd.nextInt(Math.min(40, capacity - 1));
                int[] prompt = rnd.ints(len, 0, 50).toArray();
                int shared = rnd.nextInt(Math.min(len, sharedPrefix.length) + 1);
                System.arraycopy(sharedPrefix, 0, prompt, 0, shared);
                Sequence seq = new Sequence(++id, prompt, GenerationOptions.defaults(), 64, StreamListener.NONE,
                        null, "");
                target.put(seq, Math.min(1 + rnd.nextInt(30), capacity - len));
                all.add(seq);
                scheduler.waiting.addLast(seq);
            }
            if (!scheduler.running.isEmpty() && rnd.nextInt(25) == 0) {
                Sequence victim = scheduler.running.get(rnd.nextInt(scheduler.running.size()));
                victim.finished = true;
                scheduler.remove(victim);
                cancelled++;
            }
            List<Scheduler.Slice> plan = scheduler.schedule();
            int tokens = plan.stream().mapToInt(Scheduler.Slice::numTokens).sum();
            assertTrue(tokens <= budget, "step " + step + " used " + tokens + " tokens of a budget of " + budget);
            assertTrue(plan.size() <= maxSeqs, "too many sequences in one step");
            if (!scheduler.running.isEmpty() || !scheduler.waiting.isEmpty()) {
                assertTrue(!plan.isEmpty() || scheduler.running.isEmpty(), "no progress at step " + step);
            }
            for (Scheduler.Slice s : plan) {
                Sequence seq = s.seq();
                assertTrue(seq.blocks.size() * blockSize >= seq.computed + s.numTokens(), "slice without blocks");
                assertTrue(seq.computed + s.numTokens() <= seq.length, "slice beyond the sequence");
            }
            checkBlocks(blocks, scheduler, blockSize);
            scheduler.advance(plan);
            for (Scheduler.Slice s : plan) {
                Sequence seq = s.seq();
                if (seq.computed == seq.length && !seq.finished) {
                    seq.append(rnd.nextInt(50));
                    if (seq.generated() >= target.get(seq)) {
                        seq.finished = true;
                        scheduler.remove(seq);
                        finished++;
                    }
                }
            }
        }
        assertTrue(scheduler.idle(), "requests left unfinished");
        assertEquals(all.size(), finished + cancelled);
        assertTrue(Arrays.stream(blocks.refCounts()).allMatch(c -> c == 0), "blocks leaked: " + Arrays.toString(blocks.refCounts()));
        assertEquals(numBlocks, blocks.available());
    }

    /** Reference counts equal table membership; a block in several tables holds the same prefix in each. */
    private static void checkBlocks(BlockManager blocks, Scheduler scheduler, int blockSize) {
        int[] counts = new int[blocks.numBlocks()];
        Map<Integer, int[]> content = new HashMap<>();
        for (Sequence seq : scheduler.running) {
            for (int i = 0; i < seq.blocks.size(); i++) {
                int b = seq.blocks.block(i);
                counts[b]++;
                if (counts[b] > 1) {
                    assertTrue(i * blockSize + blockSize <= seq.computed, "a shared block must be full and computed");
                    int[] prefix = Arrays.copyOf(seq.tokens, (i + 1) * blockSize);
                    int[] other = content.get(b);
                    assertTrue(other == null || Arrays.equals(other, prefix), "block " + b + " shared by different prefixes");
                }
                if (i * blockSize + blockSize <= seq.computed) {
                    content.putIfAbsent(b, Arrays.copyOf(seq.tokens, (i + 1) * blockSize));
                }
            }
        }
        int[] refs = blocks.refCounts();
        for (int b = 0; b < refs.length; b++) {
            assertEquals(counts[b], refs[b], "reference count of block " + b);
        }
    }
}
