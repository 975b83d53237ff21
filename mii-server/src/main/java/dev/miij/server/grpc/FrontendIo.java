package dev.miij.server.grpc;

import io.grpc.netty.shaded.io.netty.channel.Channel;
import io.grpc.netty.shaded.io.netty.channel.EventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.ServerChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.Epoll;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollServerSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.epoll.EpollSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.nio.NioEventLoopGroup;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioServerSocketChannel;
import io.grpc.netty.shaded.io.netty.channel.socket.nio.NioSocketChannel;
import io.grpc.netty.shaded.io.netty.util.concurrent.DefaultThreadFactory;

/**
 * The front end's gRPC I/O: one event-loop thread for the load balancer's server and its connections to
 * the replicas. A relayed call is then read, routed, sent on, answered and relayed back on that one thread
 * with no hand-over between threads (each costs a wake-up, tens to hundreds of microseconds on a busy
 * machine, and the balancer's own work per call is a few microseconds); a replica's engine, not this
 * thread, bounds what a deployment serves. Epoll where the platform has it, else NIO.
 */
final class FrontendIo {
    static final EventLoopGroup GROUP;
    static final Class<? extends Channel> CLIENT_CHANNEL;
    static final Class<? extends ServerChannel> SERVER_CHANNEL;

    static {
        DefaultThreadFactory threads = new DefaultThreadFactory("mii-frontend-io", true);
        if (Epoll.isAvailable()) {
            GROUP = new EpollEventLoopGroup(1, threads);
            CLIENT_CHANNEL = EpollSocketChannel.class;
            SERVER_CHANNEL = EpollServerSocketChannel.class;
        } else {
            GROUP = new NioEventLoopGroup(1, threads);
            CLIENT_CHANNEL = NioSocketChannel.class;
            SERVER_CHANNEL = NioServerSocketChannel.class;
        }
    }

    private FrontendIo() {
    }
}
