package dev.miij.cuda;

import dev.miij.testing.Fixtures;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.TreeSet;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** The GPU fixture tests cover every fixture of the core, and read their references (no GPU needed). */
class FixtureReferenceTest {

    @Test
    void everyCoreFixtureIsListed() throws IOException {
        Path root = Fixtures.dir("llama3").getParent();
        TreeSet<String> folders = new TreeSet<>();
        try (Stream<Path> s = Files.list(root)) {
            s.filter(p -> Files.isRegularFile(p.resolve("reference.json"))).forEach(p -> folders.add(p.getFileName().toString()));
        }
        assertEquals(folders, new TreeSet<>(Fixtures.NAMES));
        assertEquals(Fixtures.NAMES.size(), new TreeSet<>(Fixtures.NAMES).size(), "a name listed twice");
    }

    @Test
    void everyFixtureHasFp32CasesAndBf16OnesOnlyWhereRecorded() {
        for (String name : Fixtures.NAMES) {
            List<Fixtures.Case> fp32 = Fixtures.cases(name);
            assertFalse(fp32.isEmpty(), name);
            for (Fixtures.Case c : fp32) {
                assertEquals(c.greedyIds().length, c.margins().length, name);
                assertTrue(c.firstLogits() != null && c.firstLogits().length > 0, name + " has first-step logits");
            }
            List<Fixtures.Case> bf16 = CudaFixtureModelsTest.bf16(name);
            assertTrue(bf16.isEmpty() || bf16.size() == fp32.size(), name + ": " + bf16.size() + " BF16 cases");
        }
        assertTrue(CudaFixtureModelsTest.bf16("no-such-fixture").isEmpty());
    }
}
