package dev.miij.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.client.utils.Serialization;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * Charts of {@code mii k8s} for the main combinations, linted and rendered by helm (skipped when
 * helm is not installed: {@code scripts/fetch-test-data} puts one in .testdata/bin), every object
 * checked against the Kubernetes object model with no unknown field.
 */
class K8sCommandTest {

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());

    @TempDir
    Path tmp;

    private Path chart(String... args) {
        List<String> all = new ArrayList<>(List.of("k8s"));
        all.addAll(List.of(args));
        all.addAll(List.of("--output", tmp.resolve("chart").toString()));
        int code = new CommandLine(new MiiCommand()).execute(all.toArray(String[]::new));
        assertEquals(0, code);
        return tmp.resolve("chart");
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> values(Path chart) throws IOException {
        return YAML.readValue(chart.resolve("values.yaml").toFile(), Map.class);
    }

    @Test
    void valuesCarryTheFlags() throws IOException {
        Path c = chart("org/model", "--deployment-name", "demo", "--replicas", "3", "--gpus-per-replica", "2",
                "--image", "reg.example.com:5000/mii-j:0.1", "--max-length", "512", "--no-prefix-caching");
        Map<String, Object> v = values(c);
        assertEquals("org/model", v.get("model"));
        assertEquals(3, v.get("replicas"));
        assertEquals(2, v.get("gpusPerReplica"));
        assertEquals(Map.of("repository", "reg.example.com:5000/mii-j", "tag", "0.1", "pullPolicy", "IfNotPresent",
                "pullSecrets", List.of()), v.get("image"));
        assertEquals(List.of("--max-length", "512", "--no-prefix-caching"), v.get("serveArgs"));
        assertTrue(Files.readString(c.resolve("values.yaml")).contains("# GPUs of each replica pod"));
        assertTrue(Files.readString(c.resolve("Chart.yaml")).contains("name: demo"));
        assertTrue(Files.readString(c.resolve("Dockerfile")).contains("eclipse-temurin:25"));
    }

    @Test
    void valuesFileOverrides() throws IOException {
        Path f = tmp.resolve("over.yaml");
        Files.writeString(f, "keda:\n  enabled: true\n  maxReplicas: 8\nnodeSelector:\n  gpu: h100\n");
        Map<String, Object> v = values(chart("m", "--deployment-name", "demo", "--values", f.toString()));
        assertEquals(true, ((Map<?, ?>) v.get("keda")).get("enabled"));
        assertEquals(8, ((Map<?, ?>) v.get("keda")).get("maxReplicas"));
        assertEquals(Map.of("gpu", "h100"), v.get("nodeSelector"));
        Files.writeString(f, "kedaa:\n  enabled: true\n");
        int code = new CommandLine(new MiiCommand()).execute("k8s", "m", "--deployment-name", "demo", "--values", f.toString(),
                "--output", tmp.resolve("bad").toString());
        assertNotEquals(0, code);
    }

    // --- rendered by helm ---

    private static Path helm() {
        for (Path p : List.of(Path.of("../.testdata/bin/helm"), Path.of(".testdata/bin/helm"))) {
            if (Files.isExecutable(p)) {
                return p.toAbsolutePath();
            }
        }
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            Path p = Path.of(dir, "helm");
            if (!dir.isEmpty() && Files.isExecutable(p)) {
                return p;
            }
        }
        return null;
    }

    private static String run(List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Thread t = Thread.ofVirtual().start(() -> {
            try {
                p.getInputStream().transferTo(out);
            } catch (IOException ignored) {
                // the process went away
            }
        });
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "helm did not finish: " + cmd);
        t.join(5000);
        String s = out.toString();
        assertEquals(0, p.exitValue(), String.join(" ", cmd) + ":\n" + s);
        return s;
    }

    /** helm lint --strict, then helm template: the rendered objects by "Kind/name". */
    private Map<String, Map<String, Object>> render(Path chart) throws Exception {
        Path helm = helm();
        assumeTrue(helm != null, "helm is not installed (scripts/fetch-test-data fetches one)");
        run(List.of(helm.toString(), "lint", "--strict", chart.toString()));
        String out = run(List.of(helm.toString(), "template", "rel", chart.toString(), "--namespace", "serving"));
        Map<String, Map<String, Object>> objects = new LinkedHashMap<>();
        try (MappingIterator<Map<String, Object>> it = YAML.readerFor(Map.class).readValues(out)) {
            while (it.hasNext()) {
                Map<String, Object> o = it.next();
                if (o == null || o.isEmpty()) {
                    continue;
                }
                String doc = YAML.writeValueAsString(o);
                Object typed = Serialization.unmarshal(doc);
                String kind = (String) o.get("kind");
                String name = (String) ((Map<?, ?>) o.get("metadata")).get("name");
                if (!CUSTOM.contains(kind)) {
                    assertFalse(typed instanceof GenericKubernetesResource, kind + " is not a Kubernetes kind fabric8 knows");
                    assertNoUnknownFields(typed, kind + "/" + name);
                }
                objects.put(kind + "/" + name, o);
            }
        }
        return objects;
    }

    // Custom resources (their controllers' CRDs) are checked by their structure below.
    private static final List<String> CUSTOM = List.of("LeaderWorkerSet", "ScaledObject", "InferencePool");

    /** Fails if any object of the model holds a field its class does not declare (a misspelt or misplaced key). */
    private static void assertNoUnknownFields(Object o, String path) throws Exception {
        if (o == null || o instanceof String || o instanceof Number || o instanceof Boolean || o instanceof Quantity
                || o instanceof Enum<?>) {
            return;
        }
        if (o instanceof Collection<?> c) {
            int i = 0;
            for (Object e : c) {
                assertNoUnknownFields(e, path + "[" + i++ + "]");
            }
            return;
        }
        if (o instanceof Map<?, ?> m) {
            for (Map.Entry<?, ?> e : m.entrySet()) {
                assertNoUnknownFields(e.getValue(), path + "." + e.getKey());
            }
            return;
        }
        if (!o.getClass().getName().startsWith("io.fabric8.")) {
            return;
        }
        for (Method g : o.getClass().getMethods()) {
            if (g.getParameterCount() != 0 || Modifier.isStatic(g.getModifiers()) || !g.getName().startsWith("get")
                    || g.getDeclaringClass() == Object.class) {
                continue;
            }
            Object v = g.invoke(o);
            if (g.getName().equals("getAdditionalProperties")) {
                assertTrue(v == null || ((Map<?, ?>) v).isEmpty(), path + " has unknown fields " + v);
            } else if (!(v instanceof Class<?>)) {
                assertNoUnknownFields(v, path + "." + g.getName().substring(3));
            }
        }
    }

    private static <T> T typed(Map<String, Object> o, Class<T> type) throws Exception {
        return Serialization.unmarshal(YAML.writeValueAsString(o), type);
    }

    private static Container server(PodSpec pod) {
        assertEquals(1, pod.getContainers().size());
        return pod.getContainers().getFirst();
    }

    private static void assertServer(Container c, int gpus) {
        assertEquals("serve", c.getArgs().getFirst());
        assertTrue(c.getArgs().containsAll(List.of("--host", "0.0.0.0", "--enable-restful-api", "--replica-num")), c.getArgs().toString());
        assertEquals(List.of("grpc", "http"), c.getPorts().stream().map(p -> p.getName()).toList());
        for (var probe : List.of(c.getStartupProbe(), c.getReadinessProbe(), c.getLivenessProbe())) {
            assertEquals("/healthz", probe.getHttpGet().getPath());
            assertEquals("http", probe.getHttpGet().getPort().getStrVal());
        }
        assertTrue(c.getStartupProbe().getFailureThreshold() * c.getStartupProbe().getPeriodSeconds() >= 600,
                "model loading gets minutes");
        Map<String, String> env = c.getEnv().stream().collect(Collectors.toMap(e -> e.getName(),
                e -> e.getValue() != null ? e.getValue() : "secret:" + e.getValueFrom().getSecretKeyRef().getName()));
        assertEquals("/var/cache/huggingface", env.get("HF_HOME"));
        assertEquals("secret:hf", env.get("HF_TOKEN"));
        assertEquals("secret:keys", env.get("MII_API_KEY"));
        Quantity gpu = c.getResources().getLimits().get("nvidia.com/gpu");
        if (gpus == 0) {
            assertEquals(null, gpu);
            assertTrue(c.getArgs().containsAll(List.of("--device", "cpu")));
        } else {
            assertEquals(String.valueOf(gpus), gpu.getAmount());
            assertTrue(c.getArgs().containsAll(List.of("--device", "cuda")));
        }
        assertEquals("/var/cache/huggingface", c.getVolumeMounts().getFirst().getMountPath());
    }

    private Path secretsFile() throws IOException {
        Path f = tmp.resolve("secrets.yaml");
        Files.writeString(f, "secrets:\n  hfToken:\n    name: hf\n  apiKey:\n    name: keys\n");
        return f;
    }

    @Test
    void cpuReplicas() throws Exception {
        var objects = render(chart("models/kjv-demo", "--deployment-name", "kjv", "--replicas", "2",
                "--values", secretsFile().toString()));
        assertEquals(List.of("Service/kjv", "Service/kjv-replicas", "ServiceAccount/kjv-router", "Role/kjv-endpointslice-reader",
                "RoleBinding/kjv-endpointslice-reader", "PodDisruptionBudget/kjv", "PersistentVolumeClaim/kjv-hf-cache",
                "Deployment/kjv", "Deployment/kjv-router").stream().sorted().toList(),
                objects.keySet().stream().sorted().toList());
        Deployment d = typed(objects.get("Deployment/kjv"), Deployment.class);
        assertEquals(2, d.getSpec().getReplicas());
        assertServer(server(d.getSpec().getTemplate().getSpec()), 0);
        assertEquals("kjv-hf-cache", d.getSpec().getTemplate().getSpec().getVolumes().getFirst().getPersistentVolumeClaim().getClaimName());

        Service client = typed(objects.get("Service/kjv"), Service.class);
        assertEquals(List.of(50050, 28080, 8000), client.getSpec().getPorts().stream().map(p -> p.getPort()).toList());
        assertEquals("router", client.getSpec().getSelector().get("app.kubernetes.io/component"));
        Service headless = typed(objects.get("Service/kjv-replicas"), Service.class);
        assertEquals("None", headless.getSpec().getClusterIP());
        assertEquals(d.getSpec().getSelector().getMatchLabels(), headless.getSpec().getSelector());

        Deployment router = typed(objects.get("Deployment/kjv-router"), Deployment.class);
        List<String> args = router.getSpec().getTemplate().getSpec().getContainers().getFirst().getArgs();
        assertEquals("kubernetes:kjv-replicas", args.get(args.indexOf("--replica-discovery") + 1));
        assertEquals("kjv-router", router.getSpec().getTemplate().getSpec().getServiceAccountName());
        Role role = typed(objects.get("Role/kjv-endpointslice-reader"), Role.class);
        assertEquals(List.of("endpointslices"), role.getRules().getFirst().getResources());
        assertEquals(List.of("get", "list", "watch"), role.getRules().getFirst().getVerbs());
    }

    @Test
    void gpuReplicasWithoutRouterOnHostPath() throws Exception {
        Path f = tmp.resolve("v.yaml");
        Files.writeString(f, "router:\n  enabled: false\ncache:\n  type: hostPath\nsecrets:\n  hfToken:\n    name: hf\n"
                + "  apiKey:\n    name: keys\ntolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]\n");
        var objects = render(chart("meta-llama/Llama-3.2-1B-Instruct", "--deployment-name", "llama", "--gpus-per-replica", "1",
                "--values", f.toString(), "--kv-cache-memory", "8g"));
        assertFalse(objects.containsKey("Deployment/llama-router"));
        assertFalse(objects.containsKey("Role/llama-endpointslice-reader"));
        Deployment d = typed(objects.get("Deployment/llama"), Deployment.class);
        PodSpec pod = d.getSpec().getTemplate().getSpec();
        assertServer(server(pod), 1);
        assertTrue(server(pod).getArgs().containsAll(List.of("--kv-cache-memory", "8g")));
        assertEquals("/var/cache/huggingface", pod.getVolumes().getFirst().getHostPath().getPath());
        assertEquals("nvidia.com/gpu", pod.getTolerations().getFirst().getKey());
        Service client = typed(objects.get("Service/llama"), Service.class);
        assertEquals("replica", client.getSpec().getSelector().get("app.kubernetes.io/component"));
    }

    @Test
    @SuppressWarnings("unchecked")
    void leaderWorkerSetAcrossTwoNodes() throws Exception {
        var objects = render(chart("org/big", "--deployment-name", "big", "--replicas", "2", "--gpus-per-replica", "8",
                "--nodes-per-replica", "2", "--values", secretsFile().toString()));
        assertFalse(objects.containsKey("Deployment/big"));
        Map<String, Object> lws = objects.get("LeaderWorkerSet/big");
        assertEquals("leaderworkerset.x-k8s.io/v1", lws.get("apiVersion"));
        Map<String, Object> spec = (Map<String, Object>) lws.get("spec");
        assertEquals(2, spec.get("replicas"));
        Map<String, Object> tmpl = (Map<String, Object>) spec.get("leaderWorkerTemplate");
        assertEquals(2, tmpl.get("size"));
        assertEquals("RecreateGroupOnPodRestart", tmpl.get("restartPolicy"));
        // Both pod templates are real pod templates.
        var leader = typed((Map<String, Object>) tmpl.get("leaderTemplate"), io.fabric8.kubernetes.api.model.PodTemplateSpec.class);
        var worker = typed((Map<String, Object>) tmpl.get("workerTemplate"), io.fabric8.kubernetes.api.model.PodTemplateSpec.class);
        assertNoUnknownFields(leader, "leaderTemplate");
        assertNoUnknownFields(worker, "workerTemplate");
        assertServer(server(leader.getSpec()), 8);
        assertEquals("replica", leader.getMetadata().getLabels().get("app.kubernetes.io/component"));
        Container w = worker.getSpec().getContainers().getFirst();
        assertEquals("worker", w.getArgs().getFirst());
        assertEquals("8", w.getResources().getLimits().get("nvidia.com/gpu").getAmount());
        assertEquals(List.of("leaderTemplate", "size", "restartPolicy", "workerTemplate").stream().sorted().toList(),
                tmpl.keySet().stream().sorted().toList());
    }

    @Test
    @SuppressWarnings("unchecked")
    void kedaAndInferencePool() throws Exception {
        Path f = tmp.resolve("v.yaml");
        Files.writeString(f, "keda:\n  enabled: true\n  maxReplicas: 6\ninferencePool:\n  enabled: true\n  endpointPicker:\n"
                + "    name: demo-epp\ncache:\n  type: emptyDir\n");
        var objects = render(chart("m", "--deployment-name", "demo", "--replicas", "2", "--values", f.toString()));
        Deployment d = typed(objects.get("Deployment/demo"), Deployment.class);
        assertEquals(null, d.getSpec().getReplicas(), "KEDA owns the replica count");
        assertFalse(objects.containsKey("PersistentVolumeClaim/demo-hf-cache"));

        Map<String, Object> so = objects.get("ScaledObject/demo");
        assertEquals("keda.sh/v1alpha1", so.get("apiVersion"));
        Map<String, Object> spec = (Map<String, Object>) so.get("spec");
        assertEquals(Map.of("apiVersion", "apps/v1", "kind", "Deployment", "name", "demo"), spec.get("scaleTargetRef"));
        assertEquals(6, spec.get("maxReplicaCount"));
        Map<String, Object> trigger = ((List<Map<String, Object>>) spec.get("triggers")).getFirst();
        assertEquals("prometheus", trigger.get("type"));
        Map<String, Object> md = (Map<String, Object>) trigger.get("metadata");
        assertEquals("sum(vllm:num_requests_waiting{model_name=\"demo\"})", md.get("query"));
        assertInstanceOf(String.class, md.get("threshold"));

        Map<String, Object> pool = objects.get("InferencePool/demo");
        assertEquals("inference.networking.k8s.io/v1", pool.get("apiVersion"));
        Map<String, Object> ps = (Map<String, Object>) pool.get("spec");
        assertEquals(List.of(Map.of("number", 28080)), ps.get("targetPorts"));
        assertEquals(d.getSpec().getSelector().getMatchLabels(), ((Map<String, Object>) ps.get("selector")).get("matchLabels"));
        assertEquals("demo-epp", ((Map<String, Object>) ps.get("endpointPickerRef")).get("name"));
        // HTTPRoute is a fabric8 (Gateway API) kind: checked field by field above.
        HasMetadata route = Serialization.unmarshal(YAML.writeValueAsString(objects.get("HTTPRoute/demo")));
        assertEquals("HTTPRoute", route.getKind());
        assertTrue(YAML.writeValueAsString(objects.get("HTTPRoute/demo")).contains("kind: \"InferencePool\""));
    }

    /**
     * LeaderWorkerSet, ScaledObject and InferencePool against their projects' published CRDs (OpenAPI v3
     * schemas, unknown fields rejected), kept in src/test/resources/crds.
     */
    @Test
    void customResourcesAgainstTheirCrds() throws Exception {
        Path dir = Path.of(K8sCommandTest.class.getResource("/crds").toURI());
        List<dev.miij.cli.k8s.CrdSchema> crds = new ArrayList<>();
        try (var files = Files.list(dir)) {
            for (Path f : files.filter(x -> x.toString().endsWith(".yaml.gz")).sorted().toList()) {
                crds.addAll(dev.miij.cli.k8s.CrdSchema.load(f));
            }
        }
        assertEquals(3, crds.stream().map(dev.miij.cli.k8s.CrdSchema::apiVersion).distinct().count(),
                "the three CRDs' served versions");
        Path f = tmp.resolve("crd.yaml");
        Files.writeString(f, "keda:\n  enabled: true\ninferencePool:\n  enabled: true\n  endpointPicker:\n    name: epp\n");
        List<Map<String, Map<String, Object>>> charts = List.of(
                render(chart("m", "--deployment-name", "demo", "--replicas", "2", "--values", f.toString())),
                render(chart("org/big", "--deployment-name", "big", "--nodes-per-replica", "2", "--gpus-per-replica", "8",
                        "--values", f.toString())));
        Set<Object> checked = new HashSet<>();
        for (var objects : charts) {
            for (var e : objects.entrySet()) {
                if (!CUSTOM.contains(String.valueOf(e.getValue().get("kind")))) {
                    continue;
                }
                var schema = dev.miij.cli.k8s.CrdSchema.find(crds, e.getValue());
                assertTrue(schema.isPresent(), "no CRD for " + e.getValue().get("apiVersion") + " " + e.getKey());
                assertEquals(List.of(), schema.get().validate(e.getValue()), e.getKey());
                checked.add(e.getValue().get("kind"));
            }
        }
        assertEquals(Set.copyOf(CUSTOM), checked, "every kind of custom resource rendered and checked");
    }
}
