package dev.miij.server.http;

import static dev.miij.server.http.HttpTestSupport.eventually;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.Response;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The server's own bounds: protocols, limits, timeouts, junk on the socket, queueing, deadlines, disconnects. */
@Timeout(60)
class HardeningTest {

    /** A service whose generations never finish by themselves; remembers every one it started. */
    static ScriptedService hanging(List<CompletableFuture<List<Response>>> started) {
        ScriptedService s = new ScriptedService();
        s.generate = () -> {
            CompletableFuture<List<Response>> f = new CompletableFuture<>();
            started.add(f);
            return f;
        };
        return s;
    }

    /** Sends raw bytes and returns everything the server sends until it closes (or 5 s pass). */
    static String raw(HttpFrontend http, byte[] request) throws IOException {
        try (Socket socket = new Socket("127.0.0.1", http.port())) {
            socket.setSoTimeout(5000);
            OutputStream out = socket.getOutputStream();
            Thread writer = Thread.ofVirtual().start(() -> {
                try {
                    out.write(request);
                    out.flush();
                } catch (IOException e) {
                    // the server closed first, having answered
                }
            });
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            InputStream in = socket.getInputStream();
            byte[] buf = new byte[8192];
            try {
                int n;
                while ((n = in.read(buf)) > 0) {
                    got.write(buf, 0, n);
                }
            } catch (IOException e) {
                // a reset after the answer
            }
            try {
                writer.join(5000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return got.toString(StandardCharsets.ISO_8859_1);
        }
    }

    static final byte[] TLS_CLIENT_HELLO = {0x16, 0x03, 0x01, 0x00, (byte) 0xa5, 0x01, 0x00, 0x00, (byte) 0xa1, 0x03,
            0x03, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10};

    @Test
    void junkOnTheSocketGets400AndACloseAtOnce() throws Exception {
        try (HttpFrontend http = HttpFrontend.start(new ScriptedService(), "127.0.0.1", 0, null)) {
            for (byte[] junk : List.of(TLS_CLIENT_HELLO,
                    "\0\0\0\0GET / HTTP/1.1\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1),
                    "GET /healthz HTTP/1.1\r\nHost: x\r\nBad\0Header: 1\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1),
                    "HELLO\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1))) {
                long t0 = System.nanoTime();
                String answer = raw(http, junk);
                long ms = (System.nanoTime() - t0) / 1_000_000;
                assertTrue(answer.startsWith("HTTP/1.1 400"), answer);
                assertTrue(answer.contains("\"error\""), answer);
                assertTrue(ms < 2000, "answered and closed in " + ms + " ms");
            }
            assertEquals(200, HttpTestSupport.get(http, "/healthz").statusCode());
        }
    }

    @Test
    void oversizeHeadsGet431Or414() throws Exception {
        try (HttpFrontend http = HttpFrontend.start(new ScriptedService(), "127.0.0.1", 0, null)) {
            StringBuilder many = new StringBuilder("GET /healthz HTTP/1.1\r\nHost: x\r\n");
            for (int i = 0; i < 2000; i++) {
                many.append("X-H").append(i).append(": v\r\n");
            }
            many.append("\r\n");
            assertTrue(raw(http, many.toString().getBytes(StandardCharsets.US_ASCII)).startsWith("HTTP/1.1 431"));
            String big = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + "a".repeat(1 << 20) + "\r\n\r\n";
            assertTrue(raw(http, big.getBytes(StandardCharsets.US_ASCII)).startsWith("HTTP/1.1 431"));
            String url = "GET /healthz?" + "q".repeat(64 << 10) + " HTTP/1.1\r\nHost: x\r\n\r\n";
            String answer = raw(http, url.getBytes(StandardCharsets.US_ASCII));
            assertTrue(answer.startsWith("HTTP/1.1 414") || answer.startsWith("HTTP/1.1 431"), answer);
            assertEquals(200, HttpTestSupport.get(http, "/healthz").statusCode());
        }
    }

    @Test
    void deepOrHugeJsonIs400() throws Exception {
        try (HttpFrontend http = HttpFrontend.start(new ScriptedService(), "127.0.0.1", 0, null)) {
            String deep = "{\"prompt\": " + "[".repeat(500) + "]".repeat(500) + "}";
            HttpResponse<String> r = HttpTestSupport.post(http, "/v1/completions", deep);
            assertEquals(400, r.statusCode(), r.body());
            String longNumber = "{\"prompt\": \"x\", \"max_tokens\": 1" + "0".repeat(5000) + "}";
            assertEquals(400, HttpTestSupport.post(http, "/v1/completions", longNumber).statusCode());
        }
    }

    @Test
    void keepAliveAndH2c() throws Exception {
        try (HttpFrontend http = HttpFrontend.start(new ScriptedService(), "127.0.0.1", 0, null);
             Socket socket = new Socket("127.0.0.1", http.port())) {
            socket.setSoTimeout(5000);
            OutputStream out = socket.getOutputStream();
            InputStream in = socket.getInputStream();
            for (int i = 0; i < 3; i++) {
                out.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
                out.flush();
                String head = readHead(in);
                assertTrue(head.startsWith("HTTP/1.1 200"), head);
                int length = Integer.parseInt(head.replaceAll("(?is).*content-length: *(\\d+).*", "$1"));
                assertEquals(length, in.readNBytes(length).length);
            }
            HttpClient h2 = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2).build();
            for (int i = 0; i < 2; i++) {
                HttpResponse<String> r = h2.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + http.port()
                        + "/healthz")).build(), HttpResponse.BodyHandlers.ofString());
                assertEquals(200, r.statusCode());
                assertEquals(HttpClient.Version.HTTP_2, r.version());
            }
        }
    }

    static String readHead(InputStream in) throws IOException {
        ByteArrayOutputStream head = new ByteArrayOutputStream();
        int b;
        while ((b = in.read()) >= 0) {
            head.write(b);
            byte[] sofar = head.toByteArray();
            int n = sofar.length;
            if (n >= 4 && sofar[n - 4] == '\r' && sofar[n - 3] == '\n' && sofar[n - 2] == '\r' && sofar[n - 1] == '\n') {
                break;
            }
        }
        return head.toString(StandardCharsets.ISO_8859_1);
    }

    @Test
    void aSlowClientIsClosedAndHoldsNoWorker() throws Exception {
        HttpLimits limits = HttpLimits.defaults().withIdleTimeout(Duration.ofMillis(500));
        try (HttpFrontend http = HttpFrontend.start(new ScriptedService(), "127.0.0.1", 0, null, null, limits);
             Socket slow = new Socket("127.0.0.1", http.port())) {
            slow.setSoTimeout(5000);
            slow.getOutputStream().write("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Le".getBytes(StandardCharsets.US_ASCII));
            slow.getOutputStream().flush();
            assertEquals(200, HttpTestSupport.get(http, "/healthz").statusCode());
            long t0 = System.nanoTime();
            InputStream in = slow.getInputStream();
            while (in.read() >= 0) {
                // whatever the server says before it closes
            }
            assertTrue(System.nanoTime() - t0 < 3_000_000_000L, "closed after the idle timeout");
        }
    }

    @Test
    void aFullQueueGets429WithRetryAfter() throws Exception {
        List<CompletableFuture<List<Response>>> started = new CopyOnWriteArrayList<>();
        HttpLimits limits = HttpLimits.defaults().withMaxQueue(1);
        try (HttpFrontend http = HttpFrontend.start(hanging(started), "127.0.0.1", 0, null, null, limits)) {
            CompletableFuture<HttpResponse<String>> first = HttpTestSupport.HTTP.sendAsync(HttpRequest.newBuilder(
                    HttpTestSupport.uri(http, "/mii/scripted")).POST(HttpRequest.BodyPublishers.ofString(
                    "{\"prompts\": \"a\"}")).build(), HttpResponse.BodyHandlers.ofString());
            eventually("the first request runs", () -> !started.isEmpty());
            long t0 = System.nanoTime();
            HttpResponse<String> second = HttpTestSupport.post(http, "/mii/scripted", "{\"prompts\": \"b\"}");
            assertTrue(System.nanoTime() - t0 < 1_000_000_000L);
            assertEquals(429, second.statusCode(), second.body());
            assertEquals("1", second.headers().firstValue("Retry-After").orElseThrow());
            assertEquals(200, HttpTestSupport.get(http, "/healthz").statusCode(), "probes are not queued");
            started.getFirst().complete(List.of(new Response("x", 1, 1, Response.FinishReason.LENGTH, List.of(5))));
            assertEquals(200, first.get(10, TimeUnit.SECONDS).statusCode());
            CompletableFuture<HttpResponse<String>> third = HttpTestSupport.HTTP.sendAsync(HttpRequest.newBuilder(
                    HttpTestSupport.uri(http, "/mii/scripted")).POST(HttpRequest.BodyPublishers.ofString(
                    "{\"prompts\": \"c\"}")).build(), HttpResponse.BodyHandlers.ofString());
            eventually("a slot is free again", () -> started.size() == 2);
            started.get(1).complete(List.of(new Response("x", 1, 1, Response.FinishReason.LENGTH, List.of(5))));
            assertEquals(200, third.get(10, TimeUnit.SECONDS).statusCode());
        }
    }

    @Test
    void aRequestPastItsDeadlineIsCancelledWith504() throws Exception {
        List<CompletableFuture<List<Response>>> started = new CopyOnWriteArrayList<>();
        HttpLimits limits = HttpLimits.defaults().withRequestTimeout(Duration.ofMillis(300));
        try (HttpFrontend http = HttpFrontend.start(hanging(started), "127.0.0.1", 0, null, null, limits)) {
            assertEquals(200, HttpTestSupport.get(http, "/healthz").statusCode());
            long t0 = System.nanoTime();
            HttpResponse<String> r = HttpTestSupport.post(http, "/v1/completions", "{\"prompt\": \"a\"}");
            long ms = (System.nanoTime() - t0) / 1_000_000;
            assertEquals(504, r.statusCode(), r.body());
            assertTrue(ms < 2000, "answered in " + ms + " ms");
            assertTrue(started.getFirst().isCancelled(), "the generation was cancelled");
        }
    }

    @Test
    void aClientLeavingANonStreamedRequestCancelsIt() throws Exception {
        List<CompletableFuture<List<Response>>> started = new CopyOnWriteArrayList<>();
        try (HttpFrontend http = HttpFrontend.start(hanging(started), "127.0.0.1", 0, null)) {
            for (String path : List.of("/mii/scripted", "/v1/completions")) {
                started.clear();
                String body = path.startsWith("/mii") ? "{\"prompts\": \"a\"}" : "{\"prompt\": \"a\"}";
                try (Socket socket = new Socket("127.0.0.1", http.port())) {
                    socket.getOutputStream().write(("POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            + "Content-Length: " + body.length() + "\r\n\r\n" + body).getBytes(StandardCharsets.US_ASCII));
                    socket.getOutputStream().flush();
                    eventually("the generation started", () -> !started.isEmpty());
                    socket.setSoLinger(true, 0);
                }
                eventually("the generation is cancelled", () -> started.getFirst().isCancelled());
            }
            eventually("both count as closed by the client", () -> DisconnectTest.scrape(http).contains(
                    "mii_http_requests_total{endpoint=\"/mii/{deployment}\",status=\"499\"} 1")
                    && DisconnectTest.scrape(http).contains(
                    "mii_http_requests_total{endpoint=\"/v1/completions\",status=\"499\"} 1"));
        }
    }
}
