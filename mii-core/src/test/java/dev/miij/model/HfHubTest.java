package dev.miij.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.MiiException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(20)
class HfHubTest {

    static final String COMMIT = "0123456789abcdef0123456789abcdef01234567";
    static final String ID = "acme/tiny-llama";

    @TempDir
    Path tmp;

    FakeHub server;
    Path cache;
    ByteArrayOutputStream log = new ByteArrayOutputStream();
    byte[] weights;

    @BeforeEach
    void start() throws IOException {
        server = new FakeHub();
        cache = tmp.resolve("hub");
        Path w = new SafeTensorsWriter().add("w", DType.F32, new long[] {2}, 1, 2).write(tmp.resolve("w.safetensors"));
        weights = Files.readAllBytes(w);
    }

    @AfterEach
    void stop() {
        server.close();
    }

    private FakeHub.Repo tinyRepo() {
        return server.repo(ID, COMMIT)
                .file("config.json", "{\"model_type\":\"llama\"}")
                .file("generation_config.json", "{\"eos_token_id\": 2}")
                .file("tokenizer.json", "{}")
                .file("README.md", "# tiny")
                .file(".gitattributes", "*.safetensors filter=lfs")
                .lfsFile("model.safetensors", weights)
                .lfsFile("pytorch_model.bin", new byte[] {1, 2, 3})
                .lfsFile("onnx/model.onnx", new byte[] {4});
    }

    private HfHub hub(String token, boolean offline) {
        return new HfHub(new HfHub.Settings(cache, server.endpoint(), token, offline), new PrintStream(log, true), false, 1, 500);
    }

    private HfHub hub() {
        return hub(null, false);
    }

