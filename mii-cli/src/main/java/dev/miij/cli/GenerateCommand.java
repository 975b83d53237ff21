package dev.miij.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.miij.GenerationOptions;
import dev.miij.Mii;
import dev.miij.MiiException;
import dev.miij.Pipeline;
import dev.miij.PipelineOptions;
import dev.miij.Response;
import dev.miij.engine.StreamListener;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
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

    @Option(names = "--max-new-tokens", paramLabel = "N", description = "Tokens to generate at most.")
    Integer maxNewTokens;

    @Option(names = "--min-new-tokens", paramLabel = "N", description = "Suppress end-of-sequence until N tokens exist.")
    int minNewTokens;

    @Option(names = "--max-length", paramLabel = "N", description = "Prompt plus generated tokens at most (default: ${DEFAULT-VALUE}).")
    int maxLength = GenerationOptions.DEFAULT_MAX_LENGTH;

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

    @Mixin
    EngineFlags engineFlags = new EngineFlags();

    @Parameters(paramLabel = "PROMPT", arity = "1..*", description = "Prompts.")
    List<String> prompts;

    @Override
    public Integer call() {
        GenerationOptions options = GenerationOptions.builder()
                .maxNewTokens(maxNewTokens).minNewTokens(minNewTokens).maxLength(maxLength)
                .doSample(!greedy).ignoreEos(ignoreEos).temperature(temperature).topP(topP).topK(topK)
                .seed(seed).stop(stop).returnFullText(returnFullText).build();
        PipelineOptions pipelineOptions = PipelineOptions.defaults().withEngine(engineFlags.toConfig());
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        try (Pipeline pipe = Mii.pipeline(DefaultModel.resolve(model), pipelineOptions)) {
            List<Response> responses;
            if (stream && !json) {
                responses = new ArrayList<>();
                for (String p : prompts) {
                    if (returnFullText) {
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
