package dev.miij.server.http;

import dev.miij.MiiException;
import java.time.Duration;

/**
 * The bounds the HTTP front end puts on clients, so that no request or connection can hold more than its
 * share of the server.
 *
 * @param maxBodyBytes     largest request body; larger ones get 413
 * @param maxHeaderBytes   largest request head (request line and headers together); a larger head gets 431,
 *                         a request line alone over the limit 414
 * @param idleTimeout      a connection on which nothing moves for this long is closed, whether it is sending
 *                         its request slowly, reading a response slowly, or idle between requests
 * @param minRequestRate   bytes per second a request body must arrive at, at least (0: no minimum); a client
 *                         that trickles its body slower gets 408 instead of holding a worker
 * @param maxQueue         generation requests the front end holds at once (running or waiting for the
 *                         engine); one more gets 429 with {@code Retry-After}. 0 means no limit
 * @param requestTimeout   how long one generation request may run before it is cancelled (504 when no
 *                         response was sent yet); null means no deadline
 * @param drain            how long {@link HttpFrontend#close()} lets requests in flight finish
 */
public record HttpLimits(int maxBodyBytes, int maxHeaderBytes, Duration idleTimeout, long minRequestRate,
                         int maxQueue, Duration requestTimeout, Duration drain) {

    /** Largest JSON nesting accepted in a request body. */
    public static final int MAX_JSON_DEPTH = 64;
    /** Longest JSON string accepted in a request body, in characters. */
    public static final int MAX_JSON_STRING = 2 << 20;

    public HttpLimits {
        if (maxBodyBytes < 1024 || maxHeaderBytes < 1024) {
            throw MiiException.invalid("body and header limits must be at least 1024 bytes");
        }
        if (maxQueue < 0) {
            throw MiiException.invalid("max queue must be >= 0, got " + maxQueue);
        }
        if (idleTimeout == null || idleTimeout.isNegative() || idleTimeout.isZero()) {
            throw MiiException.invalid("the idle timeout must be positive");
        }
        if (requestTimeout != null && (requestTimeout.isNegative() || requestTimeout.isZero())) {
            requestTimeout = null;
        }
        if (drain == null || drain.isNegative()) {
            drain = Duration.ZERO;
        }
    }

    /** 4 MiB bodies, 16 KiB heads, 30 s idle, 1 KiB/s minimum upload rate, no queue limit, no deadline, 10 s drain. */
    public static HttpLimits defaults() {
        return new HttpLimits(4 << 20, 16 << 10, Duration.ofSeconds(30), 1024, 0, null, Duration.ofSeconds(10));
    }

    public HttpLimits withMaxQueue(int n) {
        return new HttpLimits(maxBodyBytes, maxHeaderBytes, idleTimeout, minRequestRate, n, requestTimeout, drain);
    }

    public HttpLimits withRequestTimeout(Duration d) {
        return new HttpLimits(maxBodyBytes, maxHeaderBytes, idleTimeout, minRequestRate, maxQueue, d, drain);
    }

    public HttpLimits withIdleTimeout(Duration d) {
        return new HttpLimits(maxBodyBytes, maxHeaderBytes, d, minRequestRate, maxQueue, requestTimeout, drain);
    }

    public HttpLimits withMaxBodyBytes(int n) {
        return new HttpLimits(n, maxHeaderBytes, idleTimeout, minRequestRate, maxQueue, requestTimeout, drain);
    }
}
