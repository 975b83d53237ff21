package dev.miij.model;

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A minimal Hugging Face hub on 127.0.0.1 for tests: the revision API, resolve URLs (small files
 * answered directly with an ETag, large ones redirected to a "CDN" path on the host name
 * {@code localhost}, so the token must not follow), Range requests, optional token checks and
 * injected connection drops.
 */
final class FakeHub implements AutoCloseable {

    /** One request as the server saw it. */
    record Request(String method, String path, String authorization, String range) {}

    static final class Repo {
        final String commit;
        final Map<String, byte[]> files = new LinkedHashMap<>();
        final Set<String> lfs = new HashSet<>();

        Repo(String commit) {
            this.commit = commit;
        }

        Repo file(String name, byte[] content) {
            files.put(name, content);
            return this;
        }

        Repo file(String name, String content) {
            return file(name, content.getBytes(StandardCharsets.UTF_8));
        }

        /** A file stored in LFS: its resolve URL redirects to the CDN. */
        Repo lfsFile(String name, byte[] content) {
            lfs.add(name);
            return file(name, content);
        }
    }

    final List<Request> requests = new CopyOnWriteArrayList<>();
    final Map<String, Repo> repos = new ConcurrentHashMap<>();
    /** Maps a renamed repo id to its new id (answered with a relative 307, as the hub does). */
    final Map<String, String> renamed = new ConcurrentHashMap<>();
    /** Per CDN blob etag: how many more GETs are cut off after this many bytes. */
    final Map<String, int[]> cutAfter = new ConcurrentHashMap<>();
    /** Per CDN blob etag: how many more GETs stop sending (without closing) after this many bytes. */
    final Map<String, int[]> stallAfter = new ConcurrentHashMap<>();
    final AtomicInteger ignoreRangeTimes = new AtomicInteger();
    /** LFS files whose announced X-Linked-Size is one byte more than their content. */
    final Set<String> oversized = ConcurrentHashMap.newKeySet();
    volatile String requiredToken;
    private volatile boolean stopped;

    private final HttpServer server;
    private final ExecutorService executor = Executors.newCachedThreadPool();
    private final Map<String, byte[]> blobs = new ConcurrentHashMap<>();

    FakeHub() throws IOException {
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", this::handle);
        server.setExecutor(executor); // a stalled response must not block the next request
        server.start();
    }

    URI endpoint() {
        return URI.create("http://127.0.0.1:" + server.getAddress().getPort());
    }

    Repo repo(String id, String commit) {
        Repo r = new Repo(commit);
        repos.put(id, r);
        return r;
    }

    static String sha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    /** The ETag a file gets: sha256 for LFS files, as on the hub; a shorter digest for the others. */
    static String etagOf(Repo repo, String name) {
        String sha = sha256(repo.files.get(name));
        return repo.lfs.contains(name) ? sha : sha.substring(0, 40);
    }

    List<Request> requests(String pathPrefix) {
        return requests.stream().filter(r -> r.path().startsWith(pathPrefix)).toList();
    }

    private void handle(HttpExchange ex) throws IOException {
        Headers h = ex.getRequestHeaders();
        String path = ex.getRequestURI().getPath();
        requests.add(new Request(ex.getRequestMethod(), path, h.getFirst("Authorization"), h.getFirst("Range")));
        // Not try-with-resources: a Drop must leave the exchange unfinished so the server aborts the connection.
        route(ex, path, h);
        ex.close();
    }

    private void route(HttpExchange ex, String path, Headers h) throws IOException {
        if (path.startsWith("/cdn/")) {
            cdn(ex, path.substring(5));
        } else if (requiredToken != null && !("Bearer " + requiredToken).equals(h.getFirst("Authorization"))) {
            ex.getResponseHeaders().set("X-Error-Code", "GatedRepo");
            send(ex, 401, new byte[0]);
        } else if (path.startsWith("/api/models/")) {
            api(ex, path.substring("/api/models/".length()));
        } else if (path.contains("/resolve/")) {
            resolve(ex, path.substring(1));
        } else {
            send(ex, 404, new byte[0]);
        }
    }

    /** Thrown mid-body to make the server abort the connection, as a network failure would. */
    private static final class Drop extends RuntimeException {
        Drop() {
            super("connection dropped on purpose", null, false, false);
        }
    }

