package dev.miij.server.deploy;

import dev.miij.Client;
import dev.miij.DeploymentOptions;
import dev.miij.MiiException;
import dev.miij.server.grpc.GrpcClient;
import dev.miij.spi.DeploymentProvider;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;

/**
 * {@code Mii.serve} and {@code Mii.client} (found through {@link java.util.ServiceLoader}):
 *
 * <pre>{@code
 * Client c = Mii.serve("models/kjv-demo", DeploymentOptions.defaults().withReplicaNum(2));
 * // ... later, from any process on this host:
 * Mii.client("kjv-demo").terminateServer();
 * }</pre>
 */
public final class GrpcDeploymentProvider implements DeploymentProvider {

    /** How long {@link #serve} waits for a deployment to load its replicas. */
    static final long START_TIMEOUT_MILLIS = TimeUnit.MINUTES.toMillis(10);

    /**
     * Starts a detached front end process (it outlives this program; its log goes to the registry's
     * {@code NAME.log}) and returns once every replica serves.
     */
    @Override
    public Client serve(String model, DeploymentOptions options) {
        return serve(model, options, List.of());
    }

    /** As {@link #serve(String, DeploymentOptions)}, with extra options for the front end's JVM. */
    Client serve(String model, DeploymentOptions options, List<String> frontendJvmOptions) {
        DeploymentSpec spec = DeploymentSpec.of(model, options);
        Registry registry = Registry.fromEnvironment();
        registry.find(spec.name()).ifPresent(e -> {
            throw MiiException.invalid("a deployment named '" + spec.name() + "' is already running (pid " + e.pid()
                    + ", port " + e.port() + "); connect with Mii.client or terminate it first");
        });
        Path log = registry.logFile(spec.name());
        Process p;
        try {
            Files.createDirectories(registry.dir());
            ProcessBuilder pb = JavaCommand.inOwnSession(JavaCommand.of(FrontendMain.class, frontendJvmOptions, List.of()))
                    .redirectErrorStream(true)
                    .redirectOutput(log.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            pb.environment().put(DeploymentSpec.ENV, spec.toJson());
            p = pb.start();
        } catch (IOException e) {
            throw MiiException.io("cannot start the deployment's front end: " + e.getMessage(), e);
        }
        return awaitReady(registry, spec.name(), p, log, spec.apiKey());
    }

    private static Client awaitReady(Registry registry, String name, Process p, Path log, String apiKey) {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(START_TIMEOUT_MILLIS);
        while (true) {
            Optional<RegistryEntry> e = registry.find(name);
            if (e.isPresent() && e.get().pid() == p.pid() && e.get().ready()) {
                return connect(e.get(), apiKey);
            }
            if (!p.isAlive()) {
                int code = p.exitValue();
                throw new MiiException(FrontendMain.kind(code), lastError(log)
                        .orElse("the deployment's front end exited with code " + code) + " (log: " + log + ")");
            }
            if (System.nanoTime() > deadline) {
                p.destroy();
                throw MiiException.io("deployment " + name + " did not become ready in "
                        + START_TIMEOUT_MILLIS / 60_000 + " minutes; stopped it (log: " + log + ")", null);
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException x) {
                Thread.currentThread().interrupt();
                throw new MiiException(MiiException.Kind.CANCELLED, "interrupted while deployment " + name
                        + " was starting; it goes on starting (log: " + log + ")");
            }
        }
    }

    /** The front end's failure message: its log from the last {@code error: } line on. */
    static Optional<String> lastError(Path log) {
        try {
            List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
            for (int i = lines.size() - 1; i >= 0; i--) {
                if (lines.get(i).startsWith("error: ")) {
                    String first = lines.get(i).substring("error: ".length());
                    List<String> rest = lines.subList(i + 1, lines.size());
                    return Optional.of(rest.isEmpty() ? first : first + "\n" + String.join("\n", rest));
                }
            }
        } catch (IOException e) {
            // no log to quote
        }
        return Optional.empty();
    }

    @Override
    public Client client(String deploymentName) {
        return client(deploymentName, apiKeyFromEnvironment());
    }

    /** A client of a deployment on this host that sends {@code apiKey} (null: none) with every call. */
    public static Client client(String deploymentName, String apiKey) {
        Registry registry = Registry.fromEnvironment();
        return registry.find(deploymentName).map(e -> connect(e, apiKey))
                .orElseThrow(() -> MiiException.notFound("no deployment named '" + deploymentName
                        + "' is running on this host (registry: " + registry.dir() + ")"));
    }

    static Client connect(RegistryEntry e, String apiKey) {
        return GrpcClient.connect(e.name(), e.connectHost(), e.port(), e.pid(), apiKey);
    }

    /** The key {@code Mii.client} sends: the environment's {@code MII_API_KEY}, or none. */
    static String apiKeyFromEnvironment() {
        String key = System.getenv("MII_API_KEY");
        return key == null || key.isBlank() ? null : key;
    }
}
