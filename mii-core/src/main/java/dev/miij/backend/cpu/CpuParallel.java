package dev.miij.backend.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed pool of worker threads for the CPU kernels, sized to the available processors (system
 * property {@code mii.threads} overrides). The calling thread works too, so the pool holds
 * {@code threads - 1} workers.
 *
 * <p>A decode step calls matmul about a hundred times with tasks of 20-200 µs, so dispatch latency
 * matters more than anything else here. Workers therefore spin for a short while after each job
 * (waking a parked thread costs tens of microseconds on a VM) and only then park. A job is a set of
 * {@code n} items that threads claim one at a time from a shared counter; callers make each item a
 * contiguous block of output rows. Claiming rather than assigning items keeps the job fast when
 * another process takes one of the cores for a while.
 *
 * <p>Jobs are serialized: one runs at a time. A call made from inside a job (or while the pool is
 * busy with another caller's job) runs all items on the calling thread, which is correct but not
 * parallel.
 */
public final class CpuParallel {

    /** Work split into items; {@link #run} is called once per item, from any thread. */
    public interface Job {
        void run(int item);
    }

    /** How long an idle worker spins before it parks. */
    private static final long SPIN_NANOS = Long.getLong("mii.spinMicros", 200) * 1000L;

    /** How long a caller spins for other threads' items before it starts yielding its core. */
    private static final long YIELD_AFTER_NANOS = 50_000;

    private static final CpuParallel POOL = new CpuParallel(defaultThreads());

    private final int threads;
    private final Worker[] workers;

    /** Upper 32 bits: job epoch; lower 32 bits: next item to claim. */
    private final AtomicLong ticket = new AtomicLong();
    private final AtomicInteger completed = new AtomicInteger();
    private volatile Job job;
    private volatile int items;
    private volatile int epoch;
    private final AtomicInteger busy = new AtomicInteger();
    private volatile Throwable failure;

    private CpuParallel(int threads) {
        this.threads = Math.max(1, threads);
        this.workers = new Worker[this.threads - 1];
        for (int i = 0; i < workers.length; i++) {
            workers[i] = new Worker(i + 1);
            workers[i].start();
        }
    }

    private static int defaultThreads() {
        String p = System.getProperty("mii.threads");
        if (p != null && !p.isBlank()) {
            return Math.max(1, Integer.parseInt(p.trim()));
        }
        return Runtime.getRuntime().availableProcessors();
    }

    /** Number of threads jobs run on, the caller included. */
    public static int threads() {
        return POOL.threads;
    }

    /** Runs {@code job.run(i)} for every i in [0, n), spread over the pool; returns when all are done. */
    public static void run(int n, Job job) {
        POOL.execute(n, job);
    }

    private void execute(int n, Job j) {
        if (n <= 0) {
            return;
        }
        if (n == 1 || workers.length == 0 || !busy.compareAndSet(0, 1)) {
            for (int i = 0; i < n; i++) {
                j.run(i);
            }
            return;
        }
        try {
            int e = epoch + 1;
            failure = null;
            completed.set(0);
            // The ticket moves to the new epoch before the new job and item count are written: a
            // worker still in the previous job that reads them late then fails the epoch check. The
            // other order let such a worker claim an item of the new job under the old epoch (item
            // counts differ) and count it into the new job's completions, so a call could return
            // with an item still running on arrays the next call reuses.
            ticket.set((long) e << 32);
            job = j;
            items = n;
            epoch = e; // publishes the fields above to workers that read epoch first
            for (Worker w : workers) {
                if (w.parked) {
                    LockSupport.unpark(w);
                }
            }
            int done = work(e, j, n);
            // Wait for items other threads claimed. They are running, so spin; but when this takes
            // long, the thread holding the last item has likely lost its core to another process,
            // and yielding gives it a chance to run here.
            long waitStart = 0;
            int spins = 0;
            while (completed.get() + done < n) {
                Thread.onSpinWait();
                if ((++spins & 127) == 0) {
                    long now = System.nanoTime();
                    if (waitStart == 0) {
                        waitStart = now;
                    } else if (now - waitStart > YIELD_AFTER_NANOS) {
                        Thread.yield();
                    }
                }
            }
            Throwable f = failure;
            if (f != null) {
                if (f instanceof RuntimeException re) {
                    throw re;
                }
                if (f instanceof Error er) {
                    throw er;
                }
                throw new IllegalStateException(f);
            }
        } finally {
            job = null;
            busy.set(0);
        }
    }

    /**
     * Claims and runs items of job {@code e} until none is left; returns how many this thread ran.
     * The epoch check stops a late worker from claiming items of a newer job with an old job object.
     */
    private int work(int e, Job j, int n) {
        int done = 0;
        for (;;) {
            long t = ticket.get();
            if ((int) (t >>> 32) != e) {
                return done;
            }
            int i = (int) t;
            if (i >= n) {
                return done;
            }
            if (ticket.compareAndSet(t, t + 1)) {
                try {
                    j.run(i);
                } catch (Throwable ex) {
                    failure = ex;
                }
                done++;
            }
        }
    }

    private final class Worker extends Thread {
        volatile boolean parked;

        Worker(int index) {
            super("mii-cpu-" + index);
            setDaemon(true);
        }

        @Override
        public void run() {
            int seen = epoch;
            for (;;) {
                int e = waitForJob(seen);
                seen = e;
                Job j = job;
                int n = items;
                if (j == null) {
                    continue; // the job finished before this worker looked
                }
                int done = work(e, j, n);
                if (done > 0) {
                    completed.addAndGet(done);
                }
            }
        }

        private int waitForJob(int seen) {
            long start = System.nanoTime();
            int spins = 0;
            for (;;) {
                int e = epoch;
                if (e != seen) {
                    return e;
                }
                Thread.onSpinWait();
                if ((++spins & 255) == 0 && System.nanoTime() - start > SPIN_NANOS) {
                    parked = true;
                    if (epoch == seen) { // re-check after announcing, so an unpark cannot be missed
                        LockSupport.park(this);
                    }
                    parked = false;
                    start = System.nanoTime();
                }
            }
        }
    }
}
