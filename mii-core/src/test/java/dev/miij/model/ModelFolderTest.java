package dev.miij.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.MiiException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelFolderTest {

    @TempDir
    Path dir;

    private void write(String name, String content) throws IOException {
        Files.writeString(dir.resolve(name), content);
    }

    private static void assertFails(MiiException.Kind kind, Runnable r, String... fragments) {
        MiiException e = assertThrows(MiiException.class, r::run);
        assertEquals(kind, e.kind(), e.getMessage());
        for (String f : fragments) {
            assertTrue(e.getMessage().contains(f), "message lacks '" + f + "': " + e.getMessage());
        }
    }

    @Test
    void readsConfigTokenizerAndWeights() throws IOException {
        write("config.json", "{\"model_type\": \"llama\", \"hidden_size\": 4}");
        write("tokenizer.json", "{}");
        new SafeTensorsWriter().add("w", DType.F32, new long[] {1}, 3).write(dir.resolve("model.safetensors"));

        ModelFolder m = ModelFolder.open(dir);
        assertEquals(dir, m.dir());
        assertEquals("llama", m.modelType());
        assertEquals(4, m.config().get("hidden_size").asInt());
        assertEquals(dir.resolve("tokenizer.json"), m.tokenizerJson());
        try (WeightSource w = m.openWeights()) {
            assertEquals(3f, w.get("w").getFloat(0));
        }
    }

    @Test
    void generationConfigWithEosList() throws IOException {
        write("config.json", "{\"model_type\": \"llama\", \"eos_token_id\": 1}");
        write("generation_config.json", """
                {"bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "do_sample": true,
                 "temperature": 0.6, "top_p": 0.9, "top_k": 20, "max_length": 4096, "max_new_tokens": null,
                 "transformers_version": "4.45.0"}""");
        GenerationConfig g = ModelFolder.open(dir).generationConfig();
        assertArrayEquals(new int[] {128001, 128008, 128009}, g.eosTokenIds());
        assertTrue(g.isEos(128009));
        assertEquals(128000, g.bosTokenId());
        assertNull(g.padTokenId());
        assertEquals(Boolean.TRUE, g.doSample());
        assertEquals(0.6, g.temperature());
        assertEquals(0.9, g.topP());
        assertEquals(20, g.topK());
        assertEquals(4096, g.maxLength());
        assertNull(g.maxNewTokens());
    }

    @Test
    void generationConfigWithEosInt() throws IOException {
        write("config.json", "{\"model_type\": \"gpt2\"}");
        write("generation_config.json", "{\"eos_token_id\": 50256, \"pad_token_id\": 0, \"temperature\": 1}");
        GenerationConfig g = ModelFolder.open(dir).generationConfig();
        assertArrayEquals(new int[] {50256}, g.eosTokenIds());
        assertEquals(0, g.padTokenId());
        assertEquals(1.0, g.temperature());
        assertNull(g.doSample());
        assertNull(g.topK());
    }

    @Test
    void withoutGenerationConfigTokenIdsComeFromConfig() throws IOException {
        write("config.json", "{\"model_type\": \"gemma3\", \"do_sample\": true, \"text_config\": {\"eos_token_id\": [1, 106], \"bos_token_id\": 2}}");
        GenerationConfig g = ModelFolder.open(dir).generationConfig();
        assertArrayEquals(new int[] {1, 106}, g.eosTokenIds());
        assertEquals(2, g.bosTokenId());
        assertNull(g.doSample(), "only token ids are taken from config.json");
    }

    @Test
    void emptyGenerationConfigStatesNothing() throws IOException {
        write("config.json", "{\"model_type\": \"x\"}");
        write("generation_config.json", "{}");
        assertEquals(GenerationConfig.EMPTY, ModelFolder.open(dir).generationConfig());
    }

    @Test
    void wrongTypesInGenerationConfigAreCorrupt() throws IOException {
        write("config.json", "{\"model_type\": \"x\"}");
        write("generation_config.json", "{\"eos_token_id\": \"</s>\"}");
        assertFails(MiiException.Kind.CORRUPT, () -> ModelFolder.open(dir), "eos_token_id", "generation_config.json");
        write("generation_config.json", "{\"eos_token_id\": [1, 2.5]}");
        assertFails(MiiException.Kind.CORRUPT, () -> ModelFolder.open(dir), "integer");
        write("generation_config.json", "{\"do_sample\": \"yes\"}");
        assertFails(MiiException.Kind.CORRUPT, () -> ModelFolder.open(dir), "do_sample");
    }

    @Test
    void repeatedKeyInConfigKeepsTheLastLikePython() throws IOException {
        write("config.json", "{\"model_type\": \"old\", \"model_type\": \"qwen2\"}");
        assertEquals("qwen2", ModelFolder.open(dir).modelType());
    }

    @Test
    void missingFolderNamesThePath() {
        Path missing = dir.resolve("nope");
        assertFails(MiiException.Kind.NOT_FOUND, () -> ModelFolder.open(missing), "does not exist", missing.toString());
    }

    @Test
    void fileInsteadOfFolder() throws IOException {
        write("config.json", "{}");
        assertFails(MiiException.Kind.NOT_FOUND, () -> ModelFolder.open(dir.resolve("config.json")), "not a model folder");
    }

    @Test
    void folderWithoutConfig() {
        assertFails(MiiException.Kind.NOT_FOUND, () -> ModelFolder.open(dir), "no config.json", dir.toString());
    }

    @Test
    void brokenConfigJson() throws IOException {
        write("config.json", "{\"model_type\": ");
        assertFails(MiiException.Kind.CORRUPT, () -> ModelFolder.open(dir), "config.json", "not valid JSON");
    }

    @Test
    void missingModelTypeAndTokenizer() throws IOException {
        write("config.json", "{}");
        ModelFolder m = ModelFolder.open(dir);
        assertFails(MiiException.Kind.UNSUPPORTED, m::modelType, "model_type");
        assertFails(MiiException.Kind.NOT_FOUND, m::tokenizerJson, "tokenizer.json");
    }
}
