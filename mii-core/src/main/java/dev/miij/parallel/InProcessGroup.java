package dev.miij.parallel;

import dev.miij.backend.Backend;
import dev.miij.backend.Tensor;
import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A tensor-parallel group whose ranks are threads of one process, each with its own backend. The
 * collectives go through host memory: each rank copies its tensor out, waits for the others, and
 * every rank sums the contributions in rank order, so all ranks hold bit-identical results (as NCCL
 * guarantees for a given algorithm). For tests of the sharding on the CPU, not for speed.
 *
 * <p>A rank that fails or stops calling breaks the barrier, and the others fail with an error
 * instead of waiting forever.
 */
public final class InProcessGroup {

    private final int size;
    private final CyclicBarrier barrier;
    private final float[][] contributions;
    private final long timeoutSeconds;
    private volatile boolean aborted;

    public InProcessGroup(int size) {
        this(size, 60);
    }

    public InProcessGroup(int size, long timeoutSeconds) {
        if (size < 1) {
            throw new IllegalArgumentException("a group of " + size);
        }
        this.size = size;
        this.barrier = new CyclicBarrier(size);
        this.contributions = new float[size][];
        this.timeoutSeconds = timeoutSeconds;
    }

    public int size() {
        return size;
    }

    /** The collective of rank {@code rank}, whose tensors live on {@code backend}. */
    public Collective rank(int rank, Backend backend) {
        if (rank < 0 || rank >= size) {
            throw new IllegalArgumentException("rank " + rank + " of a group of " + size);
        }
        return new Rank(rank, backend);
    }

    /** Breaks the group: ranks waiting in a collective, and those that call one later, fail. */
    public void abort() {
        aborted = true;
        barrier.reset();
    }

    private void await(int rank) {
        try {
            if (aborted) {
                throw new BrokenBarrierException();
            }
            barrier.await(timeoutSeconds, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            barrier.reset();
            throw new IllegalStateException("rank " + rank + " was interrupted in a collective", e);
        } catch (BrokenBarrierException | TimeoutException e) {
            throw new IllegalStateException("rank " + rank + ": another rank of the tensor-parallel group failed"
                    + " or stopped before a collective", e);
        }
    }

    private final class Rank implements Collective {
        private final int rank;
        private final Backend backend;

        Rank(int rank, Backend backend) {
            this.rank = rank;
            this.backend = backend;
        }

        @Override
        public int rank() {
            return rank;
        }

        @Override
        public int size() {
            return size;
        }

        @Override
        public void allReduceSum(Tensor x) {
            contributions[rank] = backend.toHost(x);
            await(rank);
            int n = x.rows() * x.cols();
            float[] sum = new float[n];
            for (float[] c : contributions) {
                if (c.length < n) {
                    throw new IllegalStateException("ranks disagree on the shape of an all-reduce");
                }
                for (int i = 0; i < n; i++) {
                    sum[i] += c[i];
                }
            }
            await(rank); // everyone has read the contributions before any rank writes the next ones
            overwrite(x, sum);
        }

        @Override
        public void gatherColumns(Tensor local, Tensor out) {
            contributions[rank] = backend.toHost(local);
            await(rank);
            int rows = local.rows();
            float[] all = new float[rows * out.cols()];
            int col = 0;
            for (float[] c : contributions) {
                int w = c.length / rows;
                for (int r = 0; r < rows; r++) {
                    System.arraycopy(c, r * w, all, r * out.cols() + col, w);
                }
                col += w;
            }
            await(rank);
            if (col != out.cols()) {
                throw new IllegalStateException("gathered " + col + " columns into " + out.cols());
            }
            overwrite(out, all);
        }

        /**
         * Writes host values into an existing tensor through the backend's own operations ({@code
         * x = 0 * x + values}): the backend interface has no host-to-tensor copy, and a real group
         * (NCCL) works on device memory in place anyway.
         */
        private void overwrite(Tensor x, float[] values) {
            backend.scale(x, 0f);
            backend.add(x, backend.upload(values, x.rows(), x.cols()));
        }
    }
}