    private static MiiException fails(MiiException.Kind kind, Runnable r, String... fragments) {
        MiiException e = assertThrows(MiiException.class, r::run);
        assertEquals(kind, e.kind(), e.getMessage());
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "message lacks '" + f + "': " + e.getMessage());
        }
        return e;
    }

    @Test
    void downloadsOnlyInferenceFilesInTheHubCacheLayout() throws IOException {
        FakeHub.Repo repo = tinyRepo();
        Path snap = hub().snapshot(ID);

        Path repoDir = cache.resolve("models--acme--tiny-llama");
        assertEquals(repoDir.resolve("snapshots").resolve(COMMIT), snap);
        assertEquals(COMMIT, Files.readString(repoDir.resolve("refs/main")));
        try (var files = Files.list(snap)) {
            assertEquals(List.of("config.json", "generation_config.json", "model.safetensors", "tokenizer.json"),
                    files.map(p -> p.getFileName().toString()).sorted().toList());
        }
        String lfsEtag = FakeHub.etagOf(repo, "model.safetensors");
        Path link = snap.resolve("model.safetensors");
        assertTrue(Files.isSymbolicLink(link));
        assertEquals(Path.of("../../blobs/" + lfsEtag), Files.readSymbolicLink(link));
        assertArrayEquals(weights, Files.readAllBytes(link));
        // The weak ETag W/"..." of a small file names its blob without prefix or quotes.
        assertEquals(Path.of("../../blobs/" + FakeHub.etagOf(repo, "config.json")), Files.readSymbolicLink(snap.resolve("config.json")));

        ModelFolder folder = ModelFolder.open(snap);
        assertEquals("llama", folder.modelType());
        try (WeightSource ws = folder.openWeights()) {
            assertArrayEquals(new float[] {1, 2}, ws.get("w").toFloatArray());
        }
        assertTrue(server.requests("/cdn/").stream().noneMatch(r -> r.path().contains(FakeHub.etagOf(repo, "pytorch_model.bin"))));
        assertTrue(log.toString().contains("downloaded model.safetensors"), log.toString());
    }

    @Test
    void completeSnapshotIsReusedWithoutNetwork() {
        tinyRepo();
        Path first = hub().snapshot(ID);
        server.close();
        int before = server.requests.size();
        assertEquals(first, hub().snapshot(ID));
        assertEquals(first, hub().resolveArgument(ID));
        assertEquals(before, server.requests.size());
    }

    @Test
    void offlineModeUsesTheCacheOrSaysWhatIsMissing() {
        fails(MiiException.Kind.NOT_FOUND, () -> hub(null, true).snapshot(ID), "not in the Hugging Face cache", "HF_HUB_OFFLINE");
        assertTrue(server.requests.isEmpty());
        tinyRepo();
        Path snap = hub().snapshot(ID);
        assertEquals(snap, hub(null, true).snapshot(ID));
    }

    @Test
    void tokenIsRequiredByTheEndpointButNotSentToTheCdn() throws IOException {
        tinyRepo();
        server.requiredToken = "hf_secret";
        MiiException e = fails(MiiException.Kind.NOT_FOUND, () -> hub().snapshot(ID), "HF_TOKEN", "gated", "401");
        assertFalse(e.getMessage().contains("hf_secret"));

        Path snap = hub("hf_secret", false).snapshot(ID);
        assertArrayEquals(weights, Files.readAllBytes(snap.resolve("model.safetensors")));
        assertTrue(server.requests("/api/").stream().allMatch(r -> "Bearer hf_secret".equals(r.authorization()) || r.authorization() == null));
        assertTrue(server.requests("/acme/").stream().allMatch(r -> "Bearer hf_secret".equals(r.authorization())));
        List<FakeHub.Request> cdn = server.requests("/cdn/");
        assertFalse(cdn.isEmpty());
        assertTrue(cdn.stream().allMatch(r -> r.authorization() == null), "the token must not follow a redirect to another host");
    }

    @Test
    void wrongTokenIsReportedAsSuch() {
        tinyRepo();
        server.requiredToken = "hf_secret";
        fails(MiiException.Kind.NOT_FOUND, () -> hub("hf_wrong", false).snapshot(ID), "does not grant access");
    }

    @Test
    void unknownModelIs404() {
        fails(MiiException.Kind.NOT_FOUND, () -> hub().snapshot("acme/nothing-here"), "model acme/nothing-here not found on the hub (or no access)");
    }

    @Test
    void interruptedDownloadResumesWithRange() throws IOException {
        byte[] big = new byte[300_000];
        new Random(7).nextBytes(big);
        FakeHub.Repo repo = tinyRepo().lfsFile("model.safetensors", big);
        String etag = FakeHub.etagOf(repo, "model.safetensors");
        server.cutAfter.put(etag, new int[] {1, 100_000});

        Path snap = hub().snapshot(ID);

        assertArrayEquals(big, Files.readAllBytes(snap.resolve("model.safetensors")));
        List<FakeHub.Request> gets = server.requests("/cdn/" + etag);
        assertEquals(2, gets.size(), gets.toString());
        assertNull(gets.get(0).range());
        assertTrue(gets.get(1).range().matches("bytes=\\d+-"), gets.toString());
        long resumedAt = Long.parseLong(gets.get(1).range().replaceAll("\\D", ""));
        assertTrue(resumedAt > 0 && resumedAt <= 100_000, gets.toString());
        assertFalse(Files.exists(cache.resolve("models--acme--tiny-llama/blobs/" + etag + ".incomplete")));
    }

    @Test
    void stalledConnectionIsAbandonedAndResumed() throws IOException {
        byte[] big = new byte[80_000];
        new Random(6).nextBytes(big);
        FakeHub.Repo repo = tinyRepo().lfsFile("model.safetensors", big);
        String etag = FakeHub.etagOf(repo, "model.safetensors");
        server.stallAfter.put(etag, new int[] {1, 20_000});

        Path snap = hub().snapshot(ID);

        assertArrayEquals(big, Files.readAllBytes(snap.resolve("model.safetensors")));
        List<FakeHub.Request> gets = server.requests("/cdn/" + etag);
        assertEquals(2, gets.size(), gets.toString());
        assertTrue(gets.get(1).range() != null, gets.toString());
    }

    @Test
    void partialFileOfAnEarlierRunIsResumed() throws IOException {
        byte[] big = new byte[50_000];
        new Random(8).nextBytes(big);
        FakeHub.Repo repo = tinyRepo().lfsFile("model.safetensors", big);
        String etag = FakeHub.etagOf(repo, "model.safetensors");
        Path blobs = Files.createDirectories(cache.resolve("models--acme--tiny-llama/blobs"));
        Files.write(blobs.resolve(etag + ".incomplete"), java.util.Arrays.copyOf(big, 12_345));

        Path snap = hub().snapshot(ID);

        assertArrayEquals(big, Files.readAllBytes(snap.resolve("model.safetensors")));
        assertEquals(List.of("bytes=12345-"), server.requests("/cdn/" + etag).stream().map(FakeHub.Request::range).toList());
    }

    @Test
    void serverIgnoringRangeRestartsTheFile() throws IOException {
        byte[] big = new byte[40_000];
        new Random(9).nextBytes(big);
        FakeHub.Repo repo = tinyRepo().lfsFile("model.safetensors", big);
        String etag = FakeHub.etagOf(repo, "model.safetensors");
        Path blobs = Files.createDirectories(cache.resolve("models--acme--tiny-llama/blobs"));
        Files.write(blobs.resolve(etag + ".incomplete"), new byte[10_000]); // wrong bytes: only a full restart repairs them
        server.ignoreRangeTimes.set(1);

        Path snap = hub().snapshot(ID);
        assertArrayEquals(big, Files.readAllBytes(snap.resolve("model.safetensors")));
        assertEquals("bytes=10000-", server.requests("/cdn/" + etag).get(0).range());
    }

    @Test
    void sizeDifferentFromTheAnnouncedOneIsRejected() {
        tinyRepo();
        server.oversized.add("model.safetensors");
        fails(MiiException.Kind.CORRUPT, () -> hub().snapshot(ID), "model.safetensors", "announced");
        assertFalse(HfHub.isComplete(cache.resolve("models--acme--tiny-llama/snapshots/" + COMMIT)));
    }

    @Test
    void persistentDropsFailWithIoKeepingThePartialFile() throws IOException {
        byte[] big = new byte[30_000];
        new Random(5).nextBytes(big);
        FakeHub.Repo repo = tinyRepo().lfsFile("model.safetensors", big);
        String etag = FakeHub.etagOf(repo, "model.safetensors");
        Path partial = Files.createDirectories(cache.resolve("models--acme--tiny-llama/blobs")).resolve(etag + ".incomplete");
        Files.write(partial, java.util.Arrays.copyOf(big, 500));
        server.cutAfter.put(etag, new int[] {100, 0}); // every attempt dies before its first byte

        fails(MiiException.Kind.IO, () -> hub().snapshot(ID), "model.safetensors", "times in a row", "resumes");
        assertEquals(HubDownload.ATTEMPTS, server.requests("/cdn/" + etag).size());
        assertEquals(500, Files.size(partial), "what was received is kept for the next run");

        server.cutAfter.clear();
        assertArrayEquals(big, Files.readAllBytes(hub().snapshot(ID).resolve("model.safetensors")));
    }

    @Test
    void dropsWithProgressKeepRetrying() throws IOException {
        byte[] big = new byte[50_000];
        new Random(4).nextBytes(big);
        FakeHub.Repo repo = tinyRepo().lfsFile("model.safetensors", big);
        String etag = FakeHub.etagOf(repo, "model.safetensors");
        server.cutAfter.put(etag, new int[] {2 * HubDownload.ATTEMPTS, 5_000});

        assertArrayEquals(big, Files.readAllBytes(hub().snapshot(ID).resolve("model.safetensors")));
        assertEquals(2 * HubDownload.ATTEMPTS + 1, server.requests("/cdn/" + etag).size());
    }

    @Test
    void shardedModelFetchesOnlyIndexedShards() throws IOException {
        byte[] s1 = Files.readAllBytes(new SafeTensorsWriter().add("a", DType.F32, new long[] {1}, 1).write(tmp.resolve("1.st")));
        byte[] s2 = Files.readAllBytes(new SafeTensorsWriter().add("b", DType.F32, new long[] {1}, 2).write(tmp.resolve("2.st")));
        server.repo(ID, COMMIT)
                .file("config.json", "{\"model_type\":\"mistral\"}")
                .file("tokenizer.json", "{}")
                .file("model.safetensors.index.json", "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\","
                        + "\"b\":\"model-00002-of-00002.safetensors\"}}")
                .lfsFile("model-00001-of-00002.safetensors", s1)
                .lfsFile("model-00002-of-00002.safetensors", s2)
                .lfsFile("consolidated.safetensors", new byte[] {9, 9, 9});

        Path snap = hub().snapshot(ID);
        assertFalse(Files.exists(snap.resolve("consolidated.safetensors")));
        try (WeightSource ws = ModelFolder.open(snap).openWeights()) {
            assertEquals(2f, ws.get("b").getFloat(0));
        }
        assertTrue(HfHub.isComplete(snap));
    }

    @Test
    void pickleOnlyRepositoryAsksForConversion() {
        server.repo(ID, COMMIT).file("config.json", "{}").lfsFile("pytorch_model.bin", new byte[] {1});
        fails(MiiException.Kind.UNSUPPORTED, () -> hub().snapshot(ID), "pytorch_model.bin", "safe_serialization=True");
        assertTrue(server.requests("/acme/").isEmpty(), "nothing is downloaded");
    }

    @Test
    void explicitRevisionGetsItsOwnRefAndCommitNeedsNone() {
        tinyRepo();
        Path snap = hub().snapshot(ID + "@v1.0");
        Path repoDir = cache.resolve("models--acme--tiny-llama");
        assertTrue(Files.exists(repoDir.resolve("refs/v1.0")));
        assertFalse(Files.exists(repoDir.resolve("refs/main")));
        assertTrue(server.requests("/api/").get(0).path().endsWith("/revision/v1.0"));
        server.close();
        assertEquals(snap, hub().snapshot(ID + "@" + COMMIT), "a commit hash resolves from the cache alone");
    }

    @Test
    void renamedRepositoryRedirectIsFollowed() throws IOException {
        tinyRepo();
        server.repos.put("acme/old-name", server.repos.get(ID));
        server.renamed.put("acme/old-name", ID);
        Path snap = hub("tok", false).snapshot("acme/old-name");
        assertArrayEquals(weights, Files.readAllBytes(snap.resolve("model.safetensors")));
        assertTrue(server.requests("/acme/tiny-llama/resolve/").stream().allMatch(r -> "Bearer tok".equals(r.authorization())),
                "a same-host redirect keeps the token");
    }

    @Test
    void unreachableEndpointIsAnIoErrorNamingIt() {
        server.close();
        MiiException e = fails(MiiException.Kind.IO, () -> hub().snapshot(ID), server.endpoint().toString(), "HF_HUB_OFFLINE");
        assertTrue(e.getCause() instanceof IOException);
    }

    @Test
    void resolveArgumentPrefersLocalPathsThenHubIds() throws IOException {
        Path local = Files.createDirectories(tmp.resolve("acme/local-model"));
        assertEquals(local, hub().resolveArgument(local.toString()));
        assertTrue(server.requests.isEmpty());
        tinyRepo();
        assertEquals(cache.resolve("models--acme--tiny-llama/snapshots/" + COMMIT), hub().resolveArgument(ID));
        fails(MiiException.Kind.NOT_FOUND, () -> hub().resolveArgument("no-such-folder"), "neither a local model folder", "org/name");
        fails(MiiException.Kind.NOT_FOUND, () -> hub().resolveArgument("./a/b/c"), "neither");
    }
}
