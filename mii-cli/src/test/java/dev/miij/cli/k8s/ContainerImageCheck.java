package dev.miij.cli.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.miij.cli.MiiCommand;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The container image of a {@code mii k8s} chart, assembled as its Dockerfile says and started as the
 * chart starts it, without a container runtime: the Dockerfile's COPY instructions are carried out from the
 * repository's build output into a directory that stands for the image's root, its ENV set, and its
 * ENTRYPOINT run (the image's absolute paths mapped into that directory, {@code java} taken from this JDK)
 * with {@code --help} (the image's CMD) and with the chart's {@code serve} arguments; the server must become
 * ready and answer {@code /healthz}. RUN and USER (the image's own user) need a container and are left out.
 * Runs after {@code package} (its own surefire execution), since it needs the built jars.
 */
class ContainerImageCheck {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path tmp;

    /** What the Dockerfile builds: files under {@code root}, environment, working directory, entrypoint. */
    record Image(Path root, Map<String, String> env, String workdir, List<String> entrypoint, List<String> cmd) {
        /** A path of the image, in the directory that stands for its root. */
        Path resolve(String imagePath) {
            return root.resolve(imagePath.replaceFirst("^/+", ""));
        }
    }

    /** Carries out a Dockerfile's file-system instructions from {@code context} into {@code root}. */
    static Image assemble(Path dockerfile, Path context, Path root) throws IOException {
        Map<String, String> env = new LinkedHashMap<>();
        String workdir = "/";
        List<String> entrypoint = List.of();
        List<String> cmd = List.of();
        Image image = new Image(root, env, workdir, entrypoint, cmd);
        for (String line : instructions(Files.readString(dockerfile))) {
            String[] parts = line.split("\\s+", 2);
            String op = parts[0].toUpperCase();
            String rest = parts.length > 1 ? parts[1].trim() : "";
            switch (op) {
                case "WORKDIR" -> workdir = rest.startsWith("/") ? rest : workdir + "/" + rest;
                case "ENV" -> {
                    Matcher m = Pattern.compile("(\\w+)=(\"((?:[^\"\\\\]|\\\\.)*)\"|\\S+)").matcher(rest);
                    while (m.find()) {
                        env.put(m.group(1), m.group(3) != null ? m.group(3) : m.group(2));
                    }
                }
                case "COPY" -> {
                    List<String> args = List.of(rest.split("\\s+"));
                    assertFalse(args.getFirst().startsWith("--"), "COPY flags are not handled here: " + line);
                    String dest = args.getLast();
                    Path target = image.resolve(dest.startsWith("/") ? dest : workdir + "/" + dest);
                    for (String source : args.subList(0, args.size() - 1)) {
                        List<Path> matched = glob(context, source);
                        assertFalse(matched.isEmpty(), "COPY source " + source + " matches nothing in " + context);
                        for (Path s : matched) {
                            copy(s, args.size() > 2 || dest.endsWith("/") || Files.isDirectory(s)
                                    ? (Files.isDirectory(s) ? target : target.resolve(s.getFileName().toString()))
                                    : target);
                        }
                    }
                }
                case "ENTRYPOINT" -> entrypoint = jsonArray(rest, line);
                case "CMD" -> cmd = jsonArray(rest, line);
                case "ARG", "FROM", "RUN", "USER", "EXPOSE", "LABEL" -> {
                    // The base image, its build arguments and commands run inside it need a container runtime.
                }
                default -> throw new AssertionError("instruction not handled here: " + line);
            }
        }
        return new Image(root, env, workdir, entrypoint, cmd);
    }

    /** Instructions, continuation lines joined, comments and blank lines dropped. */
    private static List<String> instructions(String dockerfile) {
        List<String> out = new ArrayList<>();
        StringBuilder current = new StringBuilder();
        for (String line : dockerfile.split("\n")) {
            if (line.strip().startsWith("#") || line.isBlank()) {
                continue;
            }
            if (line.endsWith("\\")) {
                current.append(line, 0, line.length() - 1).append(' ');
            } else {
                out.add(current.append(line).toString().strip());
                current.setLength(0);
            }
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    private static List<String> jsonArray(String text, String line) throws IOException {
        assertTrue(text.startsWith("["), "only the exec (JSON) form is used: " + line);
        return JSON.readValue(text, List.class);
    }

    /** A COPY source: a path relative to the context, whose last element may hold {@code *}. */
    private static List<Path> glob(Path context, String source) throws IOException {
        String s = source.replaceFirst("/+$", "");
        Path parent = context.resolve(s).getParent();
        String name = Path.of(s).getFileName().toString();
        if (!name.contains("*")) {
            return Files.exists(context.resolve(s)) ? List.of(context.resolve(s)) : List.of();
        }
        PathMatcher m = FileSystems.getDefault().getPathMatcher("glob:" + name);
        try (var files = Files.list(parent)) {
            return files.filter(p -> m.matches(p.getFileName())).sorted().toList();
        }
    }

    /** A file to a file path, or a directory's contents into a directory, as COPY does. */
    private static void copy(Path source, Path target) throws IOException {
        if (!Files.isDirectory(source)) {
            Files.createDirectories(target.getParent());
            Files.copy(source, target, StandardCopyOption.REPLACE_EXISTING);
            return;
        }
        try (var all = Files.walk(source)) {
            for (Path p : all.toList()) {
                Path t = target.resolve(source.relativize(p).toString());
                if (Files.isDirectory(p)) {
                    Files.createDirectories(t);
                } else {
                    Files.createDirectories(t.getParent());
                    Files.copy(p, t, StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
    }

    /** The entrypoint with {@code args}, the image's absolute paths under {@code prefix} mapped into its root. */
    private static Process start(Image image, String prefix, List<String> args, Map<String, String> env) throws IOException {
        List<String> command = new ArrayList<>();
        for (String part : image.entrypoint()) {
            command.add(part.replace(prefix, image.resolve(prefix).toString()));
        }
        command.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(command).directory(image.resolve(image.workdir()).toFile())
                .redirectErrorStream(true);
        pb.environment().putAll(image.env());
        pb.environment().putAll(env);
        pb.environment().put("PATH", Path.of(System.getProperty("java.home"), "bin") + ":" + System.getenv("PATH"));
        return pb.start();
    }

    private static String readAll(Process p, long seconds) throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Thread t = Thread.ofPlatform().start(() -> {
            try (InputStream in = p.getInputStream()) {
                in.transferTo(out);
            } catch (IOException ignored) {
                // the process went away
            }
        });
        assertTrue(p.waitFor(seconds, TimeUnit.SECONDS), "did not finish in " + seconds + " s");
        t.join(5000);
        return out.toString(StandardCharsets.UTF_8);
    }

    @Test
    void theChartsImageStartsAndServes() throws Exception {
        Path chart = tmp.resolve("chart");
        assertEquals(0, new CommandLine(new MiiCommand()).execute("k8s", "models/kjv-demo", "--deployment-name", "img",
                "--output", chart.toString()));
        Path repo = Path.of("..").toAbsolutePath().normalize();
        assertTrue(Files.isDirectory(repo.resolve("mii-cli/target/lib")), "run after package: mii-cli/target/lib");
        Image image = assemble(chart.resolve("Dockerfile"), repo, tmp.resolve("root"));
        assertEquals("/opt/mii", image.workdir());
        assertTrue(Files.isRegularFile(image.resolve("/opt/mii/jvm.options")));
        assertTrue(Files.isRegularFile(image.resolve("/opt/mii/models/kjv-demo/config.json")));
        try (var jars = Files.list(image.resolve("/opt/mii/lib"))) {
            assertTrue(jars.anyMatch(p -> p.getFileName().toString().startsWith("mii-cli-")), "mii-cli's jar in lib/");
        }
        Map<String, String> env = Map.of("HF_HOME", tmp.resolve("hf").toString(),
                "MII_STATE_DIR", tmp.resolve("state").toString());

        // The image's CMD: the usage.
        Process help = start(image, "/opt/mii", image.cmd(), env);
        String usage = readAll(help, 120);
        assertEquals(0, help.exitValue(), usage);
        assertTrue(usage.contains("serve"), usage);

        // What the chart's server container runs (ports 0 here, so that the test needs no free fixed port).
        List<String> serve = List.of("serve", "models/kjv-demo", "--deployment-name", "img", "--host", "127.0.0.1",
                "--port", "0", "--replica-num", "1", "--enable-restful-api", "--restful-api-port", "0",
                "--device", "cpu", "--no-warmup");
        Process server = start(image, "/opt/mii", serve, env);
        StringBuilder log = new StringBuilder();
        try {
            String ready = null;
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(180);
            var reader = server.inputReader(StandardCharsets.UTF_8);
            String line;
            while (ready == null && System.nanoTime() < end && (line = reader.readLine()) != null) {
                log.append(line).append('\n');
                if (line.startsWith("ready:")) {
                    ready = line;
                }
            }
            assertTrue(ready != null, "the image's server did not become ready:\n" + log);
            Thread.ofPlatform().daemon().start(() -> {
                try {
                    reader.transferTo(java.io.Writer.nullWriter());
                } catch (IOException ignored) {
                    // the process went away
                }
            });
            Matcher http = Pattern.compile("HTTP (http://\\S+)").matcher(ready);
            assertTrue(http.find(), ready);
            HttpResponse<String> health = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create(http.group(1) + "/healthz")).timeout(Duration.ofSeconds(30)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, health.statusCode(), health.body());
        } finally {
            server.destroy();
            if (!server.waitFor(60, TimeUnit.SECONDS)) {
                server.destroyForcibly();
            }
        }
    }
}
