package dev.miij.server.http;

import dev.miij.MiiException;
import dev.miij.server.GenerationService;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http2.server.HTTP2CServerConnectionFactory;
import org.eclipse.jetty.server.Handler;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

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
 * <p>The server is Jetty 12: HTTP/1.1 with keep-alive and HTTP/2 over cleartext (h2c, by upgrade or prior
 * knowledge) on the same port. Jetty parses requests on its selector threads, so a client sending its
 * request slowly holds no worker; a complete request runs on its own virtual thread, whose blocking writes
 * give server-sent-event streams back-pressure (a client that stops reading is closed after the idle
 * timeout, and its generation cancelled). Bounds are in {@link HttpLimits}. Malformed request lines and
 * headers (a TLS handshake, NUL bytes, a head over the limit) are answered by Jetty's parser at once with
 * 400, 414 or 431 and the connection is closed.
 *
 * <p>With an API key, every {@code /v1/*} and {@code /mii/*} request must carry
 * {@code Authorization: Bearer KEY}; {@code /healthz} and {@code /metrics} stay open for probes and scrapers.
 */
public final class HttpFrontend implements AutoCloseable {

    /** Largest request body accepted by default; larger ones get 413. */
    public static final int MAX_BODY_BYTES = HttpLimits.defaults().maxBodyBytes();

    private final Server server;
    private final ServerConnector connector;
    private final ExecutorService executor;
    private final Metrics metrics;
    private final HttpLimits limits;
    private final Set<StreamPump> inFlight = ConcurrentHashMap.newKeySet();
    private final Set<HttpCall> calls = ConcurrentHashMap.newKeySet();
    private volatile BooleanSupplier readiness = () -> true;
    private volatile boolean closing;

    private HttpFrontend(Server server, ServerConnector connector, ExecutorService executor, Metrics metrics,
                         HttpLimits limits) {
        this.server = server;
        this.connector = connector;
        this.executor = executor;
        this.metrics = metrics;
        this.limits = limits;
    }

    /** Starts serving with a fresh {@link Metrics}; see {@link #start(GenerationService, String, int, String, Metrics, HttpLimits)}. */
    public static HttpFrontend start(GenerationService service, String host, int port, String apiKeyOrNull) {
        return start(service, host, port, apiKeyOrNull, null, HttpLimits.defaults());
    }

    /** Starts serving with {@link HttpLimits#defaults()}. */
    public static HttpFrontend start(GenerationService service, String host, int port, String apiKeyOrNull,
                                     Metrics metrics) {
        return start(service, host, port, apiKeyOrNull, metrics, HttpLimits.defaults());
    }

    /**
     * Starts serving {@code service} on {@code host:port}.
     *
     * @param service      the deployment's generation service (in-process pipeline or replicas)
     * @param host         the address to listen on; null means 127.0.0.1, so nothing is exposed by accident
     * @param port         the port, 0 for an ephemeral one (see {@link #port()})
     * @param apiKeyOrNull the key clients must send, or null/empty for none
     * @param metrics      where to count requests, or null for a fresh registry
     * @param limits       bounds on requests and connections
     * @return the running front end; close it to stop
     * @throws MiiException IO when the address cannot be bound
     */
    public static HttpFrontend start(GenerationService service, String host, int port, String apiKeyOrNull,
                                     Metrics metrics, HttpLimits limits) {
        Objects.requireNonNull(service, "service");
        Objects.requireNonNull(limits, "limits");
        String bindHost = host == null ? "127.0.0.1" : host;
        if (port < 0 || port > 65535) {
            throw MiiException.invalid("port must be in 0..65535, got " + port);
        }
        // Few platform threads: they only run Jetty's selectors and parsers; handlers run on virtual threads.
        QueuedThreadPool pool = new QueuedThreadPool(16, 2);
        pool.setName("mii-http");
        pool.setDaemon(true);
        Server server = new Server(pool);
        HttpConfiguration config = new HttpConfiguration();
        config.setRequestHeaderSize(limits.maxHeaderBytes());
        config.setSendServerVersion(false);
        config.setSendXPoweredBy(false);
        config.setIdleTimeout(limits.idleTimeout().toMillis());
        config.setMinRequestDataRate(limits.minRequestRate());
        HttpConnectionFactory http1 = new HttpConnectionFactory(config);
        HTTP2CServerConnectionFactory h2c = new HTTP2CServerConnectionFactory(config);
        h2c.setMaxConcurrentStreams(128);
        h2c.setMaxHeaderBlockFragment(limits.maxHeaderBytes());
        ServerConnector connector = new ServerConnector(server, 1, 1, http1, h2c);
        connector.setHost(bindHost);
        connector.setPort(port);
        connector.setIdleTimeout(limits.idleTimeout().toMillis());
        connector.setAcceptQueueSize(128);
        connector.setReuseAddress(true);
        server.addConnector(connector);
        ExecutorService executor = Executors.newThreadPerTaskExecutor(
                Thread.ofVirtual().name("mii-http-", 0).factory());
        HttpFrontend frontend = new HttpFrontend(server, connector, executor,
                metrics == null ? new Metrics() : metrics, limits);
        frontend.metrics.register(service);
        HttpRouter router = new HttpRouter(service, frontend.metrics, apiKeyOrNull, limits, frontend::ready, frontend.inFlight);
        server.setHandler(new Handler.Abstract.NonBlocking() {
            @Override
            public boolean handle(Request request, Response response, Callback callback) {
                HttpCall call = new HttpCall(request, response, callback, limits);
                frontend.calls.add(call);
                Request.addCompletionListener(request, x -> frontend.calls.remove(call));
                executor.execute(() -> router.handle(call));
                return true;
            }
        });
        server.setErrorHandler(new JsonErrors(frontend.metrics));
        server.setStopTimeout(0);
        try {
            server.start();
        } catch (Exception e) {
            try {
                server.stop();
            } catch (Exception ignored) {
                // nothing more to release
            }
            executor.shutdownNow();
            throw MiiException.io("cannot listen on " + bindHost + ":" + port + ": " + e.getMessage(), e);
        }
        return frontend;
    }

    /** The port listened on (the ephemeral one chosen when started with port 0). */
    public int port() {
        return connector.getLocalPort();
    }

    /** The address listened on. */
    public InetSocketAddress address() {
        return new InetSocketAddress(connector.getHost(), connector.getLocalPort());
    }

    /** The registry this front end counts into. */
    public Metrics metrics() {
        return metrics;
    }

    /** The bounds this front end enforces. */
    public HttpLimits limits() {
        return limits;
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

    /** Stops accepting connections and waits up to the limits' drain time for requests in flight. */
    @Override
    public void close() {
        close(limits.drain());
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
        // No new connections from here on; connections already open finish their requests.
        connector.close();
        long deadline = System.nanoTime() + drain.toNanos();
        try {
            while (!calls.isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        for (StreamPump pump : List.copyOf(inFlight)) {
            pump.cancelAll();
        }
        for (HttpCall call : List.copyOf(calls)) {
            call.abandon();
        }
        executor.shutdown();
        try {
            if (!executor.awaitTermination(Math.max(1000, Math.min(drain.toMillis(), 5000)), TimeUnit.MILLISECONDS)) {
                executor.shutdownNow();
            }
        } catch (InterruptedException e) {
            executor.shutdownNow();
            Thread.currentThread().interrupt();
        }
        try {
            server.stop();
        } catch (Exception e) {
            // Stopping is best effort: the listening socket is closed already.
        }
    }

    /**
     * Errors Jetty answers itself (a malformed request line or header, a head over the limit, a body too
     * slow) in the same JSON shape as the routes' errors; they are counted under the endpoint "other".
     */
    private static final class JsonErrors extends ErrorHandler {

        private final Metrics metrics;

        JsonErrors(Metrics metrics) {
            this.metrics = metrics;
            setShowStacks(false);
            setShowCauses(false);
        }

        @Override
        public ByteBuffer badMessageError(int status, String reason, HttpFields.Mutable fields) {
            metrics.request("other", status);
            fields.put(HttpHeader.CONTENT_TYPE, "application/json");
            return ByteBuffer.wrap(body(status, reason));
        }

        @Override
        public boolean handle(Request request, Response response, Callback callback) {
            int status = response.getStatus() <= 0 ? 500 : response.getStatus();
            Object message = request.getAttribute(ERROR_MESSAGE);
            if (request.getAttribute(ERROR_EXCEPTION) instanceof org.eclipse.jetty.io.EofException) {
                // The client closed the connection in the middle of its request: nobody to answer.
                if (request.getAttribute(HttpCall.COUNTED) == null) {
                    metrics.request("other", HttpError.CLIENT_CLOSED);
                }
                callback.failed(new org.eclipse.jetty.io.EofException("the client went away"));
                return true;
            }
            if (request.getAttribute(HttpCall.COUNTED) == null) {
                metrics.request("other", status);
            }
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, "application/json");
            response.write(true, ByteBuffer.wrap(body(status, message == null ? null : message.toString())), callback);
            return true;
        }

        private static byte[] body(int status, String reason) {
            String message = reason == null || reason.isBlank() ? "bad request" : reason;
            return Json.write(new HttpError(status, null, null, "HTTP " + status + ": " + message).toJson())
                    .getBytes(StandardCharsets.UTF_8);
        }
    }
}
