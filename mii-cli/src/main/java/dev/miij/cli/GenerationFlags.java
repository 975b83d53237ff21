package dev.miij.cli;

import dev.miij.GenerationOptions;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** Generation flags with MII's option names, shared by the commands that generate. */
final class GenerationFlags {

    @Option(names = "--max-new-tokens", paramLabel = "N", description = "Tokens to generate at most.")
    Integer maxNewTokens;

    @Option(names = "--min-new-tokens", paramLabel = "N", description = "Suppress end-of-sequence until N tokens exist.")
    int minNewTokens;

    @Option(names = "--max-length", paramLabel = "N",
            description = "Prompt plus generated tokens at most (default: " + GenerationOptions.DEFAULT_MAX_LENGTH + ").")
    Integer maxLength;

    @Option(names = "--greedy", description = "Greedy decoding (do_sample=false).")
    boolean greedy;

    @Option(names = "--ignore-eos", description = "Keep generating after the end-of-sequence token.")
    boolean ignoreEos;

    @Option(names = "--temperature", paramLabel = "T", description = "Sampling temperature.")
    Double temperature;

    @Option(names = "--top-p", paramLabel = "P", description = "Nucleus sampling mass (default: ${DEFAULT-VALUE}).")
    double topP = 0.9;

    @Option(names = "--top-k", paramLabel = "K", description = "Sample among the K most likely tokens.")
    Integer topK;

    @Option(names = "--seed", paramLabel = "N", description = "Sampling seed (reproducible output).")
    Long seed;

    @Option(names = "--stop", paramLabel = "TEXT",
            description = "Stop string (repeatable; any length); \\n, \\t, \\r and \\\\ are read as escapes, so --stop '\\n\\n' stops at a blank line.")
    List<String> stop = new ArrayList<>();

    @Option(names = "--return-full-text", description = "Print the prompt before the generated text.")
    boolean returnFullText;

    /** The options these flags describe; invalid values throw MiiException naming the option. */
    GenerationOptions toOptions() {
        GenerationOptions.Builder b = GenerationOptions.builder()
                .maxNewTokens(maxNewTokens).minNewTokens(minNewTokens).doSample(!greedy).ignoreEos(ignoreEos)
                .temperature(temperature).topP(topP).topK(topK).seed(seed).stop(stop.stream().map(GenerationFlags::unescape).toList())
                .returnFullText(returnFullText);
        if (maxLength != null) {
            b.maxLength(maxLength);
        }
        return b.build();
    }

    /**
     * Reads the escapes a shell leaves as typed: {@code \n}, {@code \t}, {@code \r}, {@code \\} and
     * {@code \\uXXXX}. Anything else after a backslash stays as it is.
     */
    static String unescape(String s) {
        StringBuilder out = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c != '\\' || i + 1 == s.length()) {
                out.append(c);
                continue;
            }
            char n = s.charAt(i + 1);
            switch (n) {
                case 'n' -> out.append('\n');
                case 't' -> out.append('\t');
                case 'r' -> out.append('\r');
                case '\\' -> out.append('\\');
                case 'u' -> {
                    if (i + 6 <= s.length() && s.substring(i + 2, i + 6).matches("[0-9a-fA-F]{4}")) {
                        out.append((char) Integer.parseInt(s.substring(i + 2, i + 6), 16));
                        i += 4;
                    } else {
                        out.append("\\u");
                    }
                }
                default -> out.append('\\').append(n);
            }
            i++;
        }
        return out.toString();
    }
}
