package dev.miij.server.http;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.miij.MiiException;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/**
 * A request that ends in an error response, in OpenAI's shape
 * {@code {"error": {"message", "type", "param", "code"}}} on every endpoint, so that clients parse one
 * format. {@link #of(Throwable)} is the one place where engine errors become HTTP statuses.
 */
final class HttpError extends RuntimeException {

    /** Not an IANA status; nginx's "client closed request", which MII-J uses for cancelled requests. */
    static final int CLIENT_CLOSED = 499;

    private final int status;
    private final String param;
    private final String code;

    HttpError(int status, String param, String code, String message) {
        super(message, null, false, false);
        this.status = status;
        this.param = param;
        this.code = code;
    }

    static HttpError badRequest(String param, String message) {
        return new HttpError(400, param, null, message);
    }

    static HttpError notFound(String code, String message) {
        return new HttpError(404, null, code, message);
    }

    int status() {
        return status;
    }

    String param() {
        return param;
    }

    /**
     * The HTTP status of each kind of engine error. IO is 502 as {@link MiiException.Kind#IO} documents:
     * behind a load balancer it means a replica could not be reached, a bad gateway rather than a bug.
     */
    static int status(MiiException.Kind kind) {
        return switch (kind) {
            case INVALID_ARGUMENT, UNSUPPORTED -> 400;
            case NOT_FOUND -> 404;
            case UNAUTHENTICATED -> 401;
            case RESOURCE_EXHAUSTED -> 503;
            case CANCELLED -> CLIENT_CLOSED;
            case IO -> 502;
            case CORRUPT, INTERNAL -> 500;
        };
    }

    /** Maps any failure to the response it deserves; unexpected exceptions become a 500 without details. */
    static HttpError of(Throwable t) {
        Throwable cause = unwrap(t);
        if (cause instanceof HttpError e) {
            return e;
        }
        if (cause instanceof MiiException e) {
            return new HttpError(status(e.kind()), null, e.kind().name().toLowerCase(java.util.Locale.ROOT),
                    e.getMessage());
        }
        return new HttpError(500, null, "internal_error", "internal error: " + cause.getClass().getSimpleName()
                + (cause.getMessage() == null ? "" : ": " + cause.getMessage()));
    }

    static Throwable unwrap(Throwable t) {
        while ((t instanceof CompletionException || t instanceof ExecutionException) && t.getCause() != null) {
            t = t.getCause();
        }
        return t;
    }

    /** OpenAI's error types: client mistakes are invalid requests, everything else a server error. */
    private String type() {
        if (status == CLIENT_CLOSED) {
            return "cancelled";
        }
        if (status == 503) {
            return "overloaded_error";
        }
        return status >= 500 ? "server_error" : "invalid_request_error";
    }

    ObjectNode toJson() {
        ObjectNode root = Json.MAPPER.createObjectNode();
        ObjectNode error = root.putObject("error");
        error.put("message", getMessage());
        error.put("type", type());
        error.put("param", param);
        error.put("code", code);
        return root;
    }
}
