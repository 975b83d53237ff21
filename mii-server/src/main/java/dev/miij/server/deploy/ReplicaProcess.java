package dev.miij.server.deploy;

import dev.miij.MiiException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.List;
import java.util.Map;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Supervises one replica process: starts it, copies its output to the front end's stderr, and
 * restarts it with backoff when it dies (once restarts are enabled, i.e. after the deployment first
 * came up; before that a dying replica fails the deployment's start, with its last output).
 */
final class ReplicaProcess {

    /** What the deployment hears about this replica. */
    interface Events {
        void started(int index, long pid);

        void exited(int index, long pid, int exitCode);
    }

    private static final Logger LOG = Logger.getLogger(ReplicaProcess.class.getName());
    private static final int TAIL_LINES = 40;
    private static final long MIN_BACKOFF_MILLIS = 500;
    private static final long MAX_BACKOFF_MILLIS = 10_000;
    // A replica that ran this long before dying is restarted quickly again.
    private static final long STABLE_MILLIS = 30_000;

    final int index;
    final int port;
    private final List<String> command;
    private final Map<String, String> env;
    private final ScheduledExecutorService timer;
    private final Events events;
    private final PrintStream log;
    private final Deque<String> tail = new ArrayDeque<>();
    private Process process;
    private OutputStream lifeline;
    private long startedNanos;
    private int quickCrashes;
    private boolean restarts;
    private boolean stopping;
    private Integer failedWith;

    ReplicaProcess(int index, int port, List<String> command, Map<String, String> env, ScheduledExecutorService timer,
                   Events events, PrintStream log) {
        this.index = index;
        this.port = port;
        this.command = command;
        this.env = env;
        this.timer = timer;
        this.events = events;
        this.log = log;
    }

    synchronized void start() {
        if (stopping) {
            return;
        }
        ProcessBuilder pb = JavaCommand.inOwnSession(command).redirectErrorStream(true);
        pb.environment().putAll(env);
        Process p;
        try {
            p = pb.start();
        } catch (IOException e) {
            throw MiiException.io("cannot start replica " + index + ": " + e.getMessage(), e);
        }
        process = p;
        // Never written to: when this process dies the kernel closes it, and the replica sees EOF and exits.
        lifeline = p.getOutputStream();
        startedNanos = System.nanoTime();
        // A platform thread: a virtual thread blocked reading a pipe holds its carrier, and with as many
        // replicas as processors the carriers would all be held, leaving none for the HTTP handlers.
        Thread.ofPlatform().daemon(true).name("mii-replica-" + index + "-output").start(() -> pump(p));
        p.onExit().thenAccept(this::onExit);
        LOG.info("started replica " + index + " (pid " + p.pid() + ", port " + port + ")");
        events.started(index, p.pid());
    }

    synchronized long pid() {
        return process == null ? -1 : process.pid();
    }

    /** From now on a replica that dies is restarted (one that died just before is restarted now). */
    void enableRestarts() {
        synchronized (this) {
            restarts = true;
            if (failedWith == null || stopping) {
                return;
            }
            failedWith = null;
        }
        scheduleRestart(MIN_BACKOFF_MILLIS);
    }

    /** The exit code of a replica that died before restarts were enabled, or null. */
    synchronized Integer failedWith() {
        return failedWith;
    }

    /** The replica came up: the next crash is restarted without a long backoff. */
    synchronized void healthy() {
        if (System.nanoTime() - startedNanos > TimeUnit.MILLISECONDS.toNanos(STABLE_MILLIS)) {
            quickCrashes = 0;
        }
    }

    synchronized String tail() {
        return String.join("\n", tail);
    }

    private void pump(Process p) {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                if (line.startsWith("WARNING: Using incubator modules")) {
                    continue; // the JVM's notice for every process; the front end already printed its own
                }
                log.println(line);
                synchronized (this) {
                    tail.addLast(line);
                    if (tail.size() > TAIL_LINES) {
                        tail.removeFirst();
                    }
                }
            }
        } catch (IOException e) {
            // The process is gone; its exit is handled by onExit.
        }
    }

    private void onExit(Process p) {
        long delay;
        synchronized (this) {
            if (p != process || stopping) {
                return;
            }
            events.exited(index, p.pid(), p.exitValue());
            if (!restarts) {
                failedWith = p.exitValue();
                return;
            }
            boolean quick = System.nanoTime() - startedNanos < TimeUnit.MILLISECONDS.toNanos(STABLE_MILLIS);
            quickCrashes = quick ? quickCrashes + 1 : 1;
            delay = Math.min(MAX_BACKOFF_MILLIS, MIN_BACKOFF_MILLIS << Math.min(10, quickCrashes - 1));
        }
        LOG.warning("replica " + index + " (pid " + p.pid() + ") exited with code " + p.exitValue()
                + "; restarting it in " + delay + " ms");
        scheduleRestart(delay);
    }

    private void scheduleRestart(long delay) {
        try {
            timer.schedule(() -> {
                try {
                    start();
                } catch (RuntimeException e) {
                    LOG.severe("cannot restart replica " + index + ": " + e.getMessage() + "; trying again in "
                            + MAX_BACKOFF_MILLIS + " ms");
                    scheduleRestart(MAX_BACKOFF_MILLIS);
                }
            }, delay, TimeUnit.MILLISECONDS);
        } catch (RejectedExecutionException e) {
            // The deployment is stopping: nothing to restart.
        }
    }

    /**
     * Stops the replica for good: SIGTERM (it finishes its shutdown: server, engine), then SIGKILL if it
     * is still there after {@code graceMillis}. Returns once the process is gone.
     */
    void stop(long graceMillis) {
        Process p;
        synchronized (this) {
            stopping = true;
            p = process;
        }
        if (p == null || !p.isAlive()) {
            return;
        }
        p.destroy();
        try {
            if (!p.waitFor(graceMillis, TimeUnit.MILLISECONDS)) {
                LogSetup.log(LOG, Level.WARNING, "replica " + index + " (pid " + p.pid() + ") did not stop in "
                        + graceMillis + " ms; killing it");
                p.destroyForcibly().waitFor(2, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            p.destroyForcibly();
            Thread.currentThread().interrupt();
        }
    }
}
