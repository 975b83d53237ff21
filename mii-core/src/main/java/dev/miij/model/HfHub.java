package dev.miij.model;

import dev.miij.MiiException;
import java.io.Console;
import java.io.IOException;
import java.io.PrintStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * Resolves Hugging Face model ids to local folders through the huggingface_hub cache, downloading
 * what inference needs when it is absent. The cache layout is the Python library's, so models
 * downloaded by either are shared.
 *
 * <pre>{@code
 * Path dir = HfHub.resolve("Qwen/Qwen3-0.6B");          // or "org/name@revision", or a local folder
 * ModelFolder model = ModelFolder.open(dir);
 *
 * // explicit settings, e.g. a private mirror and cache:
 * var hub = new HfHub(new HfHub.Settings(Path.of("/data/hf"), URI.create("https://mirror.example"), token, false));
 * Path snapshot = hub.snapshot("meta-llama/Llama-3.2-1B-Instruct");
 * }</pre>
 *
 * <p>A snapshot already complete in the cache is used without contacting the hub. Otherwise the
 * hub is asked which commit the revision points to and which files exist; only config, tokenizer
 * and safetensors weight files are downloaded, each resumable after an interruption.
 */
public final class HfHub {

    /**
     * Where and how to reach the hub. {@link #fromEnvironment()} reads the same variables as
     * huggingface_hub; tests and embedders construct it directly.
     *
     * @param cacheDir the hub cache (holding {@code models--org--name} folders)
     * @param endpoint base URL of the hub, without a trailing slash
     * @param token access token for gated and private models, or null
     * @param offline never contact the hub; use the cache only
     */
    public record Settings(Path cacheDir, URI endpoint, String token, boolean offline) {

        public static final URI DEFAULT_ENDPOINT = URI.create("https://huggingface.co");

        public Settings {
            Objects.requireNonNull(cacheDir, "cacheDir");
            String e = Objects.requireNonNull(endpoint, "endpoint").toString();
            while (e.endsWith("/")) {
                e = e.substring(0, e.length() - 1);
            }
            endpoint = URI.create(e);
            token = token == null || token.isBlank() ? null : token.strip();
        }

        /** From this process's environment and home directory. */
        public static Settings fromEnvironment() {
            return fromEnvironment(System.getenv(), Path.of(System.getProperty("user.home")));
        }

        /**
         * From {@code env}: cache {@code HF_HUB_CACHE}, else {@code $HF_HOME/hub}, else
         * {@code ~/.cache/huggingface/hub} ({@code $XDG_CACHE_HOME/huggingface} when that is set);
         * endpoint {@code HF_ENDPOINT}; token {@code HF_TOKEN}, else the file {@code HF_TOKEN_PATH}
         * or {@code $HF_HOME/token} that {@code huggingface-cli login} writes; offline when
         * {@code HF_HUB_OFFLINE} is 1, true, yes or on.
         */
        public static Settings fromEnvironment(Map<String, String> env, Path userHome) {
            Path hfHome = path(env, "HF_HOME", userHome).orElseGet(() -> path(env, "XDG_CACHE_HOME", userHome)
                    .orElse(userHome.resolve(".cache")).resolve("huggingface"));
            Path cache = path(env, "HF_HUB_CACHE", userHome).or(() -> path(env, "HUGGINGFACE_HUB_CACHE", userHome))
                    .orElse(hfHome.resolve("hub"));
            String endpoint = value(env, "HF_ENDPOINT").orElse(DEFAULT_ENDPOINT.toString());
            String token = value(env, "HF_TOKEN").or(() -> value(env, "HUGGING_FACE_HUB_TOKEN"))
                    .orElseGet(() -> readToken(path(env, "HF_TOKEN_PATH", userHome).orElse(hfHome.resolve("token"))));
            boolean offline = value(env, "HF_HUB_OFFLINE").map(v -> v.toLowerCase(Locale.ROOT))
                    .map(v -> v.equals("1") || v.equals("true") || v.equals("yes") || v.equals("on")).orElse(false);
            URI uri;
            try {
                uri = URI.create(endpoint);
            } catch (IllegalArgumentException e) {
                throw MiiException.invalid("HF_ENDPOINT '" + endpoint + "' is not a URL");
            }
            return new Settings(cache, uri, token, offline);
        }

        private static Optional<String> value(Map<String, String> env, String name) {
            return Optional.ofNullable(env.get(name)).map(String::strip).filter(v -> !v.isEmpty());
        }

        private static Optional<Path> path(Map<String, String> env, String name, Path userHome) {
            return value(env, name).map(v -> v.equals("~") || v.startsWith("~/") ? userHome.resolve(v.substring(Math.min(2, v.length()))) : Path.of(v));
        }

        private static String readToken(Path file) {
            try {
                return Files.isRegularFile(file) ? Files.readString(file).strip() : null;
            } catch (IOException e) {
                return null; // an unreadable token file is treated like none; the hub's 401 then explains
            }
        }

