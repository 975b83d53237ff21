package dev.miij.server.deploy;

import dev.miij.Mii;
import dev.miij.Pipeline;
import dev.miij.PipelineOptions;
import dev.miij.backend.Devices;
import dev.miij.engine.EngineConfig;
import dev.miij.server.PipelineService;
import dev.miij.server.grpc.ReplicaServer;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * A replica process: {@code ReplicaMain INDEX PORT}, with the deployment in {@value DeploymentSpec#ENV}.
 * Started by a deployment's front end, never by hand. It listens at once, loads the model, reports
 * SERVING, and exits on SIGTERM, on a Terminate call, or when its front end is gone.
 *
 * <pre>
 * MII_DEPLOYMENT_SPEC='{"name":"kjv-demo",...}' java -cp ... dev.miij.server.deploy.ReplicaMain 0 50051
 * </pre>
 */
public final class ReplicaMain {

    /** Exit codes: the port is taken; the model cannot be loaded. */
    static final int EXIT_CANNOT_LISTEN = 3;
    static final int EXIT_CANNOT_LOAD = 4;

    private static final Logger LOG = Logger.getLogger(ReplicaMain.class.getName());

    private ReplicaMain() {
    }

    public static void main(String[] args) throws InterruptedException {
        int index = Integer.parseInt(args[0]);
        int port = Integer.parseInt(args[1]);
        LogSetup.install("replica " + index, Boolean.getBoolean("mii.debug"));
        DeploymentSpec spec = DeploymentSpec.fromEnvironment();
        ParentWatch.start();
        ReplicaServer server;
        try {
            server = ReplicaServer.start("127.0.0.1", port, spec.maxLength(), () -> System.exit(0),
                    System.getenv(Deployment.REPLICA_KEY_ENV));
        } catch (RuntimeException e) {
            LOG.severe(e.getMessage());
            System.exit(EXIT_CANNOT_LISTEN);
            return;
        }
        Pipeline pipeline;
        try {
            pipeline = Mii.pipeline(spec.modelPath(), options(spec, index));
        } catch (RuntimeException e) {
            LOG.log(Level.SEVERE, "cannot load " + spec.modelPath() + ": " + e.getMessage(), e);
            server.close();
            System.exit(EXIT_CANNOT_LOAD);
            return;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.shutdown(2000);
            pipeline.close();
        }, "mii-replica-shutdown"));
        server.serve(new PipelineService(pipeline, spec.name(), spec.model()));
        LOG.info("serving " + spec.model() + " on 127.0.0.1:" + server.port() + " (pid " + ProcessHandle.current().pid() + ")");
        server.awaitTermination();
    }

    /**
     * Replica {@code index}'s device and engine: with "cuda" (or none, on a GPU host) replicas go
     * round-robin over the GPUs, and those that share one split its gpu_memory_utilization.
     */
    static PipelineOptions options(DeploymentSpec spec, int index) {
        boolean cpu = "cpu".equals(spec.device());
        Devices.Placement place = Devices.place(spec.device(), index, spec.replicaNum(), cpu ? 0 : Devices.gpuCount());
        EngineConfig engine = spec.engine();
        if (!place.device().equals("cpu") && place.sharedBy() > 1) {
            engine = engine.withGpuMemoryUtilization(engine.gpuMemoryUtilization() / place.sharedBy());
        }
        LOG.info("replica " + index + " on " + place.device() + (place.device().equals("cpu") || place.sharedBy() == 1 ? ""
                : " (shared by " + place.sharedBy() + " replicas, gpu_memory_utilization " + engine.gpuMemoryUtilization() + ")"));
        return PipelineOptions.defaults().withEngine(engine).withDevice(place.device());
    }
}
