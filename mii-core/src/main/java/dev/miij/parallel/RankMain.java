package dev.miij.parallel;

import dev.miij.MiiException;
import dev.miij.arch.Architectures;
import dev.miij.arch.DecoderModel;
import dev.miij.arch.TransformerSpec;
import dev.miij.backend.Backend;
import dev.miij.backend.Devices;
import dev.miij.model.ModelFolder;
import dev.miij.model.WeightSource;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Map;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * A process that is rank 1, 2, ... of a tensor-parallel group: it joins rank 0, loads the model rank
 * 0 names (only this rank's slices, on the device rank 0 names), follows rank 0's steps, and exits 0
 * when rank 0 ends the group, 1 when the group fails (the error on stderr names the rank that
 * failed). {@link LeadRank} starts these on its own host; {@code mii worker} runs the same in a pod.
 *
 * <pre>
 * java --add-modules jdk.incubator.vector -cp ... dev.miij.parallel.RankMain --rendezvous 10.0.0.5:29500 --rank 1 --size 2
 * </pre>
 */
public final class RankMain {

    /** Setup keys: the model folder, and the device kind ("cpu" or "cuda"; see {@link #device}). */
    static final String MODEL = "model";
    static final String DEVICE = "device";

    private RankMain() {
    }

    public static void main(String[] args) {
        String rendezvous = null;
        int rank = -1;
        int size = -1;
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--rendezvous" -> rendezvous = args[i + 1];
                case "--rank" -> rank = Integer.parseInt(args[i + 1]);
                case "--size" -> size = Integer.parseInt(args[i + 1]);
                default -> {
                    System.err.println("error: unknown option " + args[i]);
                    System.exit(2);
                }
            }
        }
        int colon = rendezvous == null ? -1 : rendezvous.lastIndexOf(':');
        if (colon < 1 || rank < 1 || size <= rank) {
            System.err.println("usage: RankMain --rendezvous HOST:PORT --rank R --size N (1 <= R < N)");
            System.exit(2);
        }
        Logger.getLogger("").setLevel(Boolean.getBoolean("mii.debug") ? Level.FINE : Level.WARNING);
        String token = System.getenv(ProcessGroup.TOKEN_ENV);
        System.exit(run(rendezvous.substring(0, colon), Integer.parseInt(rendezvous.substring(colon + 1)), rank, size,
                token == null ? "" : token, ProcessGroup.Timeouts.defaults(), System.err, true));
    }

    /** {@link #run(String, int, int, int, String, ProcessGroup.Timeouts, PrintStream, boolean)} without a join token. */
    public static int run(String host, int port, int rank, int size, ProcessGroup.Timeouts timeouts, PrintStream err,
                          boolean exitOnFailure) {
        return run(host, port, rank, size, "", timeouts, err, exitOnFailure);
    }

    /**
     * Joins, loads and follows until the group ends; returns the exit code (0: rank 0 stopped the
     * group; 1: it failed, the reason printed on {@code err}).
     *
     * @param token         the group's join token ({@link ProcessGroup#TOKEN_ENV}; empty for none)
     * @param exitOnFailure end this process as soon as the group fails, whatever this rank is busy with
     *                      (loading, computing); a process's own choice, never a test's
     */
    public static int run(String host, int port, int rank, int size, String token, ProcessGroup.Timeouts timeouts,
                          PrintStream err, boolean exitOnFailure) {
        ProcessGroup group;
        try {
            group = ProcessGroup.join(host, port, rank, size, timeouts, token);
        } catch (MiiException e) {
            err.println("error: " + e.getMessage());
            return 1;
        }
        if (exitOnFailure) {
            group.onFailure(e -> {
                err.println("error: " + e.getMessage());
                Runtime.getRuntime().halt(1); // no shutdown hooks: a hung forward pass must not hold the process
            });
        }
        try {
            Map<String, String> setup = group.awaitSetup();
            ModelFolder folder = ModelFolder.open(Path.of(setup.get(MODEL)));
            TransformerSpec spec = Architectures.fromConfig(folder.config());
            try (WeightSource weights = folder.openWeights()) {
                Backend backend = Devices.open(device(setup.get(DEVICE), rank));
                try (DecoderModel model = new DecoderModel(spec, weights, backend, new TensorParallel(rank, size, spec),
                        group.collective(backend))) {
                    try {
                        group.ready();
                        group.follow(model);
                    } catch (RuntimeException e) {
                        if (group.failure() == null) {
                            group.abort(e); // while the device the collective lives on is still open
                        }
                        throw e;
                    }
                    group.close(); // its collective's resources go before the device they live on
                }
            }
            return 0;
        } catch (RuntimeException e) {
            MiiException f = group.failure() != null ? group.failure() : group.abort(e);
            err.println("error: " + f.getMessage());
            group.close();
            return 1;
        }
    }

    /**
     * Rank {@code rank}'s device: the CPU, or GPU {@code rank} modulo the GPUs of its host (GPU r
     * when all ranks share a host with one GPU each; GPU 0 with one GPU per host).
     */
    static String device(String kind, int rank) {
        return Devices.CUDA.equals(kind) ? Devices.CUDA + ":" + rank % Math.max(1, Devices.gpuCount()) : "cpu";
    }
}
