package dev.miij.server.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.Client;
import dev.miij.DeploymentOptions;
import dev.miij.Mii;
import dev.miij.MiiException;
import dev.miij.engine.EngineConfig;
import dev.miij.testing.Fixtures;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** How a deployment's processes end: on SIGTERM, when the front end is killed, and when it cannot start. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class FrontendLifecycleTest {

    @TempDir
    Path stateDir;
    final List<Long> pids = new ArrayList<>();

    @BeforeEach
    void isolate() {
        System.setProperty(Registry.PROPERTY, stateDir.toString());
        System.setProperty(Deployment.WATCH_PID, String.valueOf(ProcessHandle.current().pid()));
    }

    @AfterEach
    void killEverything() {
        try {
            new Registry(stateDir).list().forEach(this::remember);
            pids.forEach(p -> ProcessHandle.of(p).ifPresent(ProcessHandle::destroyForcibly));
        } finally {
            System.clearProperty(Registry.PROPERTY);
            System.clearProperty(Deployment.WATCH_PID);
        }
    }

    void remember(RegistryEntry e) {
        pids.add(e.pid());
        e.replicaPids().stream().filter(p -> p > 0).forEach(pids::add);
    }

    RegistryEntry serveOneReplica(String name) {
        try (Client c = Mii.serve(Fixtures.dir("llama2").toString(), DeploymentOptions.defaults().withDeploymentName(name)
                .withPortNumber(0).withEngine(EngineConfig.defaults().withKvBlockSize(16).withNumKvBlocks(32)))) {
            RegistryEntry e = new Registry(stateDir).find(name).orElseThrow();
            remember(e);
            return e;
        }
    }

    static boolean alive(long pid) {
        return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    static void awaitGone(List<Long> pids, long millis, String what) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(millis);
        while (pids.stream().anyMatch(FrontendLifecycleTest::alive)) {
            assertTrue(System.nanoTime() < end, what + ": still alive " + pids.stream().filter(FrontendLifecycleTest::alive).toList());
            Thread.sleep(50);
        }
    }

    @Test
    void sigtermStopsEveryProcessAndRemovesTheEntry() throws Exception {
        RegistryEntry e = serveOneReplica("sigterm");
        ProcessHandle.of(e.pid()).orElseThrow().destroy();
        awaitGone(List.of(e.pid(), e.replicaPids().getFirst()), 10_000, "after SIGTERM");
        assertFalse(Files.exists(stateDir.resolve("sigterm.json")), "a clean stop removes its entry");
        assertTrue(Files.readString(stateDir.resolve("sigterm.log")).contains("deployment sigterm stopped"));
    }

    @Test
    void replicasExitWhenTheirFrontEndIsKilled() throws Exception {
        RegistryEntry e = serveOneReplica("orphans");
        ProcessHandle.of(e.pid()).orElseThrow().destroyForcibly();
        awaitGone(List.of(e.pid(), e.replicaPids().getFirst()), 5_000, "after SIGKILL of the front end");
        assertTrue(new Registry(stateDir).find("orphans").isEmpty(), "the stale entry is ignored");
        MiiException x = assertThrows(MiiException.class, () -> Mii.client("orphans"));
        assertEquals(MiiException.Kind.NOT_FOUND, x.kind());
    }

    @Test
    void aTakenPortFailsTheStartWithAClearMessage() throws IOException {
        try (ServerSocket taken = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            int port = taken.getLocalPort();
            MiiException e = assertThrows(MiiException.class, () -> Mii.serve(Fixtures.dir("llama2").toString(),
                    DeploymentOptions.defaults().withDeploymentName("taken").withPortNumber(port)));
            assertEquals(MiiException.Kind.IO, e.kind(), e.getMessage());
            assertTrue(e.getMessage().contains(String.valueOf(port)), e.getMessage());
        }
        assertTrue(new Registry(stateDir).find("taken").isEmpty());
    }
}
