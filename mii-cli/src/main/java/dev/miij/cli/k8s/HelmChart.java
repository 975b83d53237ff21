package dev.miij.cli.k8s;

import dev.miij.MiiException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The Helm chart of one deployment: fixed templates (resources next to this class), a documented
 * {@code values.yaml} with this deployment's values filled in, and the image's Dockerfile.
 *
 * <pre>{@code
 * HelmChart.write(Path.of("charts/kjv-demo"), "kjv-demo", "models/kjv-demo", Map.of("replicas", 2));
 * // helm install kjv-demo charts/kjv-demo
 * }</pre>
 */
public final class HelmChart {

    static final List<String> TEMPLATES = List.of("_helpers.tpl", "deployment.yaml", "leaderworkerset.yaml",
            "service.yaml", "router.yaml", "rbac.yaml", "pdb.yaml", "pvc.yaml", "scaledobject.yaml",
            "inferencepool.yaml", "NOTES.txt");

    /** Blocks of values.yaml that are Kubernetes maps (any key goes), not knobs of the chart. */
    static final Set<String> FREE_FORM = Set.of("resources", "router.resources");

    private HelmChart() {
    }

    /** The chart's default values.yaml, before any value is set. */
    public static String defaultValues() {
        return resource("values.yaml");
    }

    /**
     * Writes the chart into {@code dir} (created; files of an earlier chart there are replaced).
     *
     * @param values values.yaml keys to set (nested maps for nested keys), e.g. {@code replicas}
     */
    public static void write(Path dir, String name, String model, Map<String, ?> values) {
        String chartYaml = resource("Chart.yaml").replace("%NAME%", name).replace("%MODEL%", model.replace("\"", ""))
                .replace("%APP_VERSION%", appVersion());
        String valuesYaml = DocumentedValues.override(defaultValues(), values, FREE_FORM);
        try {
            Files.createDirectories(dir.resolve("templates"));
            Files.writeString(dir.resolve("Chart.yaml"), chartYaml);
            Files.writeString(dir.resolve("values.yaml"), valuesYaml);
            Files.writeString(dir.resolve(".helmignore"), resource("helmignore"));
            Files.writeString(dir.resolve("Dockerfile"), resource("Dockerfile"));
            for (String t : TEMPLATES) {
                Files.writeString(dir.resolve("templates").resolve(t), resource("templates/" + t));
            }
        } catch (IOException e) {
            throw MiiException.io("cannot write the chart to " + dir + ": " + e.getMessage(), e);
        }
    }

    private static String appVersion() {
        String v = HelmChart.class.getPackage().getImplementationVersion();
        return v != null ? v : "0.1.0";
    }

    private static String resource(String name) {
        try (InputStream in = HelmChart.class.getResourceAsStream("/dev/miij/cli/k8s/" + name)) {
            if (in == null) {
                throw new IllegalStateException("chart resource missing: " + name);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
