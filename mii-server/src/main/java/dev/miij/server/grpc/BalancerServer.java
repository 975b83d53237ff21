package dev.miij.server.grpc;

import dev.miij.MiiException;
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
 * The load balancer's gRPC server on the deployment's port: MII's {@code ModelResponse} relayed by a
 * {@link ReplicaRouter}, and gRPC health (SERVING once every replica has loaded).
 *
 * <pre>{@code
 * BalancerServer lb = BalancerServer.start("127.0.0.1", 50050, router, deployment::shutdown);
 * lb.serving();        // once the replicas are up
 * lb.stopAccepting();  // at shutdown: drain, then
 * lb.stopNow();
 * }</pre>
 */
public final class BalancerServer {

    private final Server server;
    private final HealthStatusManager health;

    private BalancerServer(Server server, HealthStatusManager health) {
        this.server = server;
        this.health = health;
    }

    /** Listens on host:port (0 picks a free port); reports NOT_SERVING until {@link #serving()}. */
    public static BalancerServer start(String host, int port, ReplicaRouter router, Runnable onTerminate) {
        return start(host, port, router, onTerminate, null);
    }

    /**
     * As {@link #start(String, int, ReplicaRouter, Runnable)}; with an {@code apiKey} every ModelResponse call
     * (Terminate included) must carry it, while gRPC health stays open like {@code /healthz}.
     */
    public static BalancerServer start(String host, int port, ReplicaRouter router, Runnable onTerminate, String apiKey) {
        NettyLogging.init();
        HealthStatusManager health = new HealthStatusManager();
        health.setStatus(HealthStatusManager.SERVICE_NAME_ALL_SERVICES, ServingStatus.NOT_SERVING);
        health.setStatus(ModelResponseGrpc.SERVICE_NAME, ServingStatus.NOT_SERVING);
        Server server = NettyServerBuilder.forAddress(new InetSocketAddress(host, port))
                // A deployment started again on its ports, or a replica restarted on its port, must be able to
                // bind while connections of the previous process linger in TIME_WAIT.
                .withOption(ChannelOption.SO_REUSEADDR, true)
                // Calls are handled on the I/O thread that read them, the one the replicas' connections use
                // (FrontendIo): relaying never blocks, and no hand-over between threads is paid per call.
                .bossEventLoopGroup(FrontendIo.GROUP).workerEventLoopGroup(FrontendIo.GROUP)
                .channelType(FrontendIo.SERVER_CHANNEL).directExecutor()
                .addService(apiKey == null || apiKey.isEmpty() ? new BalancerService(router, onTerminate).bindService()
                        : ServerInterceptors.intercept(new BalancerService(router, onTerminate), ApiKeys.server(apiKey)))
                .addService(health.getHealthService())
                .maxInboundMessageSize(Backend.MAX_MESSAGE_BYTES)
                .build();
        try {
            server.start();
        } catch (IOException e) {
            throw MiiException.io("cannot listen on " + host + ":" + port + " (" + e.getMessage()
                    + "); is another deployment using the port? pick another with --port", e);
        }
        return new BalancerServer(server, health);
    }

    public int port() {
        return server.getPort();
    }

    public void serving() {
        health.setStatus(HealthStatusManager.SERVICE_NAME_ALL_SERVICES, ServingStatus.SERVING);
        health.setStatus(ModelResponseGrpc.SERVICE_NAME, ServingStatus.SERVING);
    }

    /** Refuses new calls; calls in flight go on. */
    public void stopAccepting() {
        health.enterTerminalState();
        server.shutdown();
    }

    /** Cuts the calls still in flight and waits briefly for the server to stop. */
    public void stopNow() {
        server.shutdownNow();
        try {
            server.awaitTermination(1, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
