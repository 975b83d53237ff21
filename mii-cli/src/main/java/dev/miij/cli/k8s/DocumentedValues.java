package dev.miij.cli.k8s;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.miij.MiiException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A Helm {@code values.yaml} whose comments document every knob, with values replaced in place so
 * that the comments stay. Nested maps are blocks of {@code key: value} lines indented by two spaces;
 * lists and empty maps are written in flow style ({@code []}, {@code {}}), as a replaced value is.
 *
 * <pre>{@code
 * String yaml = DocumentedValues.override(defaults, Map.of("replicas", 3, "image", Map.of("tag", "v1")));
 * }</pre>
 */
public final class DocumentedValues {

    private static final ObjectMapper JSON = new ObjectMapper();

    private DocumentedValues() {
    }

    /**
     * {@code yaml} with the leaves named by {@code overrides} (nested maps follow the YAML's blocks)
     * replaced; a key that the YAML does not have is an error naming it.
     */
    public static String override(String yaml, Map<String, ?> overrides) {
        return override(yaml, overrides, Set.of());
    }

    /**
     * As {@link #override(String, Map)}, except that the blocks at the paths {@code freeForm} (e.g.
     * {@code resources}, Kubernetes maps rather than knobs) take new keys, added at their end.
     */
    public static String override(String yaml, Map<String, ?> overrides, Set<String> freeForm) {
        List<String> lines = new ArrayList<>(List.of(yaml.split("\n", -1)));
        apply(lines, 0, lines.size(), -1, "", overrides, freeForm);
        return String.join("\n", lines);
    }

    private static void apply(List<String> lines, int from, int to, int parentIndent, String path, Map<String, ?> overrides,
                              Set<String> freeForm) {
        for (Map.Entry<String, ?> e : overrides.entrySet()) {
            String key = e.getKey();
            int at = find(lines, from, to, parentIndent, key);
            if (at < 0) {
                boolean free = freeForm.stream().anyMatch(f -> (path).startsWith(f + "."));
                if (!free || from == 0) {
                    throw MiiException.invalid("unknown value '" + path + key + "': the chart's values.yaml has no such key");
                }
                int childIndent = parentIndent + 2;
                int end = from;
                for (int i = from; i < to; i++) {
                    if (isEntry(lines.get(i))) {
                        end = i + 1;
                    }
                }
                lines.add(end, " ".repeat(childIndent) + quoteKey(key) + ": " + flow(e.getValue()));
                to++;
                continue;
            }
            int indent = indent(lines.get(at));
            int end = blockEnd(lines, at, indent);
            boolean block = end > at + 1 && hasEntries(lines, at + 1, end);
            if (e.getValue() instanceof Map<?, ?> m && !m.isEmpty() && block) {
                @SuppressWarnings("unchecked")
                Map<String, ?> sub = (Map<String, ?>) m;
                int before = lines.size();
                apply(lines, at + 1, end, indent, path + key + ".", sub, freeForm);
                to += lines.size() - before;
            } else {
                lines.set(at, lines.get(at).substring(0, indent) + quoteKey(key) + ": " + flow(e.getValue()));
                if (block) {
                    // A block replaced by a flow value: its lines go.
                    int removed = end - at - 1;
                    lines.subList(at + 1, end).clear();
                    to -= removed;
                }
            }
        }
    }

    /** The line of {@code key} directly inside the block (from, to) whose entries are indented more than parentIndent. */
    private static int find(List<String> lines, int from, int to, int parentIndent, String key) {
        int childIndent = -1;
        for (int i = from; i < to; i++) {
            String l = lines.get(i);
            if (!isEntry(l)) {
                continue;
            }
            int ind = indent(l);
            if (ind <= parentIndent) {
                break;
            }
            if (childIndent < 0) {
                childIndent = ind;
            }
            if (ind == childIndent && keyOf(l).equals(key)) {
                return i;
            }
        }
        return -1;
    }

    private static int blockEnd(List<String> lines, int at, int indent) {
        int end = at + 1;
        int lastEntry = at;
        for (; end < lines.size(); end++) {
            String l = lines.get(end);
            if (isEntry(l)) {
                if (indent(l) <= indent) {
                    break;
                }
                lastEntry = end;
            }
        }
        return lastEntry + 1; // comments before the next key belong to it
    }

    private static boolean hasEntries(List<String> lines, int from, int to) {
        for (int i = from; i < to; i++) {
            if (isEntry(lines.get(i))) {
                return true;
            }
        }
        return false;
    }

    private static boolean isEntry(String l) {
        String t = l.strip();
        return !t.isEmpty() && !t.startsWith("#") && t.contains(":");
    }

    private static int indent(String l) {
        int i = 0;
        while (i < l.length() && l.charAt(i) == ' ') {
            i++;
        }
        return i;
    }

    private static String keyOf(String l) {
        String t = l.strip();
        String k = t.substring(0, t.indexOf(':'));
        return k.startsWith("\"") && k.endsWith("\"") && k.length() >= 2 ? k.substring(1, k.length() - 1) : k;
    }

    private static String quoteKey(String key) {
        return key.matches("[A-Za-z0-9_.\\-/]+") ? key : flow(key);
    }

    /** A value in YAML flow style (JSON is YAML). */
    static String flow(Object v) {
        try {
            return JSON.writeValueAsString(v);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("cannot write " + v, e);
        }
    }
}
