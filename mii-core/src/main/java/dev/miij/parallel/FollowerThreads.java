package dev.miij.parallel;

import dev.miij.arch.DecoderModel;
import dev.miij.backend.KvCache;
import dev.miij.backend.RaggedBatch;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;

/**
 * Ranks 1 to N-1 of an {@link InProcessGroup} as threads that follow rank 0: each runs, in order,
 * the steps rank 0 announces, on its own model and KV cache. A rank that fails aborts the group, so
 * rank 0 fails in its next collective instead of waiting.
 */
public final class FollowerThreads implements StepBroadcast, AutoCloseable {

    private record Message(RaggedBatch batch, int numBlocks, int blockSize) {
    }

    private static final Message STOP = new Message(null, -1, -1);

    private final InProcessGroup group;
    private final List<BlockingQueue<Message>> queues = new ArrayList<>();
    private final List<Thread> threads = new ArrayList<>();

    /** Starts one thread per model in {@code followers} (ranks 1, 2, ... in order). */
    public FollowerThreads(InProcessGroup group, List<DecoderModel> followers) {
        this.group = group;
        for (DecoderModel model : followers) {
            BlockingQueue<Message> queue = new LinkedBlockingQueue<>();
            queues.add(queue);
            Thread t = Thread.ofPlatform().daemon().name("tensor-parallel-rank-" + model.tensorParallel().rank())
                    .start(() -> follow(model, queue));
            threads.add(t);
        }
    }

    private void follow(DecoderModel model, BlockingQueue<Message> queue) {
        KvCache cache = null;
        try {
            while (true) {
                Message m = queue.take();
                if (m == STOP) {
                    break;
                }
                if (m.batch == null) {
                    if (cache != null) {
                        cache.close();
                    }
                    cache = model.newKvCache(m.numBlocks, m.blockSize);
                } else {
                    model.forward(m.batch, cache);
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            group.abort();
            throw e;
        } finally {
            if (cache != null) {
                cache.close();
            }
        }
    }

    @Override
    public void kvCache(int numBlocks, int blockSize) {
        send(new Message(null, numBlocks, blockSize));
    }

    @Override
    public void step(RaggedBatch batch) {
        send(new Message(batch, 0, 0));
    }

    private void send(Message m) {
        for (BlockingQueue<Message> q : queues) {
            q.add(m);
        }
    }

    /** Stops the threads after the steps already announced. */
    @Override
    public void close() {
        send(STOP);
        for (Thread t : threads) {
            try {
                t.join(60_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
