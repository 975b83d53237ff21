package dev.miij.server.deploy;

import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The command line that starts another JVM like this one (same java, class path, memory flags and
 * {@code mii.*} properties) running a given main class: how deployments start their processes.
 */
final class JavaCommand {

    // JVM options worth passing on; agents and debuggers are not (a second JVM would fight for their ports).
    private static final List<String> INHERITED_PREFIXES = List.of("-Xmx", "-Xms", "-Xss", "-XX:");

    private static final List<String> YOUNG_GENERATION = List.of("-Xmn", "-XX:NewSize", "-XX:MaxNewSize", "-XX:NewRatio");
    private static final List<String> HEAP_SIZE = List.of("-Xmx", "-XX:MaxHeapSize", "-XX:MaxRAM", "-XX:MaxRAMPercentage");
    static final String SMALL_YOUNG_GENERATION = "-XX:MaxNewSize=128m";

    private JavaCommand() {
    }

    /** The JVM options of this process that its children get too. */
    static List<String> inheritedOptions() {
        List<String> out = new ArrayList<>();
        for (String a : ManagementFactory.getRuntimeMXBean().getInputArguments()) {
            if (INHERITED_PREFIXES.stream().anyMatch(a::startsWith)) {
                out.add(a);
            }
        }
        return out;
    }

    /**
     * Heap options for one of {@code replicas} replica processes on this host: none when this JVM's heap was
     * set explicitly (the replicas inherit it), otherwise the JVM's default share of memory (a quarter)
     * divided between them, so that N replicas together take what one would.
     */
    static List<String> replicaHeap(int replicas) {
        if (replicas <= 1 || inheritedOptions().stream().anyMatch(a -> HEAP_SIZE.stream().anyMatch(a::startsWith))) {
            return List.of();
        }
        return List.of("-XX:MaxRAMPercentage=" + String.format(java.util.Locale.ROOT, "%.2f", 25.0 / replicas));
    }

    /**
     * The JVM options of one of {@code replicas} replica processes on this host: its heap ({@link
     * #replicaHeap}) and its share of the cores for the CPU kernels' threads, unless {@code mii.threads} was
     * chosen (the replicas inherit it). Each replica's kernels otherwise run on every core, and N replicas
     * on C cores run N x C threads that spin for each other: on 2 cores, 2 replicas of the demo model served
     * 64 streams at 1,290 tokens/s with 2 threads each and 1,467 with 1 (docs/benchmarks.md).
     */
    static List<String> replicaOptions(int replicas) {
        return replicaOptions(replicas, Runtime.getRuntime().availableProcessors(), System.getProperty("mii.threads"));
    }

    static List<String> replicaOptions(int replicas, int cores, String chosenThreads) {
        List<String> out = new ArrayList<>(replicaHeap(replicas));
        if (replicas > 1 && (chosenThreads == null || chosenThreads.isBlank())) {
            out.add("-Dmii.threads=" + Math.max(1, cores / replicas));
        }
        return out;
    }

    static List<String> of(Class<?> main, List<String> args) {
        return of(main, List.of(), args);
    }

    /** As {@link #of(Class, List)}, with {@code jvmOptions} added after the inherited ones. */
    static List<String> of(Class<?> main, List<String> jvmOptions, List<String> args) {
        List<String> inherited = inheritedOptions();
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(JvmOptions.required());
        cmd.addAll(inherited);
        if (inherited.stream().noneMatch(a -> YOUNG_GENERATION.stream().anyMatch(a::startsWith))) {
            // The engine makes short-lived garbage at a high rate; left alone the collector grows the young
            // generation towards a third of the heap (GBs of RSS for a model of a few MB). A small one is
            // collected often and cheaply.
            cmd.add(SMALL_YOUNG_GENERATION);
        }
        // Properties set at run time (a test's state directory, mii.home) as well as on the command line.
        for (String k : System.getProperties().stringPropertyNames()) {
            if (k.startsWith("mii.")) {
                cmd.add("-D" + k + "=" + System.getProperty(k));
            }
        }
        cmd.addAll(jvmOptions);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(main.getName());
        cmd.addAll(args);
        return cmd;
    }

    /**
     * A process builder that starts {@code cmd} in a session of its own where {@code setsid} exists, so
     * that a terminal's Ctrl-C or hang-up reaches only the process it was meant for; its parent
     * decides when it stops. setsid execs without forking here, so the pid is the JVM's.
     */
    static ProcessBuilder inOwnSession(List<String> cmd) {
        List<String> full = new ArrayList<>();
        for (String s : List.of("/usr/bin/setsid", "/bin/setsid")) {
            if (Files.isExecutable(Path.of(s))) {
                full.add(s);
                break;
            }
        }
        full.addAll(cmd);
        return new ProcessBuilder(full);
    }
}
