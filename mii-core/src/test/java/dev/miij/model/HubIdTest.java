package dev.miij.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.MiiException;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

class HubIdTest {

    @ParameterizedTest
    @ValueSource(strings = {"Qwen/Qwen3-0.6B", "meta-llama/Llama-3.2-1B-Instruct", "a/b@main", "org/name@refs/pr/1", "o_1/n.v2@v1.0"})
    void acceptsHubIds(String s) {
        assertTrue(HubId.looksLikeHubId(s), s);
    }

    @ParameterizedTest
    @ValueSource(strings = {"gpt2", "/abs/path", "./rel/path", "a/b/c", "a//b", "-a/b", "a/b.", "a--x/b", "a/b@", "a/b@../../x", "a/b c", "~/models/x", ".."})
    void rejectsOtherShapes(String s) {
        assertFalse(HubId.looksLikeHubId(s), s);
    }

    @Test
    void revisionDefaultsToMain() {
        assertEquals(new HubId("org/name", "main"), HubId.parse("org/name"));
        assertEquals(new HubId("org/name", "v2"), HubId.parse("org/name@v2"));
        assertEquals("org/name@v2", HubId.parse("org/name@v2").toString());
        assertTrue(HubId.parse("o/n@0123456789abcdef0123456789abcdef01234567").revisionIsCommit());
        assertFalse(HubId.parse("o/n").revisionIsCommit());
        assertEquals(MiiException.Kind.INVALID_ARGUMENT, assertThrows(MiiException.class, () -> HubId.parse("nope")).kind());
    }

    @Test
    void pathsAreEncodedPerSegment() {
        assertEquals("refs%2Fpr%2F1", HubHttp.encodeSegment("refs/pr/1"));
        assertEquals("a/b%20c", HubHttp.encodePath("a/b c"));
        assertEquals("abc", HubHttp.normalizeEtag("W/\"abc\""));
        assertEquals("abc", HubHttp.normalizeEtag("\"abc\""));
    }
}