    private void api(HttpExchange ex, String rest) throws IOException {
        int at = rest.indexOf("/revision/");
        String id = rest.substring(0, at);
        Repo repo = repos.get(id);
        if (repo == null) {
            ex.getResponseHeaders().set("X-Error-Code", "RepoNotFound");
            send(ex, 404, new byte[0]);
            return;
        }
        StringBuilder json = new StringBuilder("{\"id\":\"" + id + "\",\"sha\":\"" + repo.commit + "\",\"siblings\":[");
        String sep = "";
        for (String f : repo.files.keySet()) {
            json.append(sep).append("{\"rfilename\":\"").append(f).append("\"}");
            sep = ",";
        }
        send(ex, 200, json.append("]}").toString().getBytes(StandardCharsets.UTF_8));
    }

    private void resolve(HttpExchange ex, String rest) throws IOException {
        int r = rest.indexOf("/resolve/");
        String id = rest.substring(0, r);
        if (renamed.containsKey(id)) {
            ex.getResponseHeaders().set("Location", "/" + renamed.get(id) + rest.substring(r));
            send(ex, 307, new byte[0]);
            return;
        }
        String[] commitAndFile = rest.substring(r + "/resolve/".length()).split("/", 2);
        Repo repo = repos.get(id);
        byte[] content = repo == null || !repo.commit.equals(commitAndFile[0]) ? null : repo.files.get(commitAndFile[1]);
        if (content == null) {
            ex.getResponseHeaders().set("X-Error-Code", "EntryNotFound");
            send(ex, 404, new byte[0]);
            return;
        }
        String etag = etagOf(repo, commitAndFile[1]);
        Headers out = ex.getResponseHeaders();
        out.set("X-Repo-Commit", repo.commit);
        if (repo.lfs.contains(commitAndFile[1])) {
            blobs.put(etag, content);
            out.set("X-Linked-Etag", "\"" + etag + "\"");
            out.set("X-Linked-Size", Long.toString(content.length + (oversized.contains(commitAndFile[1]) ? 1 : 0)));
            out.set("Location", "http://localhost:" + server.getAddress().getPort() + "/cdn/" + etag);
            send(ex, 302, new byte[0]);
        } else {
            out.set("ETag", "W/\"" + etag + "\"");
            send(ex, 200, content);
        }
    }

    private void cdn(HttpExchange ex, String etag) throws IOException {
        byte[] content = blobs.get(etag);
        if (content == null) {
            send(ex, 404, new byte[0]);
            return;
        }
        if (ex.getRequestHeaders().getFirst("Authorization") != null) {
            send(ex, 400, "a second credential on a signed URL".getBytes(StandardCharsets.UTF_8));
            return;
        }
        ex.getResponseHeaders().set("ETag", "\"" + etag + "\"");
        String range = ex.getRequestHeaders().getFirst("Range");
        int from = 0;
        if (range != null && ignoreRangeTimes.getAndUpdate(n -> Math.max(0, n - 1)) == 0) {
            from = Integer.parseInt(range.substring("bytes=".length(), range.indexOf('-')));
            if (from >= content.length) {
                send(ex, 416, new byte[0]);
                return;
            }
            ex.getResponseHeaders().set("Content-Range", "bytes " + from + "-" + (content.length - 1) + "/" + content.length);
        }
        int length = content.length - from;
        int[] cut = cutAfter.get(etag);
        boolean cutNow = cut != null && cut[0] > 0;
        if (cutNow) {
            cut[0]--;
        }
        int[] stall = stallAfter.get(etag);
        boolean stallNow = stall != null && stall[0] > 0;
        if (stallNow) {
            stall[0]--;
        }
        ex.sendResponseHeaders(ex.getResponseHeaders().containsKey("Content-Range") ? 206 : 200, length);
        OutputStream body = ex.getResponseBody();
        if (cutNow || stallNow) {
            body.write(content, from, Math.min(length, cutNow ? cut[1] : stall[1]));
            body.flush();
            if (stallNow) {
                sleepQuietly(5_000); // the client must give up on its own
            }
            throw new Drop();
        }
        body.write(content, from, length);
    }

    private static void sleepQuietly(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void send(HttpExchange ex, int status, byte[] body) throws IOException {
        if (ex.getRequestMethod().equals("HEAD")) {
            if (status == 200) {
                ex.getResponseHeaders().set("Content-Length", Integer.toString(body.length));
            }
            ex.sendResponseHeaders(status, -1);
            return;
        }
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        ex.getResponseBody().write(body);
    }

    /** Stops serving; later connections are refused. */
    @Override
    public void close() {
        if (stopped) {
            return;
        }
        stopped = true;
        server.stop(0);
        executor.shutdownNow();
    }
}
