package dev.miij.server.discovery;

import java.net.InetSocketAddress;
import java.util.List;
import java.util.function.Consumer;

/** A fixed list of replicas ({@code static:HOST:PORT,...}): replicas started by other means, on other hosts. */
final class StaticDiscovery implements ReplicaDiscovery {

    private final List<InetSocketAddress> replicas;

    StaticDiscovery(List<InetSocketAddress> replicas) {
        this.replicas = List.copyOf(replicas);
    }

    @Override
    public void start(Consumer<List<InetSocketAddress>> onChange) {
        onChange.accept(replicas);
    }

    @Override
    public String describe() {
        return "static list " + replicas.stream().map(a -> a.getHostString() + ":" + a.getPort()).toList();
    }

    @Override
    public void close() {
    }
}
