package dev.miij.cli.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.miij.MiiException;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class DocumentedValuesTest {

    private static final String YAML = """
            # the model
            model: "a"
            image:
              # where from
              repository: "r"
              tag: "t"
            resources:
              limits:
                memory: 1Gi
            # extra flags
            serveArgs: []
            keda:
              enabled: false
            """;

    @SuppressWarnings("unchecked")
    private static Map<String, Object> parse(String yaml) throws Exception {
        return new ObjectMapper(new YAMLFactory()).readValue(yaml, Map.class);
    }

    @Test
    void replacesLeavesAndKeepsComments() throws Exception {
        String out = DocumentedValues.override(YAML, Map.of("model", "org/m: x", "image", Map.of("tag", "v2"),
                "serveArgs", List.of("--max-length", "64"), "keda", Map.of("enabled", true)));
        Map<String, Object> v = parse(out);
        assertEquals("org/m: x", v.get("model"));
        assertEquals(Map.of("repository", "r", "tag", "v2"), v.get("image"));
        assertEquals(List.of("--max-length", "64"), v.get("serveArgs"));
        assertEquals(Map.of("enabled", true), v.get("keda"));
        assertTrue(out.contains("# where from") && out.contains("# extra flags") && out.contains("# the model"), out);
    }

    @Test
    void freeFormBlocksTakeNewKeysAndBlocksCanBeReplacedWhole() throws Exception {
        Map<String, Object> v = parse(DocumentedValues.override(YAML,
                Map.of("resources", Map.of("limits", Map.of("memory", "2Gi", "nvidia.com/gpu", 1), "requests", Map.of("cpu", "1"))),
                java.util.Set.of("resources")));
        assertEquals(Map.of("limits", Map.of("memory", "2Gi", "nvidia.com/gpu", 1), "requests", Map.of("cpu", "1")), v.get("resources"));
        assertThrows(MiiException.class, () -> DocumentedValues.override(YAML, Map.of("image", Map.of("digest", "x"))));
        v = parse(DocumentedValues.override(YAML, Map.of("resources", Map.of())));
        assertEquals(Map.of(), v.get("resources"));
        assertEquals(Map.of("enabled", false), v.get("keda"));
    }

    @Test
    void unknownKeysAreNamed() {
        MiiException e = assertThrows(MiiException.class, () -> DocumentedValues.override(YAML, Map.of("keda", Map.of("enabeld", true))));
        assertTrue(e.getMessage().contains("keda.enabeld"), e.getMessage());
    }

    @Test
    void theChartsDefaultsParse() throws Exception {
        Map<String, Object> v = parse(HelmChart.defaultValues());
        assertEquals(1, v.get("replicas"));
        assertTrue(((Map<?, ?>) v.get("keda")).containsKey("threshold"));
    }
}
