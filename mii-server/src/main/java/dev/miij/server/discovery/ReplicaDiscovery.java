package dev.miij.server.discovery;

import dev.miij.MiiException;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Where a front end finds replicas that it did not start: a fixed list, the A records of a DNS name
 * (a Kubernetes headless Service), or the EndpointSlices of a Kubernetes Service. Each source reports
 * the whole current set whenever it may have changed; the load balancer adds and drains replicas.
 *
 * <pre>{@code
 * ReplicaDiscovery d = ReplicaDiscovery.parse("dns:kjv-demo-replicas.serving.svc.cluster.local:50050");
 * d.start(pool::update);
 * ...
 * d.close();
 * }</pre>
 */
public interface ReplicaDiscovery extends AutoCloseable {

    /** Starts reporting: {@code onChange} gets the full set of replica addresses, first soon after this call. */
    void start(Consumer<List<InetSocketAddress>> onChange);

    /** What it watches, for logs. */
    String describe();

    @Override
    void close();

    /**
     * A source from its command-line form: {@code static:HOST:PORT,HOST:PORT...},
     * {@code dns:NAME:PORT} or {@code kubernetes:SERVICE[:PORT_NAME]} (port name default {@code grpc}).
     */
    static ReplicaDiscovery parse(String spec) {
        int colon = spec == null ? -1 : spec.indexOf(':');
        if (colon < 0) {
            throw usage(spec);
        }
        String kind = spec.substring(0, colon);
        String rest = spec.substring(colon + 1);
        return switch (kind) {
            case "static" -> new StaticDiscovery(addresses(rest));
            case "dns" -> {
                InetSocketAddress a = address(rest);
                yield new DnsDiscovery(a.getHostString(), a.getPort(), DnsDiscovery.SYSTEM, DnsDiscovery.DEFAULT_PERIOD_MILLIS);
            }
            case "kubernetes" -> {
                String[] parts = rest.split(":", -1);
                if (parts[0].isBlank() || parts.length > 2) {
                    throw usage(spec);
                }
                yield KubernetesDiscovery.inCluster(parts[0], parts.length == 2 ? parts[1] : "grpc");
            }
            default -> throw usage(spec);
        };
    }

    private static MiiException usage(String spec) {
        return MiiException.invalid("--replica-discovery '" + spec + "' is not static:HOST:PORT[,HOST:PORT...], "
                + "dns:NAME:PORT or kubernetes:SERVICE[:PORT_NAME]");
    }

    private static List<InetSocketAddress> addresses(String list) {
        List<InetSocketAddress> out = new ArrayList<>();
        for (String s : list.split(",")) {
            if (!s.isBlank()) {
                out.add(address(s.strip()));
            }
        }
        if (out.isEmpty()) {
            throw MiiException.invalid("--replica-discovery static: names no replica (static:HOST:PORT,...)");
        }
        return out;
    }

    private static InetSocketAddress address(String hostPort) {
        int c = hostPort.lastIndexOf(':');
        try {
            int port = Integer.parseInt(hostPort.substring(c + 1));
            String host = hostPort.substring(0, Math.max(c, 0));
            if (c <= 0 || port < 1 || port > 65535) {
                throw new NumberFormatException();
            }
            return InetSocketAddress.createUnresolved(host.startsWith("[") ? host.substring(1, host.length() - 1) : host, port);
        } catch (NumberFormatException e) {
            throw MiiException.invalid("'" + hostPort + "' is not HOST:PORT");
        }
    }
}
