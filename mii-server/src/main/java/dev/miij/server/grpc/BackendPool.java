package dev.miij.server.grpc;

import com.google.common.util.concurrent.ListenableFuture;
import dev.miij.server.grpc.proto.ModelResponseGrpc;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * The replicas behind a load balancer: picks one per request ({@link LeastOutstanding}), and keeps
 * each one's up/down state from gRPC health checks, failed calls and its process supervisor. The set
 * can change while requests run ({@link #update}): replicas found join once a health check passes,
 * replicas gone get no new requests and are closed when their last one ends.
 *
 * <pre>{@code
 * BackendPool pool = new BackendPool(List.of(new InetSocketAddress("127.0.0.1", 50051)));
 * pool.startHealthChecks(timer, 1000);
 * }</pre>
 */
public final class BackendPool implements AutoCloseable {

    private static final Logger LOG = Logger.getLogger(BackendPool.class.getName());
    private static final HealthCheckRequest CHECK = HealthCheckRequest.newBuilder()
            .setService(ModelResponseGrpc.SERVICE_NAME).build();
    // A busy replica may answer slowly; one late answer is not a death, a refused connection is.
    private static final int TIMEOUTS_BEFORE_DOWN = 3;

    // Replaced, never changed in place: readers take the list as it is.
    private volatile List<Backend> backends = List.of();
    private final String key;
    private int nextIndex;
    private int picks;
    private ScheduledFuture<?> checks;

    public BackendPool(List<InetSocketAddress> replicas) {
        this(replicas, null);
    }

    /** Replicas that require {@code key} (null: none) on their ModelResponse calls. */
    public BackendPool(List<InetSocketAddress> replicas, String key) {
        this.key = key;
        List<Backend> list = new ArrayList<>();
        for (InetSocketAddress a : replicas) {
            list.add(new Backend(nextIndex++, a.getHostString(), a.getPort(), key));
        }
        backends = List.copyOf(list);
    }

    public int size() {
        return backends.size();
    }

    /** The replica numbered {@code index} (numbers are never reused), or null if it has left. */
    Backend backend(int index) {
        for (Backend b : backends) {
            if (b.index == index) {
                return b;
            }
        }
        return null;
    }

    /**
     * Makes the pool the replicas at {@code addresses}: new ones are added (they get requests once a
     * health check passes), missing ones leave at once, their calls in flight finishing first.
     */
    public synchronized void update(Collection<InetSocketAddress> addresses) {
        Set<String> wanted = new LinkedHashSet<>();
        addresses.forEach(a -> wanted.add(a.getHostString() + ":" + a.getPort()));
        List<Backend> next = new ArrayList<>();
        Set<String> have = new LinkedHashSet<>();
        for (Backend b : backends) {
            if (wanted.contains(b.address())) {
                next.add(b);
                have.add(b.address());
            } else {
                LOG.info("replica " + b.index + " (" + b.address() + ") left; draining " + b.outstanding() + " prompt(s)");
                b.draining = true;
                if (b.outstanding() == 0) {
                    b.closeGracefully();
                }
            }
        }
        for (InetSocketAddress a : addresses) {
            String address = a.getHostString() + ":" + a.getPort();
            if (have.add(address)) {
                Backend b = new Backend(nextIndex++, a.getHostString(), a.getPort(), key);
                LOG.info("replica " + b.index + " (" + address + ") found");
                next.add(b);
            }
        }
        backends = List.copyOf(next);
    }

    List<Backend> backends() {
        return backends;
    }

    /** Chooses a replica for a request of {@code prompts} prompts and counts them against it; null if none is up. */
    synchronized Backend acquire(int prompts) {
        List<Backend> list = backends;
        int i = LeastOutstanding.choose(list, picks++);
        if (i < 0) {
            return null;
        }
        Backend b = list.get(i);
        b.outstanding.addAndGet(prompts);
        return b;
    }

    void release(Backend b, int prompts) {
        if (b.outstanding.addAndGet(-prompts) == 0 && b.draining) {
            b.closeGracefully();
        }
    }

    public boolean isUp(int index) {
        Backend b = backend(index);
        return b != null && b.up();
    }

    public boolean allUp() {
        return backends.stream().allMatch(Backend::up);
    }

    public boolean anyUp() {
        return backends.stream().anyMatch(Backend::up);
    }

    /** Takes a replica out of rotation until a health check finds it serving again. */
    public void markDown(int index, String reason) {
        Backend b = backend(index);
        if (b != null && b.setUp(false)) {
            LOG.warning("replica " + index + " (" + b.address() + ") is down: " + reason);
        }
    }

    /** A replica's process was started again: reconnect at once instead of after gRPC's reconnect backoff. */
    public void restarted(int index) {
        Backend b = backend(index);
        if (b == null) {
            return;
        }
        b.restarts.incrementAndGet();
        b.channel().resetConnectBackoff();
    }

    /** Checks every replica's health every {@code periodMillis}. */
    public synchronized void startHealthChecks(ScheduledExecutorService timer, long periodMillis) {
        if (checks == null) {
            checks = timer.scheduleWithFixedDelay(() -> backends().forEach(b -> check(b, periodMillis)),
                    0, periodMillis, TimeUnit.MILLISECONDS);
        }
    }

    /** Checks every replica now (startup polls this faster than the periodic check). */
    public void checkNow(long timeoutMillis) {
        backends().forEach(b -> check(b, timeoutMillis));
    }

    private void check(Backend b, long timeoutMillis) {
        synchronized (b) {
            if (b.checking) {
                return;
            }
            b.checking = true;
        }
        if (!b.up()) {
            b.channel().resetConnectBackoff();
        }
        ListenableFuture<HealthCheckResponse> f = HealthGrpc.newFutureStub(b.channel())
                .withDeadlineAfter(Math.max(timeoutMillis, 500), TimeUnit.MILLISECONDS).check(CHECK);
        f.addListener(() -> {
            try {
                HealthCheckResponse r = f.get();
                if (r.getStatus() == HealthCheckResponse.ServingStatus.SERVING) {
                    b.healthFailures = 0;
                    if (b.setUp(true)) {
                        LOG.info("replica " + b.index + " (" + b.address() + ") is up");
                    }
                } else {
                    markDown(b.index, "health status " + r.getStatus());
                }
            } catch (ExecutionException e) {
                Status s = Status.fromThrowable(e.getCause());
                if (s.getCode() != Status.Code.DEADLINE_EXCEEDED || ++b.healthFailures >= TIMEOUTS_BEFORE_DOWN) {
                    markDown(b.index, "health check failed: " + s.getCode()
                            + (s.getDescription() != null ? " " + s.getDescription() : ""));
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                synchronized (b) {
                    b.checking = false;
                }
            }
        }, Runnable::run);
    }

    /** Stops the periodic health checks (when the replicas are being stopped on purpose). */
    public synchronized void stopHealthChecks() {
        if (checks != null) {
            checks.cancel(false);
        }
    }

    @Override
    public synchronized void close() {
        stopHealthChecks();
        backends.forEach(Backend::close);
    }
}
