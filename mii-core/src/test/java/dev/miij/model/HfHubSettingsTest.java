package dev.miij.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HfHubSettingsTest {

    @TempDir
    Path home;

    private HfHub.Settings settings(Map<String, String> env) {
        return HfHub.Settings.fromEnvironment(env, home);
    }

    @Test
    void defaultsFollowHuggingfaceHub() {
        HfHub.Settings s = settings(Map.of());
        assertEquals(home.resolve(".cache/huggingface/hub"), s.cacheDir());
        assertEquals(URI.create("https://huggingface.co"), s.endpoint());
        assertNull(s.token());
        assertFalse(s.offline());
    }

    @Test
    void hfHomeMovesCacheAndTokenFile() throws IOException {
        Path hfHome = Files.createDirectories(home.resolve("hf"));
        Files.writeString(hfHome.resolve("token"), "hf_fromfile\n");
        HfHub.Settings s = settings(Map.of("HF_HOME", hfHome.toString()));
        assertEquals(hfHome.resolve("hub"), s.cacheDir());
        assertEquals("hf_fromfile", s.token());
    }

    @Test
    void hubCacheWinsOverHfHomeAndTildeExpands() {
        HfHub.Settings s = settings(Map.of("HF_HOME", "/elsewhere", "HF_HUB_CACHE", "~/models"));
        assertEquals(home.resolve("models"), s.cacheDir());
        assertEquals(Path.of("/legacy"), settings(Map.of("HUGGINGFACE_HUB_CACHE", "/legacy")).cacheDir());
        assertEquals(home.resolve("xdg/huggingface/hub"), settings(Map.of("XDG_CACHE_HOME", home.resolve("xdg").toString())).cacheDir());
    }

    @Test
    void tokenEndpointAndOfflineFromEnvironment() throws IOException {
        Files.createDirectories(home.resolve(".cache/huggingface"));
        Files.writeString(home.resolve(".cache/huggingface/token"), "hf_file");
        HfHub.Settings s = settings(Map.of("HF_TOKEN", " hf_env ", "HF_ENDPOINT", "https://mirror.example/", "HF_HUB_OFFLINE", "1"));
        assertEquals("hf_env", s.token(), "HF_TOKEN wins over the token file");
        assertEquals(URI.create("https://mirror.example"), s.endpoint());
        assertTrue(s.offline());
        assertTrue(settings(Map.of("HF_HUB_OFFLINE", "TRUE")).offline());
        assertFalse(settings(Map.of("HF_HUB_OFFLINE", "0")).offline());
        assertEquals("hf_file", settings(Map.of()).token());
        assertNull(settings(Map.of("HF_TOKEN_PATH", home.resolve("none").toString())).token());
    }

    @Test
    void toStringHidesTheToken() {
        HfHub.Settings s = new HfHub.Settings(home, URI.create("http://h"), "hf_secret", false);
        assertFalse(s.toString().contains("hf_secret"), s.toString());
        assertTrue(s.toString().contains("***"));
    }
}
