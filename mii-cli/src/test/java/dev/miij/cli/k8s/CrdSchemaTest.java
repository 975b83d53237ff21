package dev.miij.cli.k8s;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CrdSchemaTest {
    @TempDir
    Path tmp;

    private static final String CRD = """
            apiVersion: apiextensions.k8s.io/v1
            kind: CustomResourceDefinition
            metadata:
              name: widgets.example.com
            spec:
              group: example.com
              names: {kind: Widget, plural: widgets}
              scope: Namespaced
              versions:
              - name: v1
                served: true
                storage: true
                schema:
                  openAPIV3Schema:
                    type: object
                    properties:
                      apiVersion: {type: string}
                      kind: {type: string}
                      metadata: {type: object}
                      spec:
                        type: object
                        required: [size]
                        properties:
                          size: {type: integer, format: int32, minimum: 1}
                          port: {x-kubernetes-int-or-string: true}
                          note: {type: string, nullable: true}
                          template:
                            type: object
                            properties:
                              metadata:
                                type: object
                                properties:
                                  labels: {type: object, additionalProperties: {type: string}}
                              spec:
                                type: object
                                x-kubernetes-preserve-unknown-fields: true
                          raw:
                            type: object
                            x-kubernetes-embedded-resource: true
                            x-kubernetes-preserve-unknown-fields: true
                          mode: {type: string, enum: [A, B]}
            """;

    private CrdSchema widget() throws Exception {
        Path f = tmp.resolve("crd.yaml");
        Files.writeString(f, CRD);
        List<CrdSchema> all = CrdSchema.load(f);
        assertEquals(1, all.size());
        assertEquals("example.com/v1", all.getFirst().apiVersion());
        return all.getFirst();
    }

    private static Map<String, Object> widget(Map<String, Object> spec) {
        return Map.of("apiVersion", "example.com/v1", "kind", "Widget",
                "metadata", Map.of("name", "w", "labels", Map.of("a", "b")), "spec", spec);
    }

    @Test
    void acceptsWhatTheSchemaNames() throws Exception {
        CrdSchema s = widget();
        assertEquals(List.of(), s.validate(widget(Map.of("size", 2, "port", "http", "note", "x", "mode", "A",
                "template", Map.of("metadata", Map.of("labels", Map.of("k", "v")),
                        "spec", Map.of("anything", List.of(1, 2))),
                "raw", Map.of("apiVersion", "v1", "kind", "ConfigMap", "data", Map.of())))));
        assertEquals(List.of(), s.validate(widget(Map.of("size", 2, "port", 8080))));
        assertTrue(CrdSchema.find(List.of(s), widget(Map.of())).isPresent());
    }

    private static void rejected(List<String> violations) {
        assertFalse(violations.isEmpty(), "accepted");
    }

    @Test
    void rejectsUnknownFieldsWrongTypesAndMissingOnes() throws Exception {
        CrdSchema s = widget();
        rejected(s.validate(widget(Map.of("size", 2, "colour", "red"))));
        rejected(s.validate(widget(Map.of("size", 2, "template", Map.of("metadata", Map.of("labelz", Map.of()))))));
        rejected(s.validate(widget(Map.of("size", "2"))));
        rejected(s.validate(widget(Map.of("size", 0))));
        rejected(s.validate(widget(Map.of("size", 1, "mode", "C"))));
        rejected(s.validate(widget(Map.of("size", 1, "port", 1.5))));
        rejected(s.validate(widget(Map.of())));
    }
}
