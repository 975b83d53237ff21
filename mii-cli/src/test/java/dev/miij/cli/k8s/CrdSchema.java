package dev.miij.cli.k8s;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.zip.GZIPInputStream;

/**
 * The OpenAPI v3 schema of one version of a CustomResourceDefinition, as a JSON Schema that rejects unknown
 * fields the way the API server prunes them: an object with {@code properties} accepts no other key unless it
 * says {@code x-kubernetes-preserve-unknown-fields: true}; {@code x-kubernetes-int-or-string} accepts an
 * integer or a string; {@code x-kubernetes-embedded-resource} adds apiVersion, kind and metadata; {@code
 * nullable} adds null.
 */
public final class CrdSchema {
    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private final String group;
    private final String kind;
    private final String version;
    private final JsonSchema schema;

    private CrdSchema(String group, String kind, String version, JsonNode openApiV3Schema) {
        this.group = group;
        this.kind = kind;
        this.version = version;
        ObjectNode root = (ObjectNode) toJsonSchema(openApiV3Schema);
        // The API server checks an object's own metadata as ObjectMeta, whatever the CRD says of it.
        ((ObjectNode) root.with("properties")).set("metadata", NODES.objectNode().put("type", "object"));
        this.schema = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V4).getSchema(root);
    }

    /** Every served version of every CRD in a (multi-document) YAML file, gzipped when its name ends in .gz. */
    public static List<CrdSchema> load(Path file) throws IOException {
        List<CrdSchema> out = new ArrayList<>();
        try (InputStream raw = Files.newInputStream(file);
                InputStream in = file.toString().endsWith(".gz") ? new GZIPInputStream(raw) : raw;
                MappingIterator<JsonNode> it = YAML.readerFor(JsonNode.class).readValues(in)) {
            while (it.hasNext()) {
                JsonNode doc = it.next();
                if (doc == null || !"CustomResourceDefinition".equals(doc.path("kind").asText())) {
                    continue;
                }
                JsonNode spec = doc.path("spec");
                for (JsonNode v : spec.path("versions")) {
                    JsonNode s = v.path("schema").path("openAPIV3Schema");
                    if (!s.isMissingNode()) {
                        out.add(new CrdSchema(spec.path("group").asText(), spec.path("names").path("kind").asText(),
                                v.path("name").asText(), s));
                    }
                }
            }
        }
        return out;
    }

    /** The schema among {@code schemas} for this object's apiVersion and kind. */
    public static Optional<CrdSchema> find(List<CrdSchema> schemas, Map<String, Object> object) {
        return schemas.stream()
                .filter(s -> s.apiVersion().equals(object.get("apiVersion")) && s.kind.equals(object.get("kind")))
                .findFirst();
    }

    public String apiVersion() {
        return group + "/" + version;
    }

    public String kind() {
        return kind;
    }

    /** The violations of this schema by {@code object}; empty when it is valid. */
    public List<String> validate(Object object) {
        JsonNode node = YAML.valueToTree(object);
        return schema.validate(node).stream().map(ValidationMessage::getMessage).sorted().toList();
    }

    /** Converts a structural OpenAPI v3 schema (as in a CRD) to a draft-4 JSON Schema. */
    static JsonNode toJsonSchema(JsonNode s) {
        if (!s.isObject()) {
            return s;
        }
        ObjectNode in = (ObjectNode) s;
        ObjectNode out = NODES.objectNode();
        boolean preserve = in.path("x-kubernetes-preserve-unknown-fields").asBoolean(false);
        for (Iterator<Map.Entry<String, JsonNode>> it = in.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            String k = e.getKey();
            JsonNode v = e.getValue();
            switch (k) {
                case "properties", "patternProperties", "definitions" -> {
                    ObjectNode props = NODES.objectNode();
                    v.fields().forEachRemaining(p -> props.set(p.getKey(), toJsonSchema(p.getValue())));
                    out.set(k, props);
                }
                case "items", "additionalProperties", "not" -> out.set(k, toJsonSchema(v));
                case "allOf", "anyOf", "oneOf" -> {
                    ArrayNode a = NODES.arrayNode();
                    v.forEach(x -> a.add(toJsonSchema(x)));
                    out.set(k, a);
                }
                // Formats are the API server's (int32, int-or-string, …), not JSON Schema's; descriptions and
                // the x-kubernetes-* markers are interpreted below; nullable is applied to the type.
                case "format", "description", "nullable", "example", "externalDocs" -> { }
                default -> {
                    if (!k.startsWith("x-kubernetes-")) {
                        out.set(k, v);
                    }
                }
            }
        }
        if (in.path("x-kubernetes-int-or-string").asBoolean(false)) {
            out.remove("type");
            ArrayNode any = NODES.arrayNode();
            any.add(NODES.objectNode().put("type", "integer"));
            any.add(NODES.objectNode().put("type", "string"));
            out.set("anyOf", any);
        }
        if (in.path("x-kubernetes-embedded-resource").asBoolean(false)) {
            ObjectNode props = out.has("properties") ? (ObjectNode) out.get("properties") : out.putObject("properties");
            props.putIfAbsent("apiVersion", NODES.objectNode().put("type", "string"));
            props.putIfAbsent("kind", NODES.objectNode().put("type", "string"));
            props.putIfAbsent("metadata", NODES.objectNode().put("type", "object"));
        }
        if ("object".equals(in.path("type").asText()) && !preserve && !out.has("additionalProperties")) {
            // The API server prunes (and a strict client rejects) fields that the schema does not name.
            out.put("additionalProperties", false);
            if (!out.has("properties")) {
                out.putObject("properties");
            }
        }
        if (in.path("nullable").asBoolean(false) && out.has("type")) {
            ArrayNode types = NODES.arrayNode();
            types.add(out.get("type"));
            types.add("null");
            out.set("type", types);
        }
        return out;
    }
}
