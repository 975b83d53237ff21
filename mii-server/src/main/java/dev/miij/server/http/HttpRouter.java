package dev.miij.server.http;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.miij.server.GenerationService;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The one handler of the server: finds the route, checks the API key, method and readiness, and turns
 * whatever a route throws into an error response, so that no request can take the server down or go
 * unanswered. Counts every request by endpoint and status. (Which replica serves a generation is decided
 * behind the {@link GenerationService}, by the load balancer's {@code ReplicaRouter}.)
 */
final class HttpRouter {

    private static final Logger LOG = LoggerFactory.getLogger(HttpRouter.class);
    /** One line per generation request at info: id, status, tokens and timings. */
    private static final Logger REQUESTS = LoggerFactory.getLogger("dev.miij.server.http.requests");

    /** A route's handler; {@code path} is the decoded request path. */
    private interface Handler {
        void handle(HttpCall call, String path) throws IOException;
    }

    /**
     * @param endpoint   the label in the request counters (a fixed string, never the raw path, so that
     *                   scanners probing random paths cannot blow up the number of series)
     * @param method     the one method the route answers
     * @param generation whether it generates, and so needs a ready deployment
     */
    private record Route(String endpoint, String method, boolean generation, Handler handler) {
    }

    private final GenerationService service;
    private final Metrics metrics;
    private final byte[] apiKey;
    private final HttpLimits limits;
    private final BooleanSupplier ready;
    /** Generation requests held now, for {@link HttpLimits#maxQueue()}. */
    private final AtomicInteger generating = new AtomicInteger();
    private final long created = System.currentTimeMillis() / 1000;
    private final MiiGateway gateway;
    private final OpenAiCompletions completions;
    private final OpenAiChat chat;

    HttpRouter(GenerationService service, Metrics metrics, String apiKey, HttpLimits limits, BooleanSupplier ready,
           Set<StreamPump> inFlight) {
        this.service = service;
        this.metrics = metrics;
        this.apiKey = apiKey == null || apiKey.isEmpty() ? null : apiKey.getBytes(StandardCharsets.UTF_8);
        this.limits = limits;
        this.ready = ready;
        this.gateway = new MiiGateway(service, metrics, inFlight);
        this.completions = new OpenAiCompletions(service, metrics, inFlight);
        this.chat = new OpenAiChat(service, metrics, inFlight);
    }

    private Route route(String path) {
        return switch (path) {
            case "/healthz" -> new Route("/healthz", "GET", false, (c, p) -> health(c));
            case "/metrics" -> new Route("/metrics", "GET", false, (c, p) -> metrics(c));
            case "/v1/models" -> new Route("/v1/models", "GET", false, (c, p) -> c.sendJson(200, models()));
            case "/v1/completions" -> new Route("/v1/completions", "POST", true, (c, p) -> completions.handle(c));
            case "/v1/chat/completions" -> new Route("/v1/chat/completions", "POST", true, (c, p) -> chat.handle(c));
            default -> {
                if (path.startsWith("/v1/models/")) {
                    yield new Route("/v1/models/{model}", "GET", false, (c, p) -> model(c, p.substring(11)));
                }
                if (path.startsWith("/mii/") && path.indexOf('/', 5) < 0 && path.length() > 5) {
                    yield new Route("/mii/{deployment}", "POST", true, (c, p) -> gateway.handle(c, p.substring(5)));
                }
                yield null;
            }
        };
    }

    /** Answers one request; never throws, and always completes the exchange. */
    void handle(HttpCall call) {
        String endpoint = "other";
        boolean counted = false;
        try {
            call.setHeader("X-Request-Id", call.requestId());
            String path = call.decodedPath();
            Route route = route(path);
            if (route != null) {
                endpoint = route.endpoint();
            }
            if (protectedPath(path)) {
                authorize(call);
            }
            if (route == null) {
                throw HttpError.notFound("not_found", "no such endpoint: " + call.method() + " " + path);
            }
            if (!route.method().equals(call.method())) {
                call.setHeader("Allow", route.method());
                throw new HttpError(405, null, "method_not_allowed", call.method() + " is not allowed on "
                        + path + "; use " + route.method());
            }
            if (route.generation() && !ready.getAsBoolean()) {
                call.setHeader("Retry-After", "1");
                throw new HttpError(503, null, "not_ready", "the deployment is not ready to serve requests");
            }
            if (route.generation()) {
                counted = true;
                if (generating.incrementAndGet() > limits.maxQueue() && limits.maxQueue() > 0) {
                    call.setHeader("Retry-After", "1");
                    throw new HttpError(429, null, "too_many_requests", "the server holds " + limits.maxQueue()
                            + " requests already (its queue is full); retry later");
                }
            }
            route.handler().handle(call, path);
        } catch (IOException e) {
            // Only the exchange's own reads and writes throw this: the client went away, a normal event.
            LOG.debug("client of {} {} went away", call.method(), call.path(), e);
            call.clientGone();
        } catch (Throwable t) {
            fail(call, t);
        } finally {
            if (counted) {
                generating.decrementAndGet();
            }
            metrics.request(endpoint, call.responded() ? call.status() : 500);
            if (counted) {
                REQUESTS.info(call.logLine());
            }
            call.complete();
        }
    }

    private void fail(HttpCall call, Throwable t) {
        if (call.disconnected() && !call.responded()) {
            // A cancellation that followed the client's leaving: nobody is left to answer.
            call.clientGone();
            return;
        }
        HttpError error = HttpError.of(t);
        // Overload (503) and deadlines (504) are expected; other server errors are bugs or broken replicas.
        if (error.status() >= 500 && error.status() != 503 && error.status() != 504) {
            LOG.error("request {} {} {} failed", call.requestId(), call.method(), call.path(), t);
        }
        if (call.responded()) {
            return;
        }
        try {
            call.sendError(error);
        } catch (IOException | RuntimeException e) {
            // The client is gone; nothing left to tell it.
            call.clientGone();
        }
    }

    /** The generation APIs need the key; health checks and metrics scrapers must not. */
    private static boolean protectedPath(String path) {
        return path.equals("/v1") || path.startsWith("/v1/") || path.equals("/mii") || path.startsWith("/mii/");
    }

    private void authorize(HttpCall call) {
        if (apiKey == null) {
            return;
        }
        String header = call.header("Authorization");
        String given = header != null && header.regionMatches(true, 0, "Bearer ", 0, 7) ? header.substring(7).trim() : null;
        // Constant-time comparison: response timing must not reveal how much of a guessed key was right.
        if (given == null || !MessageDigest.isEqual(apiKey, given.getBytes(StandardCharsets.UTF_8))) {
            call.setHeader("WWW-Authenticate", "Bearer");
            throw new HttpError(401, null, "invalid_api_key", given == null
                    ? "missing API key: send it as 'Authorization: Bearer KEY'" : "incorrect API key provided");
        }
    }

    private void health(HttpCall call) throws IOException {
        boolean ok = ready.getAsBoolean();
        ObjectNode body = Json.MAPPER.createObjectNode();
        body.put("status", ok ? "ok" : "starting");
        body.put("deployment", service.deploymentName());
        call.sendJson(ok ? 200 : 503, body);
    }

    private void metrics(HttpCall call) throws IOException {
        StringBuilder out = new StringBuilder(16384);
        metrics.write(out);
        call.send(200, Metrics.CONTENT_TYPE, out.toString());
    }

    private ObjectNode models() {
        ObjectNode list = Json.MAPPER.createObjectNode();
        list.put("object", "list");
        ArrayNode data = list.putArray("data");
        data.add(modelObject());
        return list;
    }

    private void model(HttpCall call, String id) throws IOException {
        if (!id.equals(service.modelName())) {
            throw new HttpError(404, "model", "model_not_found", "the model '" + id + "' does not exist");
        }
        call.sendJson(200, modelObject());
    }

    private ObjectNode modelObject() {
        ObjectNode m = Json.MAPPER.createObjectNode();
        m.put("id", service.modelName());
        m.put("object", "model");
        m.put("created", created);
        m.put("owned_by", "mii-j");
        return m;
    }
}
