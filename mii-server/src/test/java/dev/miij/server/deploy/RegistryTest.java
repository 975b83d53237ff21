package dev.miij.server.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class RegistryTest {

    @TempDir
    Path dir;

    static RegistryEntry entry(String name, long pid, long pidStart) {
        return new RegistryEntry(name, "models/m", "127.0.0.1", 50050, null, pid, pidStart, List.of(50051, 50052),
                List.of(11L, 12L), "2025-01-01T00:00:00Z", true, null);
    }

    static RegistryEntry self(String name) {
        ProcessHandle me = ProcessHandle.current();
        return entry(name, me.pid(), Registry.startOf(me));
    }

    /** A pid that belonged to a process that has exited. */
    static long deadPid() throws Exception {
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        return p.pid();
    }

    @Test
    void findsWhatWasWritten() {
        Registry r = new Registry(dir.resolve("state"));
        r.write(self("a"));
        assertEquals(self("a"), r.find("a").orElseThrow());
        assertTrue(r.find("b").isEmpty());
    }

    @Test
    void listsLiveDeploymentsByName() {
        Registry r = new Registry(dir);
        r.write(self("zeta"));
        r.write(self("alpha"));
        assertEquals(List.of("alpha", "zeta"), r.list().stream().map(RegistryEntry::name).toList());
    }

    @Test
    void entriesOfDeadProcessesAreIgnoredAndDeleted() throws Exception {
        Registry r = new Registry(dir);
        r.write(entry("gone", deadPid(), -1));
        r.write(self("here"));
        assertEquals(List.of("here"), r.list().stream().map(RegistryEntry::name).toList());
        assertFalse(Files.exists(dir.resolve("gone.json")));
        r.write(entry("gone2", deadPid(), -1));
        assertTrue(r.find("gone2").isEmpty());
        assertFalse(Files.exists(dir.resolve("gone2.json")));
    }

    @Test
    void aReusedPidIsNotTheDeployment() {
        Registry r = new Registry(dir);
        ProcessHandle me = ProcessHandle.current();
        // Our pid, but a start time an hour off: some other process got the pid.
        r.write(entry("reused", me.pid(), Registry.startOf(me) - 3_600_000));
        assertTrue(r.find("reused").isEmpty());
    }

    @Test
    void theReplicaKeyIsOwnerOnlyAndGoesWithTheEntry() throws Exception {
        Registry r = new Registry(dir);
        r.write(self("keyed"));
        r.writeReplicaKey("keyed", "k3y");
        assertEquals("k3y", r.replicaKey("keyed").orElseThrow());
        assertEquals(java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"),
                Files.getPosixFilePermissions(dir.resolve("keyed.replica-key")));
        r.remove("keyed", ProcessHandle.current().pid());
        assertFalse(Files.exists(dir.resolve("keyed.replica-key")));
        assertTrue(r.replicaKey("keyed").isEmpty());

        r.write(entry("dead", deadPid(), -1));
        r.writeReplicaKey("dead", "old");
        assertTrue(r.replicaKey("dead").isEmpty(), "no key of a deployment that is gone");
        assertFalse(Files.exists(dir.resolve("dead.replica-key")));
    }

    @Test
    void removeOnlyTakesTheOwnersEntry() {
        Registry r = new Registry(dir);
        r.write(self("mine"));
        r.remove("mine", 1);
        assertTrue(r.find("mine").isPresent(), "another pid must not remove it");
        r.remove("mine", ProcessHandle.current().pid());
        assertTrue(r.find("mine").isEmpty());
    }

    @Test
    void garbageFilesAreNotDeployments() throws IOException {
        Registry r = new Registry(dir);
        Files.writeString(dir.resolve("junk.json"), "{not json");
        r.write(self("ok"));
        assertEquals(List.of("ok"), r.list().stream().map(RegistryEntry::name).toList());
        assertTrue(r.find("junk").isEmpty());
    }

    @Test
    void rewritingReplacesAtomically() throws IOException {
        Registry r = new Registry(dir);
        RegistryEntry e = self("x");
        r.write(e);
        r.write(e.withReplicaPids(List.of(21L, 22L)).withReady(false));
        RegistryEntry back = r.find("x").orElseThrow();
        assertEquals(List.of(21L, 22L), back.replicaPids());
        assertFalse(back.ready());
        try (var files = Files.list(dir)) {
            assertEquals(List.of("x.json"), files.map(p -> p.getFileName().toString()).toList(), "no temp files left");
        }
    }

    @Test
    void stateDirectoryComesFromThePropertyThenTheEnvironment() {
        String old = System.getProperty(Registry.PROPERTY);
        try {
            System.setProperty(Registry.PROPERTY, dir.toString());
            assertEquals(dir, Registry.fromEnvironment().dir());
            System.clearProperty(Registry.PROPERTY);
            String env = System.getenv(Registry.ENV);
            Path expected = env != null && !env.isBlank() ? Path.of(env)
                    : Path.of(System.getProperty("user.home"), ".cache", "mii", "deployments");
            assertEquals(expected, Registry.fromEnvironment().dir());
        } finally {
            if (old != null) {
                System.setProperty(Registry.PROPERTY, old);
            }
        }
    }

    @Test
    void wildcardHostsConnectLocally() {
        RegistryEntry e = entry("w", 1, -1);
        assertEquals("127.0.0.1", e.connectHost());
        RegistryEntry any = new RegistryEntry("w", "m", "0.0.0.0", 1, null, 1, -1, List.of(), List.of(), "", true, null);
        assertEquals("127.0.0.1", any.connectHost());
    }
}
