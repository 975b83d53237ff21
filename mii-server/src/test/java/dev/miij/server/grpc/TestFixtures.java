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
        checkJackson();
        try {
            return new ObjectMapper().readTree(fixture.resolve("reference.json").toFile()).get("cases");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Loading a model reads JSON through jackson-databind, which fails deep inside with
     * NoClassDefFoundError when an older jackson-core won dependency mediation; say so plainly.
     */
    public static void checkJackson() {
        var core = com.fasterxml.jackson.core.json.PackageVersion.VERSION;
        var databind = com.fasterxml.jackson.databind.cfg.PackageVersion.VERSION;
        if (core.getMajorVersion() != databind.getMajorVersion() || core.getMinorVersion() < databind.getMinorVersion()) {
            throw new IllegalStateException("the test class path has jackson-core " + core + " but jackson-databind "
                    + databind + " (jinjava's jackson-core wins dependency mediation in mii-server); pin"
                    + " com.fasterxml.jackson.core:jackson-core to ${jackson.version} in the parent pom's dependencyManagement");
        }
    }
}
