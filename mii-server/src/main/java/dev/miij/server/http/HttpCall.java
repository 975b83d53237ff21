package dev.miij.server.http;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Blocker;
import org.eclipse.jetty.util.Callback;

/**
 * One HTTP request and its response: bounded body reading, JSON and text replies, the switch to a
 * server-sent-event stream, the request's deadline, and whether its client is still there. Remembers the
 * status sent, for the request counters.
 */
final class HttpCall {

    /** How often a request waiting for its generation checks whether its client left or its deadline passed. */
    private static final long POLL_MILLIS = 50;

    /** Request attribute: the request is in the counters already. */
    static final String COUNTED = "dev.miij.http.counted";

    private final Request request;
    private final Response response;
    private final Callback callback;
    private final HttpLimits limits;
    final long startNanos = System.nanoTime();
    private final long deadlineNanos;
    private volatile Throwable failure;
    private volatile boolean completed;
    private int status;

    HttpCall(Request request, Response response, Callback callback, HttpLimits limits) {
        this.request = request;
        this.response = response;
        this.callback = callback;
        this.limits = limits;
        this.deadlineNanos = limits.requestTimeout() == null ? Long.MAX_VALUE
                : startNanos + limits.requestTimeout().toNanos();
        // The connection failed (the client closed it, reset it, or an HTTP/2 stream was reset).
        request.addFailureListener(t -> failure = t);
        // Waiting for the engine is not idleness; a stream's writes and a body's reads time out on their own.
        request.addIdleTimeoutListener(t -> false);
    }

    String method() {
        return request.getMethod();
    }

    /** The raw path, without the query string. */
    String path() {
        String p = request.getHttpURI().getPath();
        return p == null ? "" : p;
    }

    /** The decoded path. */
    String decodedPath() {
        String p = request.getHttpURI().getDecodedPath();
        return p == null ? "" : p;
    }

    String header(String name) {
        return request.getHeaders().get(name);
    }

    /** The status sent so far, 0 before the response began. */
    int status() {
        return status;
    }

    private final java.util.concurrent.atomic.AtomicLong promptTokens = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong generatedTokens = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong firstTokenNanos = new java.util.concurrent.atomic.AtomicLong();

    /** Adds a finished generation's tokens to this request's log line. */
    void tokens(dev.miij.Response r) {
        promptTokens.addAndGet(r.promptLength());
        generatedTokens.addAndGet(r.generatedLength());
    }

    /** Notes when the request's first token came (the earliest, over its prompts and choices). */
    void firstToken(long nanos) {
        firstTokenNanos.compareAndSet(0, nanos);
    }

    /**
     * The request's id: the client's {@code X-Request-Id} when it sent a sane one, else a fresh one. It is
     * echoed in the response and written in the request's log line.
     */
    String requestId() {
        if (requestId == null) {
            String given = header("X-Request-Id");
            requestId = given != null && given.matches("[A-Za-z0-9._:-]{1,128}") ? given
                    : Long.toHexString(java.util.concurrent.ThreadLocalRandom.current().nextLong() >>> 1);
        }
        return requestId;
    }

    private String requestId;

    /** The request's one log line: id, method, path, status, tokens and timings. */
    String logLine() {
        long end = System.nanoTime();
        long first = firstTokenNanos.get();
        return "request " + requestId() + " " + method() + " " + path() + " status=" + status
                + " prompt_tokens=" + promptTokens.get() + " generated_tokens=" + generatedTokens.get()
                + (first == 0 ? "" : " ttft_ms=" + (first - startNanos) / 1_000_000)
                + " total_ms=" + (end - startNanos) / 1_000_000;
    }

    /** Marks a request whose client went away before its response was complete. */
    void clientGone() {
        status = HttpError.CLIENT_CLOSED;
    }

    boolean responded() {
        return status != 0;
    }

    /**
     * Whether the client closed or reset the connection (or the HTTP/2 stream). HTTP/2 resets arrive as
     * failures of the request; an HTTP/1.1 connection is not read while its request is handled, so it is
     * probed: a non-blocking read of one byte finds the end of the stream or a reset. A byte that does
     * arrive is a pipelined next request, which this one cannot give back: the connection is then closed
     * after this response (clients retry unanswered pipelined requests) and not probed again.
     */
    boolean disconnected() {
        if (failure == null && bodyRead && !pipelined) {
            probe();
        }
        return failure != null;
    }

