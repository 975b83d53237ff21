package dev.miij.server.grpc;

import dev.miij.MiiException;
import dev.miij.engine.EngineStats;
import dev.miij.server.PipelineService;
import dev.miij.server.grpc.proto.ModelResponseGrpc;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.netty.shaded.io.netty.channel.ChannelOption;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;

/**
 * A replica's gRPC server: MII's {@code ModelResponse}, standard gRPC health (NOT_SERVING while the
 * model loads, SERVING after), and {@link EngineStatsRpc}. It listens before the model is loaded, so
 * the port is claimed at once and the front end can tell "loading" from "dead".
 *
 * <pre>{@code
 * ReplicaServer server = ReplicaServer.start("127.0.0.1", 50051, null, () -> System.exit(0));
 * server.serve(new PipelineService(Mii.pipeline(model), "my-deployment", model));
 * }</pre>
 */
public final class ReplicaServer implements AutoCloseable {

    private final Server server;
    private final HealthStatusManager health;
    private final ReplicaService service;
    private volatile PipelineService engine;

    private ReplicaServer(Server server, HealthStatusManager health, ReplicaService service) {
        this.server = server;
        this.health = health;
        this.service = service;
    }

    /** Listens on host:port (0 picks a free port); calls fail with UNAVAILABLE until {@link #serve}. */
    public static ReplicaServer start(String host, int port, Integer defaultMaxLength, Runnable onTerminate) {
        return start(host, port, defaultMaxLength, onTerminate, null);
    }

    /** As above; with a {@code key}, ModelResponse calls (Terminate included) must carry it. */
    public static ReplicaServer start(String host, int port, Integer defaultMaxLength, Runnable onTerminate, String key) {
        NettyLogging.init();
        HealthStatusManager health = new HealthStatusManager();
        health.setStatus(HealthStatusManager.SERVICE_NAME_ALL_SERVICES, ServingStatus.NOT_SERVING);
        health.setStatus(ModelResponseGrpc.SERVICE_NAME, ServingStatus.NOT_SERVING);
        ReplicaService service = new ReplicaService(defaultMaxLength, onTerminate);
        ReplicaServer[] self = new ReplicaServer[1];
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress(host, port))
                // A deployment started again on its ports, or a replica restarted on its port, must be able to
                // bind while connections of the previous process linger in TIME_WAIT.
                .withOption(ChannelOption.SO_REUSEADDR, true)
                .addService(key == null ? service.bindService() : ServerInterceptors.intercept(service, ApiKeys.server(key)))
                .addService(health.getHealthService())
                .addService(EngineStatsRpc.service(() -> {
                    PipelineService e = self[0].engine;
                    return e == null ? null : e.pipeline().engine().stats();
                }))
                .build();
        self[0] = new ReplicaServer(server, health, service);
        try {
            server.start();
        } catch (IOException e) {
            throw MiiException.io("cannot listen on " + host + ":" + port + " (" + e.getMessage() + ")", e);
        }
        return self[0];
    }

    public int port() {
        return server.getPort();
    }

    /** Starts answering with this engine and reports SERVING. */
    public void serve(PipelineService pipeline) {
        engine = pipeline;
        service.serve(pipeline);
        health.setStatus(HealthStatusManager.SERVICE_NAME_ALL_SERVICES, ServingStatus.SERVING);
        health.setStatus(ModelResponseGrpc.SERVICE_NAME, ServingStatus.SERVING);
    }

    /** Stops taking calls, lets those in flight finish for up to {@code graceMillis}, then cuts the rest. */
    public void shutdown(long graceMillis) {
        health.enterTerminalState();
        server.shutdown();
        try {
            if (!server.awaitTermination(graceMillis, TimeUnit.MILLISECONDS)) {
                server.shutdownNow().awaitTermination(1, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            server.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }

    public void awaitTermination() throws InterruptedException {
        server.awaitTermination();
    }

    @Override
    public void close() {
        shutdown(0);
    }
}
