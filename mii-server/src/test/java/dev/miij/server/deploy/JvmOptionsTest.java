package dev.miij.server.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.util.List;
import org.junit.jupiter.api.Test;

class JvmOptionsTest {

    @Test
    void theOptionsFileIsReadAsTheJavaLauncherReadsIt() {
        assertEquals(List.of("--a", "b", "--c=d"), JvmOptions.parse("# comment\n\n--a b\n  # indented comment\n--c=d\n"));
    }

    @Test
    void theProcessesADeploymentStartsGetWhatThisTestJvmGotFromTheSameFile() {
        List<String> required = JvmOptions.required();
        assertTrue(required.containsAll(List.of("--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED")),
                required.toString());
        // Maven starts this JVM with @scripts/jvm.options, which the launcher expands into these arguments.
        List<String> mine = ManagementFactory.getRuntimeMXBean().getInputArguments();
        assertTrue(mine.contains("--add-modules=jdk.incubator.vector"), mine.toString());
        assertTrue(mine.contains("--enable-native-access=ALL-UNNAMED"), mine.toString());
    }
}
