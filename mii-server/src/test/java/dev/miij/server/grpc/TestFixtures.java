package dev.miij.server.grpc;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;

/** The tiny fixture models of mii-core's tests, for tests that run a real engine. */
public final class TestFixtures {

    public static final Path LLAMA2 = Path.of("../mii-core/src/test/resources/fixtures/llama2").toAbsolutePath().normalize();

    private TestFixtures() {
    }

    /** The fixture's reference cases (prompt, prompt_ids, greedy_ids from transformers). */
    public static JsonNode cases(Path fixture) {
        try {
            return new ObjectMapper().readTree(fixture.resolve("reference.json").toFile()).get("cases");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
