package dev.miij.parallel;

import dev.miij.MiiException;
import dev.miij.arch.DecoderModel;
import dev.miij.arch.TransformerSpec;
import dev.miij.backend.Backend;
import dev.miij.backend.Devices;
import dev.miij.model.WeightSource;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * Rank 0 of a tensor-parallel group of processes: the model the engine runs on (rank 0's slices),
 * leading ranks 1 to N-1, which load their own slices and run every step with it.
 * {@link #launch} starts those ranks as processes of this host ({@link RankMain}) and meets them on
 * a loopback port; {@link #lead} takes a group formed elsewhere (pods that found rank 0 through a
 * rendezvous address). Closing it stops the other ranks and frees rank 0's model.
 *
 * <pre>{@code
 * try (LeadRank lead = LeadRank.launch(folder.dir(), spec, weights, "cpu", 2);
 *      Engine engine = new Engine(lead.model(), EngineConfig.defaults(), Detokenizer.NONE, eosIds)) {
 *     ...   // the engine runs as with one rank; rank 1 follows each step in its own process
 * }
 * }</pre>
 */
public final class LeadRank implements AutoCloseable {

    private final ProcessGroup group;
    private final DecoderModel model;
    private final RankProcesses processes;

    private LeadRank(ProcessGroup group, DecoderModel model, RankProcesses processes) {
        this.group = group;
        this.model = model;
        this.processes = processes;
    }

    /** {@link #launch(Path, TransformerSpec, WeightSource, String, int, ProcessGroup.Timeouts)} with the default timeouts. */
    public static LeadRank launch(Path modelDir, TransformerSpec spec, WeightSource weights, String device, int size) {
        return launch(modelDir, spec, weights, device, size, ProcessGroup.Timeouts.defaults());
    }

    /**
     * Starts ranks 1 to {@code size - 1} as processes of this host, waits until they have joined and
     * loaded their slices of the model in {@code modelDir}, and returns rank 0 leading them.
     *
     * @param device "cpu", or "cuda" (null: the default device): rank r runs on GPU r
     * @throws MiiException when the model cannot be split {@code size} ways, the GPUs are too few, or
     *                      a rank fails to start, join or load (naming it and why)
     */
    public static LeadRank launch(Path modelDir, TransformerSpec spec, WeightSource weights, String device, int size,
                                  ProcessGroup.Timeouts timeouts) {
        String kind = deviceKind(device, size);
        new TensorParallel(0, size, spec); // refuses a model the plan cannot split, before any process starts
        ServerSocket server;
        try {
            server = new ServerSocket(0, size, InetAddress.getLoopbackAddress());
        } catch (IOException e) {
            throw new MiiException(MiiException.Kind.IO, "could not open a loopback port for the tensor-parallel ranks: "
                    + e.getMessage(), e);
        }
        // Only the processes started here may join: another user's process on this host cannot guess the token.
        byte[] secret = new byte[16];
        new java.security.SecureRandom().nextBytes(secret);
        String token = java.util.HexFormat.of().formatHex(secret);
        RankProcesses processes = RankProcesses.start(size, "127.0.0.1", server.getLocalPort(), token);
        ProcessGroup group;
        try {
            group = ProcessGroup.lead(server, size, timeouts, token, processes::check);
        } catch (RuntimeException e) {
            processes.destroy();
            throw e;
        }
        group.onFailure(e -> Thread.ofVirtual().start(() -> {
            // The ranks exit by themselves when the group fails; one that hangs is ended after a grace.
            try {
                Thread.sleep(3000);
            } catch (InterruptedException ignored) {
                // end them now
            }
            processes.destroy();
        }));
        return lead(group, processes, modelDir, spec, weights, kind);
    }

    /**
     * Rank 0 of {@code group}, formed elsewhere: tells the other ranks to load {@code modelDir} (the
     * same path on their hosts) on {@code device}, loads its own slices, and waits until all have.
     */
    public static LeadRank lead(ProcessGroup group, Path modelDir, TransformerSpec spec, WeightSource weights, String device) {
        return lead(group, null, modelDir, spec, weights, deviceKind(device, group.size()));
    }

    private static LeadRank lead(ProcessGroup group, RankProcesses processes, Path modelDir, TransformerSpec spec,
                                 WeightSource weights, String kind) {
        if (group.rank() != 0) {
            throw new IllegalArgumentException("rank " + group.rank() + " does not lead its group");
        }
        Backend backend = null;
        DecoderModel model = null;
        try {
            group.sendSetup(Map.of(RankMain.MODEL, modelDir.toAbsolutePath().toString(), RankMain.DEVICE, kind));
            backend = Devices.open(RankMain.device(kind, 0));
            model = new DecoderModel(spec, weights, backend, new TensorParallel(0, group.size(), spec),
                    group.collective(backend));
            group.awaitReady();
            model.leadGroup(group);
            return new LeadRank(group, model, processes);
        } catch (RuntimeException e) {
            if (group.failure() == null) {
                group.abort(e); // the others learn that rank 0 failed, and why
            }
            if (model != null) {
                model.close();
            } else if (backend != null) {
                backend.close();
            }
            group.close();
            if (processes != null) {
                processes.close();
            }
            throw e;
        }
    }

    /** "cpu" or "cuda" for a group of {@code size} on this host's devices. */
    static String deviceKind(String device, int size) {
        Devices.Device d = Devices.parse(device);
        if (d == null) {
            d = Devices.parse(Devices.defaultDevice());
        }
        if (!d.isCuda()) {
            return "cpu";
        }
        if (d.ordinal() >= 0) {
            throw MiiException.invalid("tensor parallelism over " + size + " GPUs puts rank r on GPU r (cuda:0 to cuda:"
                    + (size - 1) + "); give the device as cuda, not " + d);
        }
        Devices.resolve(Devices.CUDA); // says why when there is no usable GPU
        int gpus = Devices.gpuCount();
        if (gpus < size) {
            throw MiiException.unsupported("tensor parallelism over " + size + " GPUs, but this machine has " + gpus
                    + (gpus == 1 ? " GPU" : " GPUs"));
        }
        return Devices.CUDA;
    }

    /** Rank 0's model: build the engine on it. */
    public DecoderModel model() {
        return model;
    }

    public ProcessGroup group() {
        return group;
    }

    /** The processes of ranks 1 to N-1 when this started them, rank 1 first; empty otherwise. */
    List<Process> processes() {
        return processes == null ? List.of() : processes.processes();
    }

    /** Stops the other ranks (after the steps already sent), frees rank 0's model, and waits for the processes it started. */
    @Override
    public void close() {
        try {
            group.close();
            model.close();
        } finally {
            if (processes != null) {
                processes.close();
            }
        }
    }
}
