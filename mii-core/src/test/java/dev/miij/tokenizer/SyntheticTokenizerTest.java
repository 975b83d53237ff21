package dev.miij.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicContainer;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Components the real tokenizers do not use (Metaspace schemes, Split behaviours, Unigram,
 * WordLevel, CTC and BPE decoders, added-token options, truncation and padding...), checked on
 * small tokenizers against Hugging Face {@code tokenizers}. The data comes from
 * tools/reference/make_synthetic_tokenizers.py.
 */
class SyntheticTokenizerTest {

    private static final ObjectMapper JSON = TokenizerJson.mapper();

    @TestFactory
    Stream<DynamicContainer> variants() {
        JsonNode data = load();
        List<DynamicContainer> out = new ArrayList<>();
        for (JsonNode variant : data.get("variants")) {
            String name = variant.get("name").asText();
            ObjectNode spec = build(data.get("bases").get(variant.get("base").asText()), variant.get("override"));
            Tokenizer tok = TokenizerJson.fromJson(spec, Path.of("synthetic", name, "tokenizer.json"),
                    TokenizerConfig.EMPTY);
            List<DynamicTest> tests = new ArrayList<>();
            int i = 0;
            for (JsonNode c : variant.get("cases")) {
                int index = i++;
                tests.add(DynamicTest.dynamicTest("#" + index, () -> check(tok, name + " #" + index, c)));
            }
            out.add(DynamicContainer.dynamicContainer(name, tests));
        }
        return out.stream();
    }

    private static ObjectNode build(JsonNode base, JsonNode override) {
        ObjectNode spec = base.deepCopy();
        override.fields().forEachRemaining(e -> {
            if (e.getKey().equals("model")) {
                ((ObjectNode) spec.get("model")).setAll((ObjectNode) e.getValue());
            } else {
                spec.set(e.getKey(), e.getValue());
            }
        });
        return spec;
    }

    private static void check(Tokenizer tok, String label, JsonNode ref) {
        String text = ref.get("text").asText();
        Encoding plain = tok.encodeDetailed(text, false);
        assertArrayEquals(ints(ref.get("ids")), plain.ids(), label + ": ids");
        List<String> tokens = new ArrayList<>();
        ref.get("tokens").forEach(t -> tokens.add(t.asText()));
        assertEquals(tokens, plain.tokens(), label + ": tokens");
        int[] withSpecial = tok.encode(text, true);
        assertArrayEquals(ints(ref.get("ids_with_special")), withSpecial, label + ": ids_with_special");
        assertEquals(ref.get("decoded").asText(), tok.decode(withSpecial, false), label + ": decoded");
        assertEquals(ref.get("decoded_skip_special").asText(), tok.decode(withSpecial, true),
                label + ": decoded_skip_special");
    }

    private static int[] ints(JsonNode list) {
        int[] out = new int[list.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = list.get(i).asInt();
        }
        return out;
    }

    private static JsonNode load() {
        try (InputStream in = SyntheticTokenizerTest.class.getResourceAsStream("/tokenizer/synthetic/synthetic.json")) {
            return JSON.readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