        /** Never prints the token. */
        @Override
        public String toString() {
            return "Settings[cacheDir=" + cacheDir + ", endpoint=" + endpoint + ", token=" + (token == null ? "none" : "***")
                    + ", offline=" + offline + "]";
        }
    }

    private final Settings settings;
    private final HubHttp http;
    private final DownloadProgress progress;
    private final HubDownload download;

    public HfHub(Settings settings) {
        this(settings, System.err, isTerminal(), 1000, 60_000);
    }

    HfHub(Settings settings, PrintStream log, boolean terminal, long retryDelayMillis, long stallMillis) {
        this.settings = settings;
        this.http = new HubHttp(settings.endpoint(), settings.token());
        this.progress = new DownloadProgress(log, terminal, System::nanoTime);
        this.download = new HubDownload(http, progress, retryDelayMillis, stallMillis);
    }

    private static boolean isTerminal() {
        Console c = System.console();
        return c != null && c.isTerminal();
    }

    /**
     * A model argument as users type it: an existing local path is returned as is; otherwise
     * {@code org/name} or {@code org/name@revision} is fetched through the cache (settings from the
     * environment).
     *
     * @throws MiiException NOT_FOUND when the argument is neither a folder nor a hub id
     */
    public static Path resolve(String modelArgument) {
        return new HfHub(Settings.fromEnvironment()).resolveArgument(modelArgument);
    }

    /** {@link #resolve(String)} with this instance's settings. */
    public Path resolveArgument(String modelArgument) {
        try {
            Path local = Path.of(modelArgument);
            if (Files.exists(local)) {
                return local;
            }
        } catch (InvalidPathException e) {
            // not a path on this system; it may still be a hub id
        }
        if (HubId.looksLikeHubId(modelArgument)) {
            return snapshot(modelArgument);
        }
        throw MiiException.notFound("'" + modelArgument + "' is neither a local model folder (no such path) nor a Hugging Face"
                + " model id of the form org/name[@revision]");
    }

    /**
     * The local snapshot folder of {@code org/name} or {@code org/name@revision}, downloading what
     * is missing.
     */
    public Path snapshot(String modelId) {
        HubId id = HubId.parse(modelId);
        HubCache cache = new HubCache(settings.cacheDir(), id.repoId());
        Optional<Path> cached = cache.cachedSnapshot(id);
        if (cached.isPresent() && isComplete(cached.get())) {
            return cached.get();
        }
        if (settings.offline()) {
            // As huggingface_hub does offline, a partial snapshot is still returned; ModelFolder then names what it lacks.
            return cached.orElseThrow(() -> MiiException.notFound("model " + id + " is not in the Hugging Face cache at "
                    + settings.cacheDir() + " and HF_HUB_OFFLINE is set; download it once while online"));
        }
        HubHttp.RepoInfo info = http.repoInfo(id);
        if (!id.revisionIsCommit()) {
            cache.writeRef(id.revision(), info.commit());
        }
        List<String> first = HubFiles.firstPass(id, info.files());
        progress.note("fetching " + id + " (commit " + info.commit().substring(0, Math.min(12, info.commit().length())) + ") from "
                + settings.endpoint() + " into " + cache.repoDir());
        for (String file : first) {
            fetch(cache, id, info.commit(), file);
        }
        Path snapshot = cache.snapshotDir(info.commit());
        if (first.contains(CheckpointFiles.INDEX)) {
            var weightMap = CheckpointFiles.readWeightMap(snapshot.resolve(CheckpointFiles.INDEX));
            for (String shard : HubFiles.shards(id, info.files(), weightMap.values())) {
                fetch(cache, id, info.commit(), shard);
            }
        }
        return snapshot;
    }

    /** A cached snapshot is trusted without the network when it has config, tokenizer and every weight file. */
    static boolean isComplete(Path snapshot) {
        return Files.isRegularFile(snapshot.resolve(ModelFolder.CONFIG))
                && Files.isRegularFile(snapshot.resolve(ModelFolder.TOKENIZER))
                && CheckpointFiles.isComplete(snapshot);
    }

    private void fetch(HubCache cache, HubId id, String commit, String file) {
        Path target = cache.snapshotDir(commit).resolve(file);
        if (Files.exists(target)) {
            return; // follows the link: present only if its blob is
        }
        URI url = http.resolveUrl(id.repoId(), commit, file);
        HubHttp.FileMeta meta = http.head(url, id, file);
        Path blob = cache.blob(meta.etag());
        try {
            cache.withBlobLock(meta.etag(), () -> {
                if (!Files.exists(blob)) {
                    Files.createDirectories(blob.getParent());
                    download.fetch(id, url, blob, cache.incomplete(meta.etag()), meta.size(), file);
                }
                return null;
            });
        } catch (IOException e) {
            throw MiiException.io("cannot write to the Hugging Face cache at " + settings.cacheDir() + ": " + e.getMessage(), e);
        }
        cache.link(commit, file, meta.etag());
    }

    /** The settings this instance uses. */
    public Settings settings() {
        return settings;
    }
}
