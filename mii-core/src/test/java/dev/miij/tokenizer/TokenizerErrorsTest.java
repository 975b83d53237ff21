package dev.miij.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.MiiException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenizerErrorsTest {

    private static final String MODEL = """
            {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}""";

    @TempDir
    Path dir;

    private MiiException load(String json) throws IOException {
        Path file = dir.resolve("tokenizer.json");
        Files.writeString(file, json);
        return assertThrows(MiiException.class, () -> Tokenizer.fromFile(file));
    }

    private void assertMentions(MiiException e, String... parts) {
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "message should mention \"" + part + "\": " + e.getMessage());
        }
    }

    @Test
    void unsupportedPreTokenizerNamesFileTypeAndAlternatives() throws IOException {
        MiiException e = load("{\"pre_tokenizer\": {\"type\": \"Foo\"}, \"model\": " + MODEL + "}");
        assertEquals(MiiException.Kind.UNSUPPORTED, e.kind());
        assertMentions(e, "unsupported pre_tokenizer type 'Foo'", dir.resolve("tokenizer.json").toString(),
                "supported:", "ByteLevel", "Metaspace");
    }

    @Test
    void unsupportedComponentInsideASequence() throws IOException {
        MiiException e = load("{\"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"NFC\"},"
                + " {\"type\": \"Cyrillic\"}]}, \"model\": " + MODEL + "}");
        assertEquals(MiiException.Kind.UNSUPPORTED, e.kind());
        assertMentions(e, "normalizer type 'Cyrillic'", "BertNormalizer");
    }

    @Test
    void unsupportedModelAndDecoder() throws IOException {
        assertMentions(load("{\"model\": {\"type\": \"Magic\"}}"), "model type 'Magic'", "WordPiece");
        assertMentions(load("{\"decoder\": {\"type\": \"Bar\"}, \"model\": " + MODEL + "}"), "decoder type 'Bar'");
        assertMentions(load("{\"post_processor\": {\"type\": \"Baz\"}, \"model\": " + MODEL + "}"),
                "post_processor type 'Baz'", "TemplateProcessing");
    }

    @Test
    void corruptFiles() throws IOException {
        MiiException e = load("{\"model\": ");
        assertEquals(MiiException.Kind.CORRUPT, e.kind());
        assertMentions(e, "not valid JSON", dir.resolve("tokenizer.json").toString());

        e = load("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a c\"]}}");
        assertEquals(MiiException.Kind.CORRUPT, e.kind());
        assertMentions(e, "BPE model", "merge 1", "\"c\"", "not in the vocabulary");

        e = load("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b c\"]}}");
        assertMentions(e, "merge 1");

        e = load("{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"a\"}, \"behavior\": \"Sideways\"},"
                + " \"model\": " + MODEL + "}");
        assertMentions(e, "Sideways", "Isolated");

        assertMentions(load("{}"), "missing \"model\"");
        assertMentions(load("[1, 2]"), "not a JSON object");
    }

    @Test
    void unsupportedRegexConstruct() throws IOException {
        MiiException e = load("{\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"a\\\\Kb\"},"
                + " \"behavior\": \"Isolated\"}, \"model\": " + MODEL + "}");
        assertEquals(MiiException.Kind.UNSUPPORTED, e.kind());
        assertMentions(e, "\\K", "tokenizer.json");
    }

    @Test
    void missingFiles() {
        MiiException e = assertThrows(MiiException.class, () -> Tokenizer.fromFile(dir.resolve("nope.json")));
        assertEquals(MiiException.Kind.NOT_FOUND, e.kind());
        e = assertThrows(MiiException.class, () -> Tokenizer.fromModelFolder(dir));
        assertEquals(MiiException.Kind.NOT_FOUND, e.kind());
        assertMentions(e, "tokenizer.json", dir.toString());
    }
}
