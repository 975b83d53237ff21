package dev.miij.model;

import com.fasterxml.jackson.databind.JsonNode;
import dev.miij.MiiException;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

/**
 * The hub's HTTP API as huggingface_hub uses it: repository info, file metadata by HEAD, and file
 * downloads. Redirects are followed by hand so that the access token is sent only to the endpoint
 * itself, never to the storage host a large file redirects to (which signs its own URLs and would
 * refuse a second credential).
 */
final class HubHttp {

    private static final int MAX_REDIRECTS = 10;
    private static final Duration TIMEOUT = Duration.ofSeconds(30);
    private static final String USER_AGENT = "mii-j/0.1; java/" + Runtime.version().feature();
    private static final Pattern SAFE_NAME = Pattern.compile("[A-Za-z0-9_.-]+");

    /** What a HEAD of a resolve URL says about a file: its content name, its size (-1 if unknown). */
    record FileMeta(String etag, long size) {}

    /** A repository at one commit and the files it holds. */
    record RepoInfo(String commit, List<String> files) {}

    private final URI endpoint;
    private final String token;
    private final HttpClient client;

    HubHttp(URI endpoint, String token) {
        this.endpoint = endpoint;
        this.token = token;
        this.client = HttpClient.newBuilder()
                .followRedirects(HttpClient.Redirect.NEVER)
                .connectTimeout(Duration.ofSeconds(10))
                .version(HttpClient.Version.HTTP_1_1)
                .build();
    }

    URI endpoint() {
        return endpoint;
    }

    /** {@code GET /api/models/{repo}/revision/{revision}}: the commit a revision points to and its file list. */
    RepoInfo repoInfo(HubId id) {
        URI uri = URI.create(endpoint + "/api/models/" + encodePath(id.repoId()) + "/revision/" + encodeSegment(id.revision()));
        HttpResponse<byte[]> r = call(() -> send("GET", uri, 0, HttpResponse.BodyHandlers.ofByteArray(), false), uri);
        if (r.statusCode() != 200) {
            throw error(r.statusCode(), r.headers(), id, null);
        }
        JsonNode json = Json.parseObject(Json.MAPPER, r.body(), "the hub's answer for " + id);
        String sha = json.path("sha").asText("");
        if (!SAFE_NAME.matcher(sha).matches() || sha.contains("..")) {
            throw MiiException.io("the hub at " + endpoint + " sent no usable commit sha for " + id + ": '" + sha + "'", null);
        }
        List<String> files = new ArrayList<>();
        for (JsonNode s : json.path("siblings")) {
            String name = s.path("rfilename").asText("");
            if (!name.isEmpty()) {
                files.add(name);
            }
        }
        return new RepoInfo(sha, List.copyOf(files));
    }

    URI resolveUrl(String repoId, String commit, String file) {
        return URI.create(endpoint + "/" + encodePath(repoId) + "/resolve/" + encodeSegment(commit) + "/" + encodePath(file));
    }

    /**
     * HEAD of a resolve URL. A large file answers with a redirect to its storage host that already
     * carries {@code X-Linked-Etag} and {@code X-Linked-Size}; other files answer 200 with {@code ETag}.
     */
    FileMeta head(URI url, HubId id, String file) {
        HttpResponse<Void> r = call(() -> send("HEAD", url, 0, HttpResponse.BodyHandlers.discarding(), true), url);
        HttpHeaders h = r.headers();
        if (r.statusCode() != 200 && h.firstValue("X-Linked-Etag").isEmpty()) {
            throw error(r.statusCode(), h, id, file);
        }
        String etag = h.firstValue("X-Linked-Etag").or(() -> h.firstValue("ETag")).map(HubHttp::normalizeEtag).orElse("");
        if (!SAFE_NAME.matcher(etag).matches() || etag.equals(".") || etag.equals("..")) {
            throw MiiException.io("the hub at " + endpoint + " sent no usable ETag for " + file + " of " + id
                    + " ('" + etag + "'); is HF_ENDPOINT a Hugging Face hub or mirror?", null);
        }
        long size = h.firstValueAsLong("X-Linked-Size").orElse(h.firstValueAsLong("Content-Length").orElse(-1));
        return new FileMeta(etag, size);
    }

    /** GET of a file, from byte {@code from} on (a Range request when above 0); the caller closes the body. */
    HttpResponse<InputStream> get(URI url, long from) throws IOException, InterruptedException {
        return send("GET", url, from, HttpResponse.BodyHandlers.ofInputStream(), false);
    }

    /** Strips the weak-validator prefix and quotes: {@code W/"abc"} → {@code abc}. */
    static String normalizeEtag(String etag) {
        String e = etag.trim();
        if (e.startsWith("W/")) {
            e = e.substring(2);
        }
        if (e.length() >= 2 && e.startsWith("\"") && e.endsWith("\"")) {
            e = e.substring(1, e.length() - 1);
        }
        return e;
    }

