package dev.miij.server.http;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.Pipeline;
import dev.miij.server.PipelineService;
import dev.miij.testing.Fixtures;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.LongAdder;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A bounded fuzz run against a real (tiny) model: a few thousand malformed requests over every endpoint,
 * over HTTP/1.1 and h2c, raw garbage, oversize heads and slow clients. Nothing may earn a 5xx, and the
 * server must serve normally afterwards. The generator is seeded, so a failure can be replayed.
 */
class FuzzTest {

    static final long SEED = Long.getLong("mii.fuzz.seed", 20240613L);
    static final int STRUCTURED = 2400;
    static final int RAW = 400;
    static final int SLOW = 12;

    static final List<String> PATHS = List.of("/v1/completions", "/v1/chat/completions", "/mii/tiny", "/v1/models",
            "/v1/models/llama2", "/healthz", "/metrics", "/mii/other", "/v1/models/x", "/", "/v1", "/mii/",
            "/v1/completions/", "/%2e%2e/etc/passwd", "/mii/tiny%00", "/v1/chat/completions?x=1");
    static final List<String> VALID = List.of(
            "{\"prompt\": \"Hello\", \"max_tokens\": 4, \"temperature\": 0}",
            "{\"prompt\": [\"Hello\", \"Hi\"], \"max_tokens\": 3, \"n\": 2, \"stream\": true}",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}], \"max_tokens\": 4}",
            "{\"prompts\": [\"Hello\"], \"max_new_tokens\": 4, \"do_sample\": false}",
            "{\"prompts\": \"Hello\", \"max_new_tokens\": 3, \"stream\": true, \"top_k\": 5}");
    static final List<String> VALUES = List.of("null", "true", "-1", "0", "1e308", "-1e308", "1e999", "2147483648",
            "9223372036854775808", "0.5", "\"\"", "\"\\ud800\"", "\"\\u0000\"", "[]", "{}", "[[[[[[]]]]]]",
            "\"" + "x".repeat(3000) + "\"", "[1,2,3]", "{\"a\":{\"b\":1}}", "NaN", "\"NaN\"", "1.5", "-0");
    static final List<String> KEYS = List.of("prompt", "prompts", "messages", "max_tokens", "max_new_tokens", "n",
            "temperature", "top_p", "top_k", "stop", "stream", "seed", "stream_options", "logit_bias", "echo",
            "best_of", "model", "max_length", "do_sample", "return_full_text", "ignore_eos", "min_new_tokens",
            "user", "tools", "response_format", "role", "content");

    @Test
    @Timeout(240)
    void malformedRequestsGetOnly4xxAndTheServerKeepsServing() throws Exception {
        Pipeline pipe = HttpTestSupport.pipeline(Fixtures.dir("llama2"));
        HttpLimits limits = HttpLimits.defaults().withIdleTimeout(Duration.ofSeconds(2)).withMaxBodyBytes(64 << 10);
        Map<Integer, LongAdder> statuses = new ConcurrentHashMap<>();
        List<String> serverErrors = java.util.Collections.synchronizedList(new ArrayList<>());
        AtomicInteger sent = new AtomicInteger();
        try (HttpFrontend http = HttpFrontend.start(new PipelineService(pipe, "tiny", "llama2"), "127.0.0.1", 0, null,
                null, limits);
             ExecutorService pool = Executors.newFixedThreadPool(6)) {
            HttpClient h1 = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                    .connectTimeout(Duration.ofSeconds(5)).build();
            HttpClient h2 = HttpClient.newBuilder().version(HttpClient.Version.HTTP_2)
                    .connectTimeout(Duration.ofSeconds(5)).build();
            long deadline = System.nanoTime() + 180_000_000_000L;
            List<Future<?>> work = new ArrayList<>();
            for (int s = 0; s < SLOW; s++) {
                long seed = SEED * 31 + s;
                work.add(pool.submit(() -> slowClient(http, new Random(seed), statuses, serverErrors)));
            }
            for (int i = 0; i < STRUCTURED; i++) {
                long seed = SEED + i;
                HttpClient client = i % 2 == 0 ? h1 : h2;
                work.add(pool.submit(() -> {
                    if (System.nanoTime() > deadline) {
                        return null;
                    }
                    Random rnd = new Random(seed);
                    String method = rnd.nextInt(8) == 0 ? List.of("GET", "PUT", "DELETE", "PATCH").get(rnd.nextInt(4)) : "POST";
                    String path = PATHS.get(rnd.nextInt(PATHS.size()));
                    byte[] body = mutate(rnd, VALID.get(rnd.nextInt(VALID.size())));
                    HttpRequest.Builder b = HttpRequest.newBuilder(HttpTestSupport.uri(http, path))
                            .timeout(Duration.ofSeconds(30))
                            .method(method, HttpRequest.BodyPublishers.ofByteArray(body));
                    if (rnd.nextBoolean()) {
                        b.header("Content-Type", List.of("application/json", "text/plain", "application/json; charset=latin1",
                                "multipart/form-data; boundary=x").get(rnd.nextInt(4)));
                    }
                    if (rnd.nextInt(5) == 0) {
                        b.header("Authorization", "Bearer " + "k".repeat(rnd.nextInt(200)));
                    }
                    if (rnd.nextInt(10) == 0) {
                        b.header("X-Junk", "v".repeat(rnd.nextInt(12_000)));
                    }
                    try {
                        HttpResponse<String> r = client.send(b.build(), HttpResponse.BodyHandlers.ofString());
                        record(statuses, serverErrors, r.statusCode(), method + " " + path + " " + new String(body,
                                StandardCharsets.UTF_8) + " -> " + r.body());
                    } catch (IOException e) {
                        // a head over the limit is answered with 431 and a close that the client may report as a reset
                        record(statuses, serverErrors, -1, null);
                    }
                    sent.incrementAndGet();
                    return null;
                }));
            }
            for (int i = 0; i < RAW; i++) {
                long seed = SEED * 7 + i;
                work.add(pool.submit(() -> {
                    rawRequest(http, new Random(seed), statuses, serverErrors);
                    sent.incrementAndGet();
                }));
            }
            for (Future<?> f : work) {
                f.get();
            }
            assertTrue(sent.get() >= 2000, "sent " + sent.get());
            serverErrors.forEach(e -> System.out.println("fuzz server error: " + e.replace("\r\n", " | ")));
            assertTrue(serverErrors.isEmpty(), serverErrors.size() + " server errors, first: "
                    + serverErrors.subList(0, Math.min(3, serverErrors.size())));
            // Serving normally afterwards, over both protocols.
            String ok = "{\"prompt\": \"Hello\", \"max_tokens\": 4, \"temperature\": 0}";
            for (HttpClient c : List.of(h1, h2)) {
                HttpResponse<String> r = c.send(HttpRequest.newBuilder(HttpTestSupport.uri(http, "/v1/completions"))
                        .POST(HttpRequest.BodyPublishers.ofString(ok)).build(), HttpResponse.BodyHandlers.ofString());
                assertEquals(200, r.statusCode(), r.body());
            }
            String metrics = DisconnectTest.scrape(http);
            assertTrue(!metrics.replace("status=\"505\"", "").matches("(?s).*status=\"5\\d\\d\".*"), metrics);
            System.out.println("fuzz: " + sent.get() + " requests, statuses " + new java.util.TreeMap<>(statuses));
        } finally {
            pipe.close();
        }
    }

    static void record(Map<Integer, LongAdder> statuses, List<String> serverErrors, int status, String what) {
        statuses.computeIfAbsent(status, k -> new LongAdder()).increment();
        if (status >= 500) {
            serverErrors.add(status + ": " + (what == null ? "" : what.substring(0, Math.min(400, what.length()))));
        }
    }

    /** A valid body with a few random edits: bytes, keys, values and structure. */
    static byte[] mutate(Random rnd, String valid) {
        String s = valid;
        int edits = 1 + rnd.nextInt(3);
        for (int e = 0; e < edits; e++) {
            if (s.isEmpty()) {
                s = "{";
            }
            switch (rnd.nextInt(7)) {
                case 0 -> {
                    int at = rnd.nextInt(s.length() + 1);
                    s = s.substring(0, at) + (char) rnd.nextInt(0x3000) + s.substring(at);
                }
                case 1 -> {
                    int at = rnd.nextInt(s.length());
                    s = s.substring(0, at) + s.substring(Math.min(s.length(), at + 1 + rnd.nextInt(5)));
                }
                case 2 -> s = s.replaceFirst("\"" + KEYS.get(rnd.nextInt(KEYS.size())) + "\": [^,}]+",
                        java.util.regex.Matcher.quoteReplacement("\"" + KEYS.get(rnd.nextInt(KEYS.size())) + "\": "
                                + VALUES.get(rnd.nextInt(VALUES.size()))));
                case 3 -> s = s.replaceFirst("\\{", java.util.regex.Matcher.quoteReplacement("{\""
                        + KEYS.get(rnd.nextInt(KEYS.size())) + "\": " + VALUES.get(rnd.nextInt(VALUES.size())) + ", "));
                case 4 -> s = s.substring(0, rnd.nextInt(s.length()));
                case 5 -> s = rnd.nextBoolean() ? "[" + s + "]" : s + s;
                default -> {
                    byte[] b = s.getBytes(StandardCharsets.UTF_8);
                    b[rnd.nextInt(b.length)] = (byte) rnd.nextInt(256);
                    return b;
                }
            }
        }
        return s.getBytes(StandardCharsets.UTF_8);
    }

    /** Garbage, broken heads and oversize heads straight on a socket. */
    static void rawRequest(HttpFrontend http, Random rnd, Map<Integer, LongAdder> statuses, List<String> errors) {
        byte[] request = switch (rnd.nextInt(6)) {
            case 0 -> {
                byte[] b = new byte[1 + rnd.nextInt(3000)];
                rnd.nextBytes(b);
                yield b;
            }
            case 1 -> HardeningTest.TLS_CLIENT_HELLO;
            case 2 -> ("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + List.of("-1", "abc", "99999999999999999999",
                    "5, 6", "").get(rnd.nextInt(5)) + "\r\n\r\n{}").getBytes(StandardCharsets.ISO_8859_1);
            case 3 -> {
                StringBuilder sb = new StringBuilder("GET /healthz HTTP/1.1\r\nHost: x\r\n");
                int n = 500 + rnd.nextInt(2000);
                for (int i = 0; i < n; i++) {
                    sb.append("X-").append(i).append(": ").append("y".repeat(rnd.nextInt(20))).append("\r\n");
                }
                yield sb.append("\r\n").toString().getBytes(StandardCharsets.ISO_8859_1);
            }
            case 4 -> ("GET /" + "a".repeat(rnd.nextInt(40_000)) + " HTTP/1.1\r\nHost: x\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1);
            default -> (List.of("GET / HTTP/9.9", "GET\t/\tHTTP/1.1", "POST /v1/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                    "GET /healthz HTTP/1.1\r\nHost: x\r\nX: a\nY: b\r\n", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\0\0",
                    "GET /healthz HTTP/1.1\r\n Host: x\r\n").get(rnd.nextInt(6)) + "\r\n\r\n").getBytes(StandardCharsets.ISO_8859_1);
        };
        try {
            String answer = HardeningTest.raw(http, request);
            int status = answer.startsWith("HTTP/1.1 ") && answer.length() >= 12 ? Integer.parseInt(answer.substring(9, 12)) : -1;
            // 505 is what RFC 9110 prescribes for a version the server does not speak: a client error in all but number.
            boolean unknownVersion = status == 505 && new String(request, StandardCharsets.ISO_8859_1).startsWith("GET / HTTP/9.9");
            record(statuses, errors, unknownVersion ? 400 : status, answer);
        } catch (IOException | NumberFormatException e) {
            record(statuses, errors, -1, null);
        }
    }

    /** Sends a request head a byte at a time, then stops sending: the server must not wait on it forever. */
    static void slowClient(HttpFrontend http, Random rnd, Map<Integer, LongAdder> statuses, List<String> errors) {
        byte[] head = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"prompt\":"
                .getBytes(StandardCharsets.US_ASCII);
        try (Socket socket = new Socket("127.0.0.1", http.port())) {
            socket.setSoTimeout(15_000);
            OutputStream out = socket.getOutputStream();
            int upTo = rnd.nextInt(head.length);
            try {
                for (int i = 0; i < upTo; i++) {
                    out.write(head[i]);
                    out.flush();
                    Thread.sleep(20);
                }
            } catch (IOException e) {
                // closed by the server while trickling: what it should do
            }
            InputStream in = socket.getInputStream();
            byte[] answer = in.readNBytes(12);
            String s = new String(answer, StandardCharsets.ISO_8859_1);
            record(statuses, errors, s.startsWith("HTTP/1.1 ") ? Integer.parseInt(s.substring(9, 12)) : -1, s);
        } catch (IOException e) {
            record(statuses, errors, -1, null);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
