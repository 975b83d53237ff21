package dev.miij.server.discovery;

import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.logging.Logger;

/**
 * Replicas at the addresses a DNS name resolves to, looked up every few seconds ({@code dns:NAME:PORT}).
 * A Kubernetes headless Service has one A record per ready pod, so pods that become ready join and
 * pods that go away leave. A failed lookup keeps the last set (health checks still take dead
 * replicas out of rotation).
 */
public final class DnsDiscovery implements ReplicaDiscovery {

    /** Looks a name up; the system resolver, or a test's. */
    @FunctionalInterface
    public interface Resolver {
        List<InetAddress> lookup(String name) throws UnknownHostException;
    }

    static final Resolver SYSTEM = name -> List.of(InetAddress.getAllByName(name));
    static final long DEFAULT_PERIOD_MILLIS = 5000;
    private static final Logger LOG = Logger.getLogger(DnsDiscovery.class.getName());

    private final String name;
    private final int port;
    private final Resolver resolver;
    private final long periodMillis;
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "mii-dns-discovery");
        t.setDaemon(true);
        return t;
    });
    private List<InetSocketAddress> last;

    /** Note that the JVM caches lookups (networkaddress.cache.ttl, 30 s by default) unless the resolver does not. */
    public DnsDiscovery(String name, int port, Resolver resolver, long periodMillis) {
        this.name = name;
        this.port = port;
        this.resolver = resolver;
        this.periodMillis = periodMillis;
    }

    @Override
    public void start(Consumer<List<InetSocketAddress>> onChange) {
        timer.scheduleWithFixedDelay(() -> poll(onChange), 0, periodMillis, TimeUnit.MILLISECONDS);
    }

    private void poll(Consumer<List<InetSocketAddress>> onChange) {
        List<InetSocketAddress> now;
        try {
            now = resolver.lookup(name).stream().map(a -> new InetSocketAddress(a.getHostAddress(), port))
                    .sorted(Comparator.comparing(InetSocketAddress::getHostString)).distinct().toList();
        } catch (UnknownHostException e) {
            LOG.warning("cannot resolve " + name + " (" + e.getMessage() + "); keeping " + (last == null ? 0 : last.size())
                    + " replica(s)");
            return;
        } catch (RuntimeException e) {
            LOG.warning("looking up " + name + " failed: " + e);
            return;
        }
        if (!now.equals(last)) {
            last = now;
            onChange.accept(now);
        }
    }

    @Override
    public String describe() {
        return "DNS name " + name + " port " + port;
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
