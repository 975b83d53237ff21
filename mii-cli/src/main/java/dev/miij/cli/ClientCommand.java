package dev.miij.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.miij.Client;
import dev.miij.GenerationOptions;
import dev.miij.Mii;
import dev.miij.MiiException;
import dev.miij.Response;
import dev.miij.engine.StreamListener;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletionException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code mii client}: send prompts to a running deployment of this host, found by name. */
@Command(name = "client", mixinStandardHelpOptions = true,
        description = "Generate text with a running deployment (see 'mii serve' and 'mii list').")
final class ClientCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "NAME", description = "Deployment name.")
    String name;

    @Parameters(index = "1..*", arity = "1..*", paramLabel = "PROMPT", description = "Prompts (batched together).")
    List<String> prompts;

    // The same generation flags as 'mii generate'.
    @Option(names = "--max-new-tokens", paramLabel = "N", description = "Tokens to generate at most.")
    Integer maxNewTokens;

    @Option(names = "--min-new-tokens", paramLabel = "N", description = "Suppress end-of-sequence until N tokens exist.")
    int minNewTokens;

    @Option(names = "--max-length", paramLabel = "N", description = "Prompt plus generated tokens at most (default: the deployment's).")
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

    @Option(names = "--stop", paramLabel = "TEXT", description = "Stop string (repeatable; any length).")
    List<String> stop = new ArrayList<>();

    @Option(names = "--return-full-text", description = "Print the prompt before the generated text.")
    boolean returnFullText;

    @Option(names = "--stream", description = "Print text as it is generated (one prompt at a time).")
    boolean stream;

    @Option(names = "--json", description = "Print one JSON array of responses on stdout, nothing else.")
    boolean json;

    @Option(names = "--debug", description = "Show stack traces on errors.")
    boolean debug;

    @Override
    public Integer call() {
        GenerationOptions.Builder b = GenerationOptions.builder()
                .maxNewTokens(maxNewTokens).minNewTokens(minNewTokens).doSample(!greedy).ignoreEos(ignoreEos)
                .temperature(temperature).topP(topP).topK(topK).seed(seed).stop(stop).returnFullText(returnFullText);
        if (maxLength != null) {
            b.maxLength(maxLength);
        }
        GenerationOptions options = b.build();
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        try (Client client = Mii.client(name)) {
            if (stream && !json) {
                for (String p : prompts) {
                    if (returnFullText) {
                        out.print(p);
                    }
                    StreamListener printer = (text, ids) -> out.print(text);
                    join(client.stream(p, options.toBuilder().returnFullText(false).build(), printer));
                    out.println();
                }
                return 0;
            }
            List<Response> responses = client.generate(prompts, options);
            if (json) {
                out.println(GenerateCommand.toJson(responses));
            } else {
                responses.forEach(r -> out.println(r.generatedText()));
            }
        }
        return 0;
    }

    private static Response join(java.util.concurrent.CompletableFuture<Response> f) {
        try {
            return f.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw e;
        }
    }
}