    private boolean bodyRead;
    private boolean pipelined;

    private void probe() {
        org.eclipse.jetty.server.ConnectionMetaData meta = request.getConnectionMetaData();
        if (meta.getHttpVersion().getVersion() >= 20) {
            return;
        }
        org.eclipse.jetty.io.EndPoint endPoint = meta.getConnection().getEndPoint();
        if (!endPoint.isOpen()) {
            failure = new java.io.EOFException("the connection is closed");
            return;
        }
        ByteBuffer one = org.eclipse.jetty.util.BufferUtil.allocate(1);
        try {
            int n = endPoint.fill(one);
            if (n < 0) {
                failure = new java.io.EOFException("the client closed the connection");
            } else if (n > 0) {
                pipelined = true;
                setHeader("Connection", "close");
            }
        } catch (IOException e) {
            failure = e;
        }
    }

    /** The time left before the request's deadline, in nanoseconds; {@link Long#MAX_VALUE} without one. */
    long nanosLeft() {
        return deadlineNanos == Long.MAX_VALUE ? Long.MAX_VALUE : deadlineNanos - System.nanoTime();
    }

    /** Whether the request has a deadline that has passed. */
    boolean pastDeadline() {
        return deadlineNanos != Long.MAX_VALUE && System.nanoTime() - deadlineNanos >= 0;
    }

    /** The error of a request whose deadline passed. */
    HttpError deadlineError() {
        return new HttpError(504, null, "timeout", "the request did not finish within its deadline of "
                + limits.requestTimeout().toMillis() + " ms");
    }

    /**
     * Waits for a non-streamed generation. If the client leaves, or the deadline passes, first, the future is
     * cancelled (which cancels its requests in the engine and frees their KV blocks) and an
     * {@link IOException} (client gone) or a 504 is thrown.
     */
    <T> T await(CompletableFuture<T> future) throws IOException {
        try {
            while (true) {
                try {
                    return future.get(Math.max(1, Math.min(POLL_MILLIS, nanosLeft() / 1_000_000)), TimeUnit.MILLISECONDS);
                } catch (TimeoutException e) {
                    if (disconnected()) {
                        future.cancel(true);
                        throw new IOException("the client went away", failure);
                    }
                    if (pastDeadline()) {
                        future.cancel(true);
                        throw deadlineError();
                    }
                }
            }
        } catch (ExecutionException e) {
            throw new java.util.concurrent.CompletionException(e.getCause());
        } catch (InterruptedException e) {
            future.cancel(true);
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while waiting for the generation");
        }
    }

    /** The request body as one JSON object. */
    ObjectNode jsonObject() throws IOException {
        return Json.parseObject(body());
    }

    /**
     * The request body, at most the limit; a larger one is a 413, whether its length was declared or found
     * while reading a chunked body.
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
        int max = limits.maxBodyBytes();
        InputStream in = Request.asInputStream(request);
        if (length > max) {
            throw tooLarge(in, length);
        }
        ByteArrayOutputStream buffer = new ByteArrayOutputStream(length > 0 ? (int) length : 1024);
        byte[] chunk = new byte[16384];
        int n;
        try {
            while ((n = in.read(chunk)) > 0) {
                if (buffer.size() + n > max) {
                    throw tooLarge(in, -1);
                }
                buffer.write(chunk, 0, n);
            }
        } catch (IOException e) {
            if (timedOut(e)) {
                // The client stopped sending (or sent too slowly): it is still there to read why.
                setHeader("Connection", "close");
                throw new HttpError(408, null, "request_timeout", "the request body did not arrive in time");
            }
            throw e;
        }
        bodyRead = true;
        return buffer.toByteArray();
    }

    private static boolean timedOut(Throwable t) {
        for (Throwable c = t; c != null; c = c.getCause()) {
            if (c instanceof TimeoutException || c instanceof java.net.SocketTimeoutException
                    || (c instanceof org.eclipse.jetty.http.HttpException h && h.getCode() == 408)) {
                return true;
            }
        }
        return false;
    }

    /** Bytes of an oversized body read and dropped, at most, so that the client gets to read the 413. */
    private static final long DRAIN_LIMIT = 64L << 20;

