package dev.miij.server.http;

import com.sun.net.httpserver.HttpServer;
import dev.miij.MiiException;
import dev.miij.server.GenerationService;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;

/**
 * The HTTP front end of a deployment: DeepSpeed-MII's REST gateway ({@code POST /mii/{deployment}}),
 * an OpenAI-compatible API ({@code GET /v1/models}, {@code POST /v1/completions},
 * {@code POST /v1/chat/completions}, streamed as server-sent events when asked), Prometheus metrics
 * ({@code GET /metrics}) and a readiness probe ({@code GET /healthz}), all on one port.
 *
 * <pre>{@code
 * try (Pipeline pipe = Mii.pipeline("models/kjv-demo");
 *      HttpFrontend http = HttpFrontend.start(new PipelineService(pipe, "kjv", "kjv-demo"), "127.0.0.1", 8000, null)) {
 *     // curl localhost:8000/v1/completions -d '{"prompt": "In the beginning", "max_tokens": 16}'
 *     Thread.currentThread().join();
 * }
 * }</pre>
 *
 * <p>Each request runs on its own virtual thread. With an API key, every {@code /v1/*} and
 * {@code /mii/*} request must carry {@code Authorization: Bearer KEY}; {@code /healthz} and
 * {@code /metrics} stay open for probes and scrapers.
 */
public final class HttpFrontend implements AutoCloseable {

    /** Largest request body accepted; larger ones get 413. */
    public static final int MAX_BODY_BYTES = 4 << 20;
    /** How long {@link #close()} lets requests in flight finish before cancelling them. */
    public static final Duration DEFAULT_DRAIN = Duration.ofSeconds(10);

    private final HttpServer server;
    private final ExecutorService executor;
    private final Metrics metrics;
    private final Set<StreamPump> inFlight = ConcurrentHashMap.newKeySet();
    private volatile BooleanSupplier readiness = () -> true;
    private volatile boolean closing;

    private HttpFrontend(HttpServer server, ExecutorService executor, Metrics metrics) {
        this.server = server;
        this.executor = executor;
        this.metrics = metrics;
    }

    /** Starts serving with a fresh {@link Metrics}; see {@link #start(GenerationService, String, int, String, Metrics)}. */
    public static HttpFrontend start(GenerationService service, String host, int port, String apiKeyOrNull) {
        return start(service, host, port, apiKeyOrNull, null);
    }

    /**
     * Starts serving {@code service} on {@code host:port}.
     *
     * @param service      the deployment's generation service (in-process pipeline or replicas)
     * @param host         the address to listen on; null means 127.0.0.1, so nothing is exposed by accident
     * @param port         the port, 0 for an ephemeral one (see {@link #port()})
     * @param apiKeyOrNull the key clients must send, or null/empty for none
     * @param metrics      where to count requests, or null for a fresh registry
     * @return the running front end; close it to stop
     * @throws MiiException IO when the address cannot be bound
     */
    public static HttpFrontend start(GenerationService service, String host, int port, String apiKeyOrNull,
                                     Metrics metrics) {
        Objects.requireNonNull(service, "service");
        String bindHost = host == null ? "127.0.0.1" : host;
        if (port < 0 || port > 65535) {
            throw MiiException.invalid("port must be in 0..65535, got " + port);
        }
        HttpServer server;
        try {
            server = HttpServer.create(new InetSocketAddress(bindHost, port), 128);
        } catch (IOException e) {
            throw MiiException.io("cannot listen on " + bindHost + ":" + port + ": " + e.getMessage(), e);
        }
        ExecutorService executor = Executors.newThreadPerTaskExecutor(
                Thread.ofVirtual().name("mii-http-", 0).factory());
        HttpFrontend frontend = new HttpFrontend(server, executor, metrics == null ? new Metrics() : metrics);
        server.createContext("/", new Router(service, frontend.metrics, apiKeyOrNull, MAX_BODY_BYTES,
                frontend::ready, frontend.inFlight));
        server.setExecutor(executor);
        server.start();
        return frontend;
    }

    /** The port listened on (the ephemeral one chosen when started with port 0). */
    public int port() {
        return server.getAddress().getPort();
    }

    /** The address listened on. */
    public InetSocketAddress address() {
        return server.getAddress();
    }

    /** The registry this front end counts into. */
    public Metrics metrics() {
        return metrics;
    }

    /**
     * Says whether the deployment can serve. Until it can, {@code /healthz} answers 503 and generation
     * requests 503 with {@code Retry-After}. Ready by default: an in-process pipeline is ready at once.
     */
    public void setReady(boolean ready) {
        readiness = () -> ready;
    }

    /** Like {@link #setReady(boolean)}, asked on every request (e.g. "at least one replica is up"). */
    public void setReadiness(BooleanSupplier readiness) {
        this.readiness = Objects.requireNonNull(readiness);
    }

    private boolean ready() {
        return !closing && readiness.getAsBoolean();
    }

    /** Stops accepting connections and waits up to {@link #DEFAULT_DRAIN} for requests in flight. */
    @Override
    public void close() {
        close(DEFAULT_DRAIN);
    }

    /**
     * Stops accepting connections, lets requests in flight finish for up to {@code drain}, then cancels
     * the streams still running (freeing their KV blocks) and closes every connection.
     */
    public void close(Duration drain) {
        if (closing) {
            return;
        }
        closing = true;
        // Rounded up to whole seconds by the JDK's server; it returns as soon as no exchange is left.
        server.stop((int) Math.max(0, Math.ceil(drain.toMillis() / 1000.0)));
        for (StreamPump pump : List.copyOf(inFlight)) {
            pump.cancelAll();
        }
        executor.shutdown();
        try {
            if (!executor.awaitTermination(Math.max(1000, drain.toMillis()), TimeUnit.MILLISECONDS)) {
                executor.shutdownNow();
            }
        } catch (InterruptedException e) {
            executor.shutdownNow();
            Thread.currentThread().interrupt();
        }
    }
}
