package dev.miij.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Encodings and decodings of {@code AutoTokenizer} (transformers 5.17,
 * tools/reference/transformers_tokenizer_refs.py) for a real tokenizer.json under several
 * tokenizer_config.json files: the tokenizer class, {@code legacy} and {@code add_prefix_space}
 * decide the pipeline, as in transformers.
 */
class TransformersTokenizerParityTest {

    /** Variant name, and the fetched tokenizer whose tokenizer.json it uses. */
    private static final Map<String, String> VARIANTS = Map.ofEntries(
            Map.entry("llama2", "llama2"), Map.entry("llama2_legacy_false", "llama2"),
            Map.entry("llama2_no_prefix", "llama2"), Map.entry("mistral", "llama2"), Map.entry("gemma3", "gemma3"),
            Map.entry("gpt2", "gpt2"), Map.entry("gpt2_prefix", "gpt2"), Map.entry("opt", "gpt2"),
            Map.entry("neox", "gpt2"), Map.entry("bloom", "gpt2"), Map.entry("falcon", "gpt2"));
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Map<String, Tokenizer> TOKENIZERS = new ConcurrentHashMap<>();

    static Stream<Arguments> cases() {
        List<Arguments> out = new ArrayList<>();
        for (String name : VARIANTS.keySet().stream().sorted().toList()) {
            int i = 0;
            for (JsonNode c : refs(name).get("cases")) {
                out.add(Arguments.of(name, i++, c));
            }
        }
        return out.stream();
    }

    private static JsonNode refs(String name) {
        try (InputStream in = TransformersTokenizerParityTest.class.getResourceAsStream(
                "/tokenizer/transformers/" + name + ".json")) {
            return JSON.readTree(in);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A model folder holding the fetched tokenizer.json and the variant's tokenizer_config.json. */
    private static Tokenizer tokenizer(String name) {
        Path json = TestData.tokenizer(VARIANTS.get(name)).resolve("tokenizer.json");
        assumeTrue(Files.isRegularFile(json), () -> "no " + json + "; run scripts/fetch-test-data");
        return TOKENIZERS.computeIfAbsent(name, n -> {
            try {
                Path dir = Files.createTempDirectory("tok-" + n);
                Files.copy(json, dir.resolve("tokenizer.json"));
                Files.writeString(dir.resolve("tokenizer_config.json"), refs(n).get("tokenizer_config").toString());
                Tokenizer t = Tokenizer.fromModelFolder(dir);
                Files.delete(dir.resolve("tokenizer.json"));
                Files.delete(dir.resolve("tokenizer_config.json"));
                Files.delete(dir);
                return t;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        });
    }

    @ParameterizedTest(name = "{0} #{1}")
    @MethodSource("cases")
    void matchesTransformers(String name, int index, JsonNode ref) {
        Tokenizer tok = tokenizer(name);
        String text = ref.get("text").asText();
        String label = name + " case " + index + " \"" + text.replace("\n", "\\n") + "\"";
        Encoding plain = tok.encodeDetailed(text, false);
        assertArrayEquals(ints(ref.get("ids")), plain.ids(), label + ": ids");
        int[] withSpecial = tok.encode(text, true);
        assertArrayEquals(ints(ref.get("ids_with_special")), withSpecial, label + ": ids_with_special");
        assertEquals(ref.get("decoded").asText(), tok.decode(withSpecial, false), label + ": decoded");
        assertEquals(ref.get("decoded_skip_special").asText(), tok.decode(withSpecial, true),
                label + ": decoded_skip_special");
    }

    /** The case from the report: leading spaces under a Llama-2 tokenizer. */
    @Test
    void leadingSpacesEncodeAsTransformersFiveDoes() {
        Tokenizer tok = tokenizer("llama2_legacy_false");
        int[] ids = tok.encode("   leading spaces", true);
        assertEquals(1, ids[0]);
        assertEquals(259, ids[1], "'   leading' starts with the two-space token, as transformers 5 encodes it");
    }

    private static int[] ints(JsonNode list) {
        int[] out = new int[list.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = list.get(i).asInt();
        }
        return out;
    }
}
