package dev.miij.server.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;

/**
 * One HTTP request and its response: bounded body reading, JSON and text replies, and the switch to
 * a server-sent-event stream. Remembers the status sent, for the request counters.
 */
final class HttpCall {

    private final HttpExchange exchange;
    private final int maxBodyBytes;
    final long startNanos = System.nanoTime();
    private int status;

    HttpCall(HttpExchange exchange, int maxBodyBytes) {
        this.exchange = exchange;
        this.maxBodyBytes = maxBodyBytes;
    }

    String method() {
        return exchange.getRequestMethod();
    }

    /** The raw path, without the query string. */
    String path() {
        return exchange.getRequestURI().getRawPath();
    }

    String header(String name) {
        return exchange.getRequestHeaders().getFirst(name);
    }

    /** The status sent so far, 0 before the response began. */
    int status() {
        return status;
    }

    /** Marks a request whose client went away before its response was complete. */
    void clientGone() {
        status = HttpError.CLIENT_CLOSED;
    }

    boolean responded() {
        return status != 0;
    }

    /** The request body as one JSON object. */
    ObjectNode jsonObject() throws IOException {
        return Json.parseObject(body());
    }

    /**
     * The request body, at most {@code maxBodyBytes}; a larger one is a 413, whether its length was
     * declared or found while reading a chunked body.
     */
    byte[] body() throws IOException {
        String declared = header("Content-Length");
        long length = -1;
        if (declared != null) {
            try {
                length = Long.parseLong(declared.trim());
            } catch (NumberFormatException e) {
                throw HttpError.badRequest(null, "invalid Content-Length header");
            }
        }
        try (InputStream in = exchange.getRequestBody()) {
            if (length > maxBodyBytes) {
                throw tooLarge(in);
            }
            ByteArrayOutputStream buffer = new ByteArrayOutputStream();
            byte[] chunk = new byte[16384];
            int n;
            while ((n = in.read(chunk)) > 0) {
                if (buffer.size() + n > maxBodyBytes) {
                    throw tooLarge(in);
                }
                buffer.write(chunk, 0, n);
            }
            return buffer.toByteArray();
        }
    }

    /** Bytes of an oversized body read and dropped, at most, so that the client gets to read the 413. */
    private static final long DRAIN_LIMIT = 64L << 20;

    /**
     * Reads the rest of an oversized body before answering: closing a connection with unread data makes
     * the kernel reset it, and the client then sees a broken connection instead of the 413. Bodies past
     * {@link #DRAIN_LIMIT} are cut off with the connection.
     */
    private HttpError tooLarge(InputStream in) throws IOException {
        byte[] sink = new byte[65536];
        long drained = 0;
        int n;
        while (drained < DRAIN_LIMIT && (n = in.read(sink)) > 0) {
            drained += n;
        }
        if (drained >= DRAIN_LIMIT) {
            exchange.getResponseHeaders().set("Connection", "close");
        }
        return new HttpError(413, null, "request_too_large",
                "the request body is larger than the limit of " + maxBodyBytes + " bytes");
    }

    void sendJson(int code, JsonNode body) throws IOException {
        send(code, "application/json", Json.write(body));
    }

    void sendError(HttpError e) throws IOException {
        sendJson(e.status(), e.toJson());
    }

    void send(int code, String contentType, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        exchange.getResponseHeaders().set("Content-Type", contentType);
        status = code;
        exchange.sendResponseHeaders(code, bytes.length == 0 ? -1 : bytes.length);
        if (bytes.length > 0) {
            try (OutputStream out = exchange.getResponseBody()) {
                out.write(bytes);
            }
        }
    }

    void setHeader(String name, String value) {
        exchange.getResponseHeaders().set(name, value);
    }

    /** Sends 200 with a chunked {@code text/event-stream} body, to be written event by event. */
    SseWriter startSse() throws IOException {
        exchange.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
        exchange.getResponseHeaders().set("Cache-Control", "no-cache");
        // Tells nginx-style proxies not to buffer the stream, which would hold tokens back.
        exchange.getResponseHeaders().set("X-Accel-Buffering", "no");
        status = 200;
        exchange.sendResponseHeaders(200, 0);
        return new SseWriter(exchange.getResponseBody());
    }
}
