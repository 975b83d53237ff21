package dev.miij.cli;

import dev.miij.Client;
import dev.miij.GenerationOptions;
import dev.miij.Response;
import dev.miij.engine.StreamListener;
import dev.miij.server.deploy.GrpcDeploymentProvider;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletionException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
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

    @Mixin
    GenerationFlags generation = new GenerationFlags();

    @Option(names = "--stream", description = "Print text as it is generated (one prompt at a time).")
    boolean stream;

    @Option(names = "--json", description = "Print one JSON array of responses on stdout, nothing else.")
    boolean json;

    @Option(names = "--api-key", paramLabel = "KEY", defaultValue = "${env:MII_API_KEY}",
            description = "The deployment's API key (default: $MII_API_KEY).")
    String apiKey;

    @Option(names = "--debug", description = "Show stack traces on errors.")
    boolean debug;

    @Override
    public Integer call() {
        GenerationOptions options = generation.toOptions();
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        try (Client client = GrpcDeploymentProvider.client(name, apiKey == null || apiKey.isBlank() ? null : apiKey)) {
            if (stream && !json) {
                for (String p : prompts) {
                    if (generation.returnFullText) {
                        out.print(p);
                    }
                    StreamListener printer = (text, ids) -> out.print(text);
                    join(client.stream(p, options.toBuilder().returnFullText(false).build(), printer).result());
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