    /**
     * Reads the rest of an oversized body before answering: closing a connection with unread data makes
     * the kernel reset it, and the client then sees a broken connection instead of the 413. Bodies past
     * {@link #DRAIN_LIMIT} are cut off with the connection.
     */
    private HttpError tooLarge(InputStream in, long declared) throws IOException {
        if (declared > DRAIN_LIMIT) {
            setHeader("Connection", "close");
        } else {
            byte[] sink = new byte[65536];
            long drained = 0;
            int n;
            while (drained < DRAIN_LIMIT && (n = in.read(sink)) > 0) {
                drained += n;
            }
            if (drained >= DRAIN_LIMIT) {
                setHeader("Connection", "close");
            }
        }
        return new HttpError(413, null, "request_too_large",
                "the request body is larger than the limit of " + limits.maxBodyBytes() + " bytes");
    }

    void sendJson(int code, JsonNode body) throws IOException {
        send(code, "application/json", Json.write(body));
    }

    void sendError(HttpError e) throws IOException {
        sendJson(e.status(), e.toJson());
    }

    void send(int code, String contentType, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        response.getHeaders().put("Content-Type", contentType);
        response.getHeaders().put("Content-Length", bytes.length);
        response.setStatus(code);
        status = code;
        write(true, ByteBuffer.wrap(bytes));
    }

    void setHeader(String name, String value) {
        response.getHeaders().put(name, value);
    }

    /**
     * Writes to the response and waits until the bytes are on their way: a client that does not read makes
     * this block (that is the back-pressure) until the idle timeout fails the write.
     */
    void write(boolean last, ByteBuffer bytes) throws IOException {
        try (Blocker.Callback cb = Blocker.callback()) {
            response.write(last, bytes, cb);
            cb.block();
        }
    }

    /** Sends 200 with a chunked {@code text/event-stream} body, to be written event by event. */
    SseWriter startSse() throws IOException {
        response.getHeaders().put("Content-Type", "text/event-stream; charset=utf-8");
        response.getHeaders().put("Cache-Control", "no-cache");
        // Tells nginx-style proxies not to buffer the stream, which would hold tokens back.
        response.getHeaders().put("X-Accel-Buffering", "no");
        response.setStatus(200);
        status = 200;
        // Commits the headers at once, so that the client sees the stream start.
        write(false, ByteBuffer.allocate(0));
        return new SseWriter(this);
    }

    /**
     * Reads and drops a body the route did not read (an error answered before it, a GET with a body), up to
     * the body limit: a response that leaves request content unread makes HTTP/2 reset the stream, and
     * HTTP/1.1 close the connection, which clients may report instead of the response.
     */
    private void discardBody() {
        if (bodyRead || failure != null) {
            return;
        }
        bodyRead = true;
        try {
            InputStream in = Request.asInputStream(request);
            byte[] sink = new byte[16384];
            long total = 0;
            int n;
            while (total <= limits.maxBodyBytes() && (n = in.read(sink)) > 0) {
                total += n;
            }
        } catch (IOException | RuntimeException e) {
            // The client is gone or sends too slowly; the connection is closed either way.
        }
    }

    /** Ends the exchange: completes the response, or aborts the connection when the client is gone. */
    void complete() {
        if (completed) {
            return;
        }
        if (status != HttpError.CLIENT_CLOSED) {
            discardBody();
        }
        completed = true;
        // Counted by the router: Jetty's error page for an aborted request must not count it again.
        request.setAttribute(COUNTED, Boolean.TRUE);
        if (status == HttpError.CLIENT_CLOSED || failure != null) {
            callback.failed(failure != null ? failure : new IOException("the client went away"));
        } else {
            callback.succeeded();
        }
    }

    /** Gives up on a request still running at shutdown: its connection is aborted. */
    void abandon() {
        if (!completed) {
            completed = true;
            callback.failed(new IOException("the server is shutting down"));
        }
    }
}
