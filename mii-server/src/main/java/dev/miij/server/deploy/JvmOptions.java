package dev.miij.server.deploy;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * The JVM options every launch of MII-J needs (the Vector API, native access), read from the one file
 * that holds them, the repository's {@code scripts/jvm.options}, which the build packs beside this class.
 *
 * <pre>{@code
 * List<String> cmd = new ArrayList<>(List.of("java"));
 * cmd.addAll(JvmOptions.required());   // [--add-modules, jdk.incubator.vector, --enable-native-access=ALL-UNNAMED, ...]
 * }</pre>
 */
public final class JvmOptions {

    private static final List<String> REQUIRED = read();

    private JvmOptions() {
    }

    /** The options, one argument each, in the file's order. */
    public static List<String> required() {
        return REQUIRED;
    }

    /** Parses the argument file as the java launcher does for these lines: '#' comment lines, blank-separated words. */
    static List<String> parse(String text) {
        List<String> out = new ArrayList<>();
        for (String line : text.split("\r?\n")) {
            String l = line.strip();
            if (l.isEmpty() || l.startsWith("#")) {
                continue;
            }
            for (String word : l.split("\\s+")) {
                out.add(word);
            }
        }
        return List.copyOf(out);
    }

    private static List<String> read() {
        try (InputStream in = JvmOptions.class.getResourceAsStream("jvm.options")) {
            if (in == null) {
                throw new IllegalStateException("jvm.options is missing beside " + JvmOptions.class.getName()
                        + " (the build copies it from scripts/jvm.options)");
            }
            return parse(new String(in.readAllBytes(), StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
