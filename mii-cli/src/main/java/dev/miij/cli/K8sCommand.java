package dev.miij.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.miij.MiiException;
import dev.miij.cli.k8s.HelmChart;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code mii k8s}: writes a Helm chart that serves a model on Kubernetes.
 *
 * <pre>
 * ./mii k8s meta-llama/Llama-3.2-1B-Instruct --deployment-name llama --replicas 2 --gpus-per-replica 1 \
 *     --image registry.example.com/mii-j:0.1.0 --output charts/llama
 * helm install llama charts/llama
 * </pre>
 */
@Command(name = "k8s", mixinStandardHelpOptions = true,
        description = {"Write a Helm chart that serves MODEL on Kubernetes: replica pods (or LeaderWorkerSet groups",
                "across nodes), Services, probes, a router that discovers the replicas, optional KEDA autoscaling and",
                "Gateway API Inference Extension routing. Every value is documented in the chart's values.yaml."})
final class K8sCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "MODEL",
            description = "Hugging Face id (org/name), or a model folder inside the image (e.g. models/kjv-demo).")
    String model;

    @Option(names = "--deployment-name", paramLabel = "NAME", required = true,
            description = "Name clients use, and the base name of every Kubernetes object (a DNS label).")
    String deploymentName;

    @Option(names = "--replicas", paramLabel = "N", description = "Replicas (default: ${DEFAULT-VALUE}).")
    int replicas = 1;

    @Option(names = "--gpus-per-replica", paramLabel = "G", description = "GPUs of each replica pod; 0 runs on CPUs (default: ${DEFAULT-VALUE}).")
    int gpusPerReplica;

    @Option(names = "--nodes-per-replica", paramLabel = "K",
            description = "Nodes one replica spans; more than 1 makes LeaderWorkerSet groups of K pods (default: ${DEFAULT-VALUE}).")
    int nodesPerReplica = 1;

    @Option(names = "--image", paramLabel = "IMG", description = "Image with MII-J, repository[:tag] (default: ${DEFAULT-VALUE}).")
    String image = "mii-j:latest";

    @Option(names = "--output", paramLabel = "DIR", description = "Where to write the chart (default: charts/NAME).")
    Path output;

    @Option(names = "--values", paramLabel = "FILE",
            description = "YAML file of chart values to set (keys of values.yaml, e.g. keda.enabled: true).")
    Path valuesFile;

    @Option(names = "--port", paramLabel = "P", description = "gRPC port (default: ${DEFAULT-VALUE}).")
    int port = 50050;

    @Option(names = "--restful-api-port", paramLabel = "Q", description = "HTTP port: REST, OpenAI, /healthz, /metrics (default: ${DEFAULT-VALUE}).")
    int restfulApiPort = 28080;

    @Option(names = "--max-length", paramLabel = "N", description = "Default max_length of requests that set none.")
    Integer maxLength;

    @Mixin
    EngineFlags engineFlags = new EngineFlags();

    @Mixin
    DeviceFlags deviceFlags = new DeviceFlags(); // --device comes from --gpus-per-replica

    @Spec
    CommandLine.Model.CommandSpec spec;

    // Flags passed on to every replica's `mii serve` as given.
    private static final Set<String> NOT_PASSED_ON = Set.of("--deployment-name", "--replicas", "--gpus-per-replica",
            "--nodes-per-replica", "--image", "--output", "--values", "--port", "--restful-api-port", "--device",
            "--help", "--version");

    @Override
    public Integer call() {
        if (!deploymentName.matches("[a-z0-9]([-a-z0-9]{0,48}[a-z0-9])?")) {
            throw MiiException.invalid("--deployment-name '" + deploymentName + "' must be a DNS label: lower-case letters, "
                    + "digits and '-', at most 50 characters, starting and ending with a letter or digit");
        }
        deviceFlags.refuseTensorParallel("mii k8s"); // passed on to each replica's serve, which would refuse it
        if (replicas < 0 || gpusPerReplica < 0 || nodesPerReplica < 1) {
            throw MiiException.invalid("--replicas and --gpus-per-replica must be >= 0 and --nodes-per-replica >= 1");
        }
        Path dir = output != null ? output : Path.of("charts", deploymentName);
        HelmChart.write(dir, deploymentName, model, values());
        System.out.println("wrote chart " + dir + " (" + (nodesPerReplica > 1
                ? replicas + " LeaderWorkerSet group(s) of " + nodesPerReplica + " pods" : replicas + " replica pod(s)")
                + "); install it with: helm install " + deploymentName + " " + dir);
        return 0;
    }

    Map<String, Object> values() {
        Map<String, Object> v = new LinkedHashMap<>();
        v.put("model", model);
        v.put("deploymentName", deploymentName);
        int colon = image.lastIndexOf(':');
        boolean tagged = colon > image.lastIndexOf('/');
        v.put("image", Map.of("repository", tagged ? image.substring(0, colon) : image, "tag", tagged ? image.substring(colon + 1) : "latest"));
        v.put("replicas", replicas);
        v.put("gpusPerReplica", gpusPerReplica);
        v.put("nodesPerReplica", nodesPerReplica);
        v.put("ports", Map.of("grpc", port, "http", restfulApiPort));
        v.put("serveArgs", serveArgs());
        if (valuesFile != null) {
            merge(v, readValues(valuesFile));
        }
        return v;
    }

    /** The serve flags given on this command line, as `mii serve` takes them. */
    private List<String> serveArgs() {
        List<String> out = new ArrayList<>();
        if (spec == null || spec.commandLine().getParseResult() == null) {
            return out;
        }
        for (OptionSpec o : spec.commandLine().getParseResult().matchedOptions()) {
            if (NOT_PASSED_ON.contains(o.longestName())) {
                continue;
            }
            if (o.arity().max() == 0) {
                out.add(o.longestName());
            } else {
                for (String s : o.originalStringValues()) {
                    out.add(o.longestName());
                    out.add(s);
                }
            }
        }
        return out;
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> readValues(Path file) {
        try {
            Object o = new ObjectMapper(new YAMLFactory()).readValue(Files.readString(file), Object.class);
            if (o == null) {
                return Map.of();
            }
            if (!(o instanceof Map<?, ?>)) {
                throw MiiException.invalid(file + " is not a YAML map of chart values");
            }
            return (Map<String, Object>) o;
        } catch (IOException e) {
            throw MiiException.invalid("cannot read " + file + ": " + e.getMessage());
        }
    }

    /** Deep merge: maps merge, anything else in {@code over} replaces. */
    @SuppressWarnings("unchecked")
    static void merge(Map<String, Object> into, Map<String, Object> over) {
        over.forEach((k, val) -> {
            if (val instanceof Map<?, ?> m && into.get(k) instanceof Map<?, ?> existing) {
                Map<String, Object> copy = new LinkedHashMap<>((Map<String, Object>) existing);
                merge(copy, (Map<String, Object>) m);
                into.put(k, copy);
            } else {
                into.put(k, val);
            }
        });
    }
}
