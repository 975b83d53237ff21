package dev.miij.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.miij.GenerationOptions;
import dev.miij.Mii;
import dev.miij.Pipeline;
import dev.miij.Response;
import dev.miij.arch.Architectures;
import dev.miij.arch.DecoderModel;
import dev.miij.backend.cpu.CpuBackend;
import dev.miij.model.ModelFolder;
import dev.miij.model.WeightSource;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The bundled demo model: held-out perplexity and greedy text equal transformers'. */
class DemoModelPerplexityTest {

    static Path demo() {
        Path p = Path.of("../models/kjv-demo");
        return Files.isDirectory(p) ? p : Path.of("models/kjv-demo");
    }

    static JsonNode reference() throws IOException {
        return new ObjectMapper().readTree(demo().resolve("perplexity_reference.json").toFile());
    }

    @Test
    void heldOutPerplexityMatchesTransformersWithin1e3Relative() throws IOException {
        JsonNode ref = reference();
        JsonNode ws = ref.get("windows");
        int[][] windows = new int[ws.size()][];
        for (int i = 0; i < windows.length; i++) {
            JsonNode ids = ws.get(i).has("input_ids") ? ws.get(i).get("input_ids") : ws.get(i);
            windows[i] = new int[ids.size()];
            for (int j = 0; j < ids.size(); j++) {
                windows[i][j] = ids.get(j).asInt();
            }
        }
        ModelFolder folder = ModelFolder.open(demo());
        try (WeightSource w = folder.openWeights();
             DecoderModel model = new DecoderModel(Architectures.fromConfig(folder.config()), w, new CpuBackend())) {
            double nll = Perplexity.meanNll(model, windows);
            double expected = ref.get("mean_nll").asDouble();
            assertEquals(expected, nll, 1e-3 * expected, "mean NLL");
            double ppl = Math.exp(nll);
            assertEquals(ref.get("perplexity").asDouble(), ppl, 1e-3 * ppl, "perplexity");
        }
    }

    @Test
    void greedyContinuationsMatchTransformers() throws IOException {
        JsonNode greedy = reference().get("greedy");
        try (Pipeline pipe = Mii.pipeline(demo().toString())) {
            for (JsonNode g : greedy) {
                String prompt = g.get("prompt").asText();
                JsonNode expectedIds = g.has("greedy_ids") ? g.get("greedy_ids") : g.get("ids");
                int[] promptIds = pipe.encode(prompt);
                JsonNode promptRef = g.get("prompt_ids");
                if (promptRef != null) {
                    assertEquals(promptRef.size(), promptIds.length, "prompt tokenization of '" + prompt + "'");
                    for (int i = 0; i < promptIds.length; i++) {
                        assertEquals(promptRef.get(i).asInt(), promptIds[i], "prompt token " + i);
                    }
                }
                Response r = pipe.generate(List.of(prompt), GenerationOptions.builder().doSample(false).ignoreEos(true)
                        .maxNewTokens(expectedIds.size()).build()).getFirst();
                double minMargin = g.has("min_top2_margin") ? g.get("min_top2_margin").asDouble() : 1;
                int n = expectedIds.size();
                for (int i = 0; i < n; i++) {
                    assertEquals(expectedIds.get(i).asInt(), (int) r.tokenIds().get(i), "greedy token " + i + " of '" + prompt
                            + "' (smallest reference margin " + minMargin + ")");
                }
                assertTrue(r.generatedText().length() > 20);
            }
        }
    }
}
