package dev.miij.server.grpc;

import com.google.common.util.concurrent.ListenableFuture;
import dev.miij.server.grpc.proto.ModelResponseGrpc;
import io.grpc.Status;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.logging.Logger;

/**
 * The replicas behind a load balancer: picks one per request ({@link LeastOutstanding}), and keeps
 * each one's up/down state from gRPC health checks, failed calls and its process supervisor.
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

    private final List<Backend> backends = new ArrayList<>();
    private int picks;
    private ScheduledFuture<?> checks;

    public BackendPool(List<InetSocketAddress> replicas) {
        this(replicas, null);
    }

    /** Replicas that require {@code key} (null: none) on their ModelResponse calls. */
    public BackendPool(List<InetSocketAddress> replicas, String key) {
        for (int i = 0; i < replicas.size(); i++) {
            InetSocketAddress a = replicas.get(i);
            backends.add(new Backend(i, a.getHostString(), a.getPort(), key));
        }
    }

    public int size() {
        return backends.size();
    }

    Backend backend(int index) {
        return backends.get(index);
    }

    List<Backend> backends() {
        return backends;
    }

    /** Chooses a replica for a request of {@code prompts} prompts and counts them against it; null if none is up. */
    synchronized Backend acquire(int prompts) {
        int i = LeastOutstanding.choose(backends, picks++);
        if (i < 0) {
            return null;
        }
        Backend b = backends.get(i);
        b.outstanding.addAndGet(prompts);
        return b;
    }

    void release(Backend b, int prompts) {
        b.outstanding.addAndGet(-prompts);
    }

    public boolean isUp(int index) {
        return backends.get(index).up();
    }

    public boolean allUp() {
        return backends.stream().allMatch(Backend::up);
    }

    public boolean anyUp() {
        return backends.stream().anyMatch(Backend::up);
    }

    /** Takes a replica out of rotation until a health check finds it serving again. */
    public void markDown(int index, String reason) {
        Backend b = backends.get(index);
        if (b.setUp(false)) {
            LOG.warning("replica " + index + " (" + b.address() + ") is down: " + reason);
        }
    }

    /** A replica's process was started again: reconnect at once instead of after gRPC's reconnect backoff. */
    public void restarted(int index) {
        Backend b = backends.get(index);
        b.restarts.incrementAndGet();
        b.channel().resetConnectBackoff();
    }

    /** Checks every replica's health every {@code periodMillis}. */
    public synchronized void startHealthChecks(ScheduledExecutorService timer, long periodMillis) {
        if (checks == null) {
            checks = timer.scheduleWithFixedDelay(() -> backends.forEach(b -> check(b, periodMillis)),
                    0, periodMillis, TimeUnit.MILLISECONDS);
        }
    }

    /** Checks every replica now (startup polls this faster than the periodic check). */
    public void checkNow(long timeoutMillis) {
        backends.forEach(b -> check(b, timeoutMillis));
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