    private <T> HttpResponse<T> send(String method, URI start, long from, HttpResponse.BodyHandler<T> body, boolean stopAtLinked)
            throws IOException, InterruptedException {
        URI uri = start;
        for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
            HttpRequest.Builder b = HttpRequest.newBuilder(uri)
                    .method(method, HttpRequest.BodyPublishers.noBody())
                    .timeout(TIMEOUT)
                    .header("User-Agent", USER_AGENT);
            if (from > 0) {
                b.header("Range", "bytes=" + from + "-");
            }
            if (token != null && sameOrigin(uri, endpoint)) {
                b.header("Authorization", "Bearer " + token);
            }
            HttpResponse<T> r = client.send(b.build(), body);
            int status = r.statusCode();
            boolean redirect = status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
            if (!redirect || (stopAtLinked && r.headers().firstValue("X-Linked-Etag").isPresent())) {
                return r;
            }
            if (r.body() instanceof InputStream in) {
                in.close();
            }
            String location = r.headers().firstValue("Location")
                    .orElseThrow(() -> new IOException("HTTP " + status + " redirect without a Location header"));
            uri = uri.resolve(location);
        }
        throw new IOException("more than " + MAX_REDIRECTS + " redirects from " + start);
    }

    private static boolean sameOrigin(URI a, URI b) {
        return a.getScheme().equalsIgnoreCase(b.getScheme()) && a.getHost() != null && a.getHost().equalsIgnoreCase(b.getHost())
                && port(a) == port(b);
    }

    private static int port(URI u) {
        return u.getPort() >= 0 ? u.getPort() : u.getScheme().equalsIgnoreCase("https") ? 443 : 80;
    }

    @FunctionalInterface
    private interface Call<T> {
        T run() throws IOException, InterruptedException;
    }

    private <T> T call(Call<T> c, URI uri) {
        try {
            return c.run();
        } catch (IOException e) {
            throw networkError(e, uri);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MiiException(MiiException.Kind.CANCELLED, "interrupted while contacting " + endpoint);
        }
    }

    MiiException networkError(IOException e, URI uri) {
        return MiiException.io("cannot reach the Hugging Face hub at " + endpoint + " (" + uri.getHost() + "): "
                + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage())
                + "; check the network or HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only models already downloaded", e);
    }

    /** Maps an HTTP failure to a message the user can act on; {@code file} is null for the repository itself. */
    MiiException error(int status, HttpHeaders headers, HubId id, String file) {
        String code = headers.firstValue("X-Error-Code").orElse("");
        String detail = headers.firstValue("X-Error-Message").map(m -> " (" + m + ")").orElse("");
        String page = endpoint + "/" + id.repoId();
        if (status == 401 || status == 403) {
            String tokenAdvice = token == null
                    ? "set HF_TOKEN to an access token (or run `huggingface-cli login`, which writes $HF_HOME/token)"
                    : "the token in HF_TOKEN (or $HF_HOME/token) does not grant access; check that its account accepted the terms";
            return MiiException.notFound("the hub refused access to model " + id + " (HTTP " + status + ")" + detail
                    + ". If it is gated or private, accept its terms at " + page + " and " + tokenAdvice
                    + ". If the id is misspelled, the hub answers the same way.");
        }
        if (status == 404) {
            if (code.equals("RevisionNotFound")) {
                return MiiException.notFound("revision '" + id.revision() + "' of model " + id.repoId() + " not found on the hub" + detail);
            }
            if (code.equals("EntryNotFound") && file != null) {
                return MiiException.notFound("file " + file + " of model " + id + " not found on the hub" + detail);
            }
            return MiiException.notFound("model " + id + " not found on the hub (or no access) at " + endpoint + detail
                    + (token == null ? "; for a private or gated model set HF_TOKEN" : ""));
        }
        if (status == 429) {
            return MiiException.io("the hub at " + endpoint + " is rate-limiting requests (HTTP 429); wait a minute and retry"
                    + (token == null ? ", or set HF_TOKEN for a higher limit" : ""), null);
        }
        return MiiException.io("the hub at " + endpoint + " answered HTTP " + status + " for " + (file == null ? id : file + " of " + id)
                + detail, null);
    }

    /** Percent-encodes each segment of a slash-separated path. */
    static String encodePath(String path) {
        StringBuilder out = new StringBuilder();
        for (String seg : path.split("/", -1)) {
            if (!out.isEmpty()) {
                out.append('/');
            }
            out.append(encodeSegment(seg));
        }
        return out.toString();
    }

    /** Percent-encodes one segment, slashes included (a revision like {@code refs/pr/1} is one segment). */
    static String encodeSegment(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }
}
