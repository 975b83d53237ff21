package dev.miij.parallel;

import dev.miij.MiiException;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Ranks 1 to N-1 of a group as processes of this host: each a JVM like this one (same java, class
 * path, memory flags and {@code mii.*} properties) running {@link RankMain}. Their stderr comes out
 * on this process's, each line prefixed with its rank; the last lines are kept for error messages.
 */
final class RankProcesses implements AutoCloseable {

    // JVM options worth passing on; agents and debuggers are not (a second JVM would fight for their ports).
    private static final List<String> INHERITED_PREFIXES = List.of("-Xmx", "-Xms", "-Xss", "-XX:");
    private static final int KEPT_LINES = 20;

    private final List<Process> processes = new ArrayList<>();
    private final List<Deque<String>> lastLines = new ArrayList<>();
    private final List<Thread> pumps = new ArrayList<>();

    private RankProcesses() {
    }

    /**
     * Starts ranks 1 to {@code size - 1}, told to join rank 0 at {@code host:port}; the join token
     * goes in their environment, where other users of the host cannot read it (a command line they can).
     */
    static RankProcesses start(int size, String host, int port, String token) {
        RankProcesses p = new RankProcesses();
        try {
            for (int rank = 1; rank < size; rank++) {
                List<String> cmd = command(size, List.of("--rendezvous", host + ":" + port, "--rank",
                        Integer.toString(rank), "--size", Integer.toString(size)));
                ProcessBuilder builder = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                        .redirectInput(ProcessBuilder.Redirect.PIPE);
                builder.environment().put(ProcessGroup.TOKEN_ENV, token);
                Process process = builder.start();
                p.processes.add(process);
                Deque<String> lines = new ArrayDeque<>();
                p.lastLines.add(lines);
                int r = rank;
                p.pumps.add(Thread.ofPlatform().daemon().name("tensor-parallel-rank-" + rank + "-stderr")
                        .start(() -> pump(process, r, lines)));
            }
        } catch (IOException e) {
            p.destroy();
            throw new MiiException(MiiException.Kind.IO, "could not start a process for a tensor-parallel rank: "
                    + e.getMessage(), e);
        }
        return p;
    }

    /** The java command line of one rank. CPU ranks share this host's cores unless {@code mii.threads} says otherwise. */
    static List<String> command(int size, List<String> args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.add("--add-modules");
        cmd.add("jdk.incubator.vector");
        cmd.add("--enable-native-access=ALL-UNNAMED");
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (INHERITED_PREFIXES.stream().anyMatch(a::startsWith)) {
                cmd.add(a);
            }
        }
        for (String k : System.getProperties().stringPropertyNames()) {
            if (k.startsWith("mii.")) {
                cmd.add("-D" + k + "=" + System.getProperty(k));
            }
        }
        if (System.getProperty("mii.threads") == null) {
            cmd.add("-Dmii.threads=" + Math.max(1, Runtime.getRuntime().availableProcessors() / size));
        }
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(RankMain.class.getName());
        cmd.addAll(args);
        return cmd;
    }

    private static void pump(Process process, int rank, Deque<String> lines) {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                if (line.startsWith("WARNING: Using incubator modules")) {
                    continue;
                }
                synchronized (lines) {
                    lines.addLast(line);
                    if (lines.size() > KEPT_LINES) {
                        lines.removeFirst();
                    }
                }
                System.err.println("rank " + rank + ": " + line);
            }
        } catch (IOException e) {
            // the process is gone
        }
    }

    /** Throws, naming the rank and its last words, when a process has already exited (while the group forms). */
    void check() {
        for (int i = 0; i < processes.size(); i++) {
            Process p = processes.get(i);
            if (!p.isAlive()) {
                int rank = i + 1;
                throw new MiiException(MiiException.Kind.IO, "rank " + rank + " of the tensor-parallel group (pid " + p.pid()
                        + ") exited with code " + p.exitValue() + " before it joined rank 0" + lastWords(i, p));
            }
        }
    }

    private String lastWords(int i, Process p) {
        try {
            pumps.get(i).join(2000); // its last lines
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        Deque<String> lines = lastLines.get(i);
        synchronized (lines) {
            return lines.isEmpty() ? "" : ": " + lines.peekLast();
        }
    }

    /** The processes, rank 1 first. */
    List<Process> processes() {
        return List.copyOf(processes);
    }

    /** Kills the processes that have not exited. */
    void destroy() {
        for (Process p : processes) {
            p.destroyForcibly();
        }
    }

    /** Waits a few seconds for the processes to exit (they do once the group ends), then kills those left. */
    @Override
    public void close() {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        for (Process p : processes) {
            try {
                if (!p.waitFor(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                    p.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                destroy();
                return;
            }
        }
    }
}
