package dev.miij.server.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

class JavaCommandTest {

    static boolean explicitHeap() {
        return JavaCommand.inheritedOptions().stream().anyMatch(a -> a.startsWith("-Xmx") || a.startsWith("-XX:MaxRAM")
                || a.startsWith("-XX:MaxHeapSize"));
    }

    static boolean explicitYoung() {
        return JavaCommand.inheritedOptions().stream().anyMatch(a -> a.startsWith("-Xmn") || a.contains("NewSize")
                || a.contains("NewRatio"));
    }

    @Test
    void childrenGetASmallYoungGenerationUnlessOneWasChosen() {
        List<String> cmd = JavaCommand.of(FrontendMain.class, List.of("-Dx=1"), List.of("a"));
        assertEquals(!explicitYoung(), cmd.contains(JavaCommand.SMALL_YOUNG_GENERATION), cmd.toString());
        assertTrue(cmd.indexOf("-Dx=1") < cmd.indexOf("-cp"), "extra options come before the class path");
        assertEquals(List.of(FrontendMain.class.getName(), "a"), cmd.subList(cmd.size() - 2, cmd.size()));
    }

    @Test
    void replicasShareTheDefaultHeapUnlessOneWasChosen() {
        assertEquals(List.of(), JavaCommand.replicaHeap(1), "one replica keeps the JVM's default");
        if (explicitHeap()) {
            assertEquals(List.of(), JavaCommand.replicaHeap(4), "an explicit heap is inherited as it is");
        } else {
            assertEquals(List.of("-XX:MaxRAMPercentage=6.25"), JavaCommand.replicaHeap(4));
            assertEquals(List.of("-XX:MaxRAMPercentage=12.50"), JavaCommand.replicaHeap(2));
        }
    }

    @Test
    void replicasShareTheCoresUnlessTheThreadsWereChosen() {
        assertTrue(JavaCommand.replicaOptions(1, 8, null).stream().noneMatch(o -> o.startsWith("-Dmii.threads")),
                "one replica uses every core");
        assertTrue(JavaCommand.replicaOptions(2, 8, null).contains("-Dmii.threads=4"));
        assertTrue(JavaCommand.replicaOptions(3, 8, null).contains("-Dmii.threads=2"));
        assertTrue(JavaCommand.replicaOptions(4, 2, null).contains("-Dmii.threads=1"), "at least one thread each");
        assertTrue(JavaCommand.replicaOptions(2, 8, "3").stream().noneMatch(o -> o.startsWith("-Dmii.threads")),
                "a chosen mii.threads is inherited as it is");
        assertTrue(JavaCommand.replicaOptions(2, 8, null).containsAll(JavaCommand.replicaHeap(2)));
    }
}
