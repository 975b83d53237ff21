package dev.miij.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.miij.cli.GenerateCommandTest.Run;
import dev.miij.server.deploy.Deployment;
import dev.miij.server.deploy.JvmOptions;
import dev.miij.server.deploy.Registry;
import dev.miij.server.deploy.RegistryEntry;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code mii serve} as a real foreground process, driven by {@code mii list}, {@code mii client} and
 * {@code mii terminate} the way a user would; every process started is killed afterwards.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class ServeCommandTest {

    static final Path FIXTURE = GenerateCommandTest.FIXTURES.resolve("llama2").toAbsolutePath().normalize();

    @TempDir
    Path stateDir;
    Process serve;
    final List<Long> pids = new ArrayList<>();

    @BeforeEach
    void isolate() {
        System.setProperty(Registry.PROPERTY, stateDir.toString());
    }

    @AfterEach
    void killEverything() {
        try {
            new Registry(stateDir).list().forEach(e -> {
                pids.add(e.pid());
                pids.addAll(e.replicaPids());
            });
            if (serve != null) {
                serve.destroyForcibly();
            }
            pids.forEach(p -> ProcessHandle.of(p).ifPresent(ProcessHandle::destroyForcibly));
        } finally {
            System.clearProperty(Registry.PROPERTY);
        }
    }

    /** Starts {@code mii serve} in a JVM of its own and waits for its ready line. */
    String startServe(String name) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(ProcessHandle.current().info().command().orElseThrow()));
        cmd.addAll(JvmOptions.required());
        cmd.addAll(List.of("-D" + Registry.PROPERTY + "=" + stateDir,
                // If this JVM dies before cleaning up, the deployment stops itself.
                "-D" + Deployment.WATCH_PID + "=" + ProcessHandle.current().pid(), "-cp", System.getProperty("java.class.path"),
                MiiCommand.class.getName(), "serve", FIXTURE.toString(), "--deployment-name", name, "--port", "0",
                "--replica-num", "1", "--kv-block-size", "16", "--num-kv-blocks", "32",
                "--enable-restful-api", "--restful-api-port", "0"));
        serve = new ProcessBuilder(cmd).redirectError(stateDir.resolve("serve.err").toFile()).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(serve.getInputStream(), StandardCharsets.UTF_8));
        CompletableFuture<String> ready = CompletableFuture.supplyAsync(() -> {
            try {
                return out.readLine();
            } catch (IOException e) {
                throw new RuntimeException(e);
            }
        });
        String line = ready.get(60, TimeUnit.SECONDS);
        assertTrue(line != null && line.startsWith("ready: deployment " + name), line + "\n" + stderr());
        RegistryEntry e = new Registry(stateDir).find(name).orElseThrow();
        pids.add(e.pid());
        pids.addAll(e.replicaPids());
        return line;
    }

    String stderr() {
        try {
            return Files.readString(stateDir.resolve("serve.err"));
        } catch (IOException e) {
            return "";
        }
    }

    /** GET /healthz's status, or -1 when nothing listens. */
    static int healthz(int port) throws InterruptedException {
        try (java.net.http.HttpClient c = java.net.http.HttpClient.newHttpClient()) {
            return c.send(java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:" + port + "/healthz"))
                    .timeout(java.time.Duration.ofSeconds(10)).build(), java.net.http.HttpResponse.BodyHandlers.discarding())
                    .statusCode();
        } catch (IOException e) {
            return -1;
        }
    }

    static boolean alive(long pid) {
        return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
    }

    @Test
    void serveClientListTerminate() throws Exception {
        String name = "cli-" + ProcessHandle.current().pid();
        String ready = startServe(name);
        assertTrue(ready.contains("1 replica"), ready);
        int httpPort = new Registry(stateDir).find(name).orElseThrow().restfulApiPort();
        assertTrue(ready.endsWith("HTTP http://127.0.0.1:" + httpPort), ready);
        assertEquals(200, healthz(httpPort));

        Run list = GenerateCommandTest.run("list");
        assertEquals(0, list.exit(), list.err());
        assertTrue(list.out().lines().anyMatch(l -> l.startsWith(name + " ") && l.endsWith("ready")), list.out());
        JsonNode listed = new ObjectMapper().readTree(GenerateCommandTest.run("list", "--json").out());
        assertEquals(name, listed.get(0).get("name").asText());
        assertEquals(serve.pid(), listed.get(0).get("pid").asLong());

        String[] greedy = {"--greedy", "--max-new-tokens", "6", "--ignore-eos"};
        Run local = GenerateCommandTest.run(concat(new String[] {"generate", "--model", FIXTURE.toString(), "--json", "Hello"}, greedy));
        String expected = new ObjectMapper().readTree(local.out()).get(0).get("generated_text").asText();

        Run json = GenerateCommandTest.run(concat(new String[] {"client", name, "Hello", "The quick brown fox", "--json"}, greedy));
        assertEquals(0, json.exit(), json.err());
        JsonNode arr = new ObjectMapper().readTree(json.out());
        assertEquals(2, arr.size());
        assertEquals(expected, arr.get(0).get("generated_text").asText());
        assertEquals(6, arr.get(1).get("generated_length").asInt());
        assertEquals("length", arr.get(1).get("finish_reason").asText());

        Run streamed = GenerateCommandTest.run(concat(new String[] {"client", name, "Hello", "--stream"}, greedy));
        assertEquals(0, streamed.exit(), streamed.err());
        assertEquals(expected + System.lineSeparator(), streamed.out());

        Run bad = GenerateCommandTest.run("client", name, "Hello", "--top-p", "2");
        assertEquals(1, bad.exit());
        assertTrue(bad.err().contains("top_p"), bad.err());
        Run missing = GenerateCommandTest.run("client", "no-such-deployment", "Hello");
        assertEquals(1, missing.exit());
        assertTrue(missing.err().contains("no-such-deployment"), missing.err());

        long start = System.nanoTime();
        Run terminate = GenerateCommandTest.run("terminate", name);
        assertEquals(0, terminate.exit(), terminate.err());
        assertTrue(serve.waitFor(10, TimeUnit.SECONDS), "serve is still running\n" + stderr());
        assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(10));
        assertEquals(0, serve.exitValue(), stderr());
        assertTrue(pids.stream().noneMatch(ServeCommandTest::alive), "processes left: " + pids);
        assertTrue(stderr().contains("deployment " + name + " stopped"), stderr());
        assertEquals(-1, healthz(httpPort), "the HTTP front end is gone too");
        Run again = GenerateCommandTest.run("terminate", name);
        assertEquals(1, again.exit());
        assertFalse(GenerateCommandTest.run("list").out().contains(name));
    }

    @Test
    void badOptionsFailBeforeAnythingStarts() {
        Run r = GenerateCommandTest.run("serve", FIXTURE.toString(), "--replica-num", "0");
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("replica_num"), r.err());
        r = GenerateCommandTest.run("serve", "/no/such/model");
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("/no/such/model"), r.err());
        r = GenerateCommandTest.run("serve", FIXTURE.toString(), "--deployment-name", "a/b");
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("deployment_name"), r.err());
    }

    @Test
    void terminateFallsBackToSignalsWhenTheFrontEndDoesNotAnswer() throws Exception {
        Process stuck = new ProcessBuilder("sleep", "60").start();
        pids.add(stuck.pid());
        int closedPort;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            closedPort = s.getLocalPort();
        }
        new Registry(stateDir).write(new RegistryEntry("stuck", "m", "127.0.0.1", closedPort, null, stuck.pid(), -1,
                List.of(), List.of(), "2025-01-01T00:00:00Z", true, null));
        Run r = GenerateCommandTest.run("terminate", "stuck");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("SIGTERM"), r.err());
        assertTrue(stuck.waitFor(10, TimeUnit.SECONDS));
    }

    static String[] concat(String[] a, String[] b) {
        String[] out = new String[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
