package dev.miij.tokenizer;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates the third-party test files fetched by scripts/fetch-test-data. */
final class TestData {

    private TestData() {}

    /** The .testdata folder: system property mii.testdata, else the one at the repository root. */
    static Path root() {
        String prop = System.getProperty("mii.testdata");
        if (prop != null && !prop.isBlank()) {
            return Path.of(prop);
        }
        Path dir = Path.of("").toAbsolutePath();
        for (Path d = dir; d != null; d = d.getParent()) {
            if (Files.isDirectory(d.resolve(".testdata"))) {
                return d.resolve(".testdata");
            }
            boolean repoRoot = (Files.exists(d.resolve("mvnw")) || Files.exists(d.resolve("pom.xml")))
                    && Files.isDirectory(d.resolve("mii-core"));
            if (repoRoot) {
                return d.resolve(".testdata");
            }
        }
        return dir.resolve(".testdata");
    }

    /** The folder of a fetched tokenizer, e.g. {@code tokenizer("llama3")}. */
    static Path tokenizer(String name) {
        return root().resolve("tokenizers").resolve(name);
    }
}
