package dev.miij.cli;

import dev.miij.DeploymentOptions;
import dev.miij.MiiException;
import dev.miij.backend.Devices;
import dev.miij.server.deploy.Deployment;
import dev.miij.server.deploy.DeploymentSpec;
import dev.miij.server.deploy.GroupRendezvous;
import dev.miij.server.deploy.LogSetup;
import dev.miij.server.deploy.Registry;
import dev.miij.server.deploy.RegistryEntry;
import dev.miij.server.http.HttpLimits;
import dev.miij.server.discovery.ReplicaDiscovery;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code mii serve}: a persistent deployment with this process as its front end, in the foreground.
 *
 * <pre>
 * ./mii serve models/kjv-demo --replica-num 2 --enable-restful-api
 * ./mii client kjv-demo "In the beginning"
 * ./mii terminate kjv-demo
 * </pre>
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Serve a model: gRPC, and optionally REST and the OpenAI API, from replicas behind a load balancer.",
                "Runs in the foreground until 'mii terminate NAME', SIGTERM or Ctrl-C; logs go to stderr, and one",
                "line on stdout says when it is ready."})
final class ServeCommand implements Callable<Integer> {

    @Parameters(index = "0", arity = "0..1", paramLabel = "MODEL",
            description = "Model folder or Hugging Face id (org/name). Default: the bundled demo model.")
    String model;

    @Option(names = "--deployment-name", paramLabel = "NAME",
            description = "Name clients use (default: the model's folder or id, lower-cased).")
    String deploymentName;

    @Option(names = "--port", paramLabel = "P", description = "gRPC port of the load balancer; replicas use the next ports (default: ${DEFAULT-VALUE}).")
    int port = 50050;

    @Option(names = "--replica-num", paramLabel = "R", description = "Replica processes, each with its own engine (default: ${DEFAULT-VALUE}).")
    int replicaNum = 1;

    @Option(names = "--enable-restful-api", description = "Also serve MII's REST API, the OpenAI-compatible API, /healthz and /metrics.")
    boolean enableRestfulApi;

    @Option(names = "--restful-api-port", paramLabel = "Q", description = "HTTP port (default: ${DEFAULT-VALUE}).")
    int restfulApiPort = 28080;

    @Option(names = "--host", paramLabel = "H", description = "Interface to listen on, gRPC and HTTP (default: ${DEFAULT-VALUE}).")
    String host = "127.0.0.1";

    @Option(names = "--api-key", paramLabel = "KEY", defaultValue = "${env:MII_API_KEY}",
            description = "Bearer key the HTTP APIs and gRPC require (default: $MII_API_KEY; none if unset).")
    String apiKey;

    @Option(names = "--max-length", paramLabel = "N", description = "Default max_length of requests that set none.")
    Integer maxLength;

    @Option(names = "--max-queue", paramLabel = "N",
            description = "HTTP generation requests held at once (running or waiting); one more gets 429 with Retry-After. 0: no limit (default).")
    int maxQueue;

    @Option(names = "--request-timeout", paramLabel = "SECONDS",
            description = "Deadline of one HTTP generation request; past it the request is cancelled (504). Default: none.")
    double requestTimeout;
    @Option(names = "--replica-discovery", paramLabel = "SOURCE",
            description = {"Balance over replicas found elsewhere instead of starting --replica-num processes:",
                    "static:HOST:PORT[,HOST:PORT...], dns:NAME:PORT (A records, e.g. a headless Service),",
                    "or kubernetes:SERVICE[:PORT_NAME] (its EndpointSlices; port name default grpc)."})
    String replicaDiscovery;

    @Option(names = "--debug", description = "Verbose logs and stack traces.")
    boolean debug;

    @Mixin
    EngineFlags engineFlags = new EngineFlags();

    @Mixin
    DeviceFlags deviceFlags = new DeviceFlags();

    @Override
    public Integer call() throws InterruptedException {
        LogSetup.install("frontend", debug);
        deviceFlags.refuseTensorParallel("mii serve");
        DeploymentOptions options = DeploymentOptions.defaults().withDeploymentName(deploymentName)
                .withReplicaNum(replicaNum).withPortNumber(port).withRestfulApi(enableRestfulApi, host, restfulApiPort)
                .withApiKey(apiKey == null || apiKey.isBlank() ? null : apiKey).withMaxLength(maxLength)
                .withEngine(deviceFlags.applyTo(engineFlags.toConfig()))
                .withDevice(deviceFlags.device());
        if (deviceFlags.device() != null) {
            Devices.resolve(deviceFlags.device()); // a GPU asked for and absent: say so now, not in every replica's log
        }
        DeploymentSpec spec = DeploymentSpec.of(DefaultModel.resolve(model), options);
        GroupRendezvous group = GroupRendezvous.fromEnvironment(System.getenv());
        if (!group.leader()) {
            throw MiiException.invalid("this pod is rank " + group.rank() + " of its group; workers run 'mii worker', the leader serves");
        }
        Deployment deployment = new Deployment(spec, Registry.fromEnvironment(), null);
        deployment.setHttpLimits(HttpLimits.defaults().withMaxQueue(maxQueue)
                .withRequestTimeout(requestTimeout > 0 ? Duration.ofMillis((long) (requestTimeout * 1000)) : null));
        if (replicaDiscovery != null) {
            deployment.setReplicaDiscovery(ReplicaDiscovery.parse(replicaDiscovery));
        }
        Thread hook = new Thread(deployment::shutdown, "mii-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        deployment.start();
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        out.println(readyLine(deployment.entry(), spec));
        deployment.awaitTermination();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException e) {
            // stopping because of a signal: the hook is what stopped it
        }
        return 0;
    }

    static String readyLine(RegistryEntry e, DeploymentSpec spec) {
        StringBuilder b = new StringBuilder("ready: deployment ").append(e.name()).append(" (").append(spec.model())
                .append(") on gRPC ").append(e.host()).append(':').append(e.port()).append(", ").append(e.replicas())
                .append(e.replicas() == 1 ? " replica" : " replicas");
        if (e.restfulApiPort() != null) {
            b.append(", HTTP http://").append(e.host()).append(':').append(e.restfulApiPort());
        }
        return b.toString();
    }
}
