package dev.miij.server.grpc;

import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** One replica as the load balancer sees it: its connection, its load, whether it is up. */
final class Backend implements LeastOutstanding.Candidate {

    static final int MAX_MESSAGE_BYTES = 64 << 20;

    final int index;
    final String host;
    final int port;
    final AtomicInteger outstanding = new AtomicInteger();
    final AtomicInteger restarts = new AtomicInteger();
    private final ManagedChannel channel;
    private volatile boolean up;
    // Left the pool (its pod went away): no new requests; closed when the last one ends.
    volatile boolean draining;

    // Touched by the health checker only.
    int healthFailures;
    boolean checking;

    Backend(int index, String host, int port) {
        this(index, host, port, null);
    }

    Backend(int index, String host, int port, String key) {
        this.index = index;
        this.host = host;
        this.port = port;
        NettyLogging.init();
        NettyChannelBuilder b = NettyChannelBuilder.forAddress(host, port).usePlaintext()
                .eventLoopGroup(FrontendIo.GROUP).channelType(FrontendIo.CLIENT_CHANNEL)
                .maxInboundMessageSize(MAX_MESSAGE_BYTES);
        if (key != null) {
            b.intercept(ApiKeys.client(key));
        }
        this.channel = b.build();
    }

    ManagedChannel channel() {
        return channel;
    }

    @Override
    public boolean up() {
        return up && !draining;
    }

    /** Sets the state; true when it changed. */
    boolean setUp(boolean v) {
        boolean was = up;
        up = v;
        return was != v;
    }

    @Override
    public int outstanding() {
        return outstanding.get();
    }

    String address() {
        return host + ":" + port;
    }

    /** Closes the connection once the calls on it have ended, without waiting. */
    void closeGracefully() {
        channel.shutdown();
    }

    void close() {
        channel.shutdownNow();
        try {
            channel.awaitTermination(1, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
