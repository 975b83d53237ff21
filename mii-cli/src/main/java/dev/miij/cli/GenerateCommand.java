package dev.miij.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.miij.GenerationOptions;
import dev.miij.Mii;
import dev.miij.MiiException;
import dev.miij.Pipeline;
import dev.miij.PipelineOptions;
import dev.miij.Response;
import dev.miij.backend.cpu.CpuBackend;
import dev.miij.engine.StreamListener;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code mii generate}: run prompts through a model in this process. */
@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Generate text for one or more prompts (all prompts are batched through the engine).")
final class GenerateCommand implements Callable<Integer> {

    @Option(names = {"-m", "--model"}, paramLabel = "DIR_OR_ID",
            description = "Model folder or Hugging Face id (org/name). Default: the bundled demo model.")
    String model;

    @Mixin
    GenerationFlags generation = new GenerationFlags();

    @Option(names = "--stream", description = "Print text as it is generated (one prompt at a time).")
    boolean stream;

    @Option(names = "--json", description = "Print one JSON array of responses on stdout, nothing else.")
    boolean json;

    @Option(names = "--debug", description = "Show stack traces on errors, and on stderr the CPU kernels in use, the engine's log (KV cache,"
            + " warm-up) and how long loading and generating took.")
    boolean debug;

    @Mixin
    EngineFlags engineFlags = new EngineFlags();

    @Mixin
    DeviceFlags deviceFlags = new DeviceFlags();

    @Parameters(paramLabel = "PROMPT", arity = "1..*", description = "Prompts.")
    List<String> prompts;

    @Override
    public Integer call() {
        GenerationOptions options = generation.toOptions();
        // Only these prompts will run: the KV cache is sized for them, not for a server's 512 sequences.
        int sequences = Math.max(1, Math.min(prompts.size(), EngineFlags.DEFAULT_MAX_RAGGED_SEQUENCE_COUNT));
        PipelineOptions pipelineOptions = PipelineOptions.defaults().withEngine(engineFlags.toConfig(sequences));
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        if (debug) {
            System.err.println(CpuBackend.describe());
        }
        try (Pipeline pipe = Mii.pipeline(DefaultModel.resolve(model), deviceFlags.applyTo(pipelineOptions))) {
            long ready = System.nanoTime();
            if (debug) {
                System.err.printf(Locale.ROOT, "model ready %.2f s after the JVM started%n",
                        ManagementFactory.getRuntimeMXBean().getUptime() / 1e3);
            }
            List<Response> responses;
            if (stream && !json) {
                responses = new ArrayList<>();
                for (String p : prompts) {
                    if (generation.returnFullText) {
                        out.print(p);
                    }
                    GenerationOptions streamed = options.toBuilder().returnFullText(false).build();
                    StreamListener printer = (text, ids) -> out.print(text);
                    responses.add(pipe.stream(p, streamed, printer).result().join());
                    out.println();
                }
            } else {
                responses = pipe.generate(prompts, options);
                if (json) {
                    out.println(toJson(responses));
                } else {
                    for (Response r : responses) {
                        out.println(r.generatedText());
                    }
                }
            }
            if (debug) {
                int tokens = responses.stream().mapToInt(Response::generatedLength).sum();
                System.err.printf(Locale.ROOT, "%d prompt%s, %d tokens generated in %.3f s after the model was ready%n",
                        prompts.size(), prompts.size() == 1 ? "" : "s", tokens, (System.nanoTime() - ready) / 1e9);
            }
        }
        return 0;
    }

    static String toJson(List<Response> responses) {
        List<Map<String, Object>> rows = new ArrayList<>();
        for (Response r : responses) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("generated_text", r.generatedText());
            m.put("prompt_length", r.promptLength());
            m.put("generated_length", r.generatedLength());
            m.put("finish_reason", r.finishReason().wireName());
            m.put("token_ids", r.tokenIds());
            rows.add(m);
        }
        try {
            return new ObjectMapper().disable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(rows);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new MiiException(MiiException.Kind.INTERNAL, "could not write JSON", e);
        }
    }
}
