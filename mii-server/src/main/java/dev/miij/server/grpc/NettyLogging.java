package dev.miij.server.grpc;

import io.grpc.netty.shaded.io.netty.util.internal.logging.InternalLoggerFactory;
import io.grpc.netty.shaded.io.netty.util.internal.logging.JdkLoggerFactory;

/**
 * Points gRPC's shaded Netty at java.util.logging. Left alone, Netty finds slf4j-api on the class
 * path (jinjava brings it, without a provider) and every process prints slf4j's three-line
 * "no providers" warning.
 */
final class NettyLogging {

    static {
        InternalLoggerFactory.setDefaultFactory(JdkLoggerFactory.INSTANCE);
    }

    private NettyLogging() {
    }

    /** Call before the first channel or server is built; later calls do nothing. */
    static void init() {
        // the static initializer did the work
    }
}
