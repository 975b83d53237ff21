package dev.miij.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Encoding a long text must stay fast (and round-trip). */
class TokenizerPerformanceTest {

    /** A 10,000-word text made of the corpus' words in random order, so the word cache helps little. */
    static String longText() throws IOException {
        JsonNode corpus;
        try (InputStream in = TokenizerPerformanceTest.class.getResourceAsStream("/tokenizer/corpus.json")) {
            corpus = new ObjectMapper().readTree(in);
        }
        String[] words = toWords(corpus);
        Random random = new Random(42);
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 10_000; i++) {
            String w = words[random.nextInt(words.length)];
            sb.append(w).append(random.nextInt(12) == 0 ? "\n" : " ");
            if (random.nextInt(5) == 0) {
                sb.append(random.nextInt(100_000));
                sb.append(' ');
            }
        }
        return sb.toString();
    }

    private static String[] toWords(JsonNode corpus) {
        StringBuilder all = new StringBuilder();
        corpus.forEach(t -> all.append(t.asText()).append(' '));
        // Without special-token text, which Llama-2 would not decode back to the same spacing.
        return java.util.Arrays.stream(all.toString().trim().split("\\s+"))
                .filter(w -> !w.contains("<") && !w.contains("["))
                .toArray(String[]::new);
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama3", "llama2", "gpt2"})
    void encodesTenThousandWordsQuickly(String name) throws IOException {
        Path file = TestData.tokenizer(name).resolve("tokenizer.json");
        assumeTrue(Files.isRegularFile(file), name + " tokenizer not fetched");
        Tokenizer tok = Tokenizer.fromFile(file);
        String text = longText();
        int[] first = tok.encode(text, false); // warms up the JIT and fills the word cache
        long start = System.nanoTime();
        int[] ids = tok.encode(text, false);
        double seconds = (System.nanoTime() - start) / 1e9;
        assertArrayEquals(first, ids);
        assertEquals(text, tok.decode(ids, false));
        // Typically well under 0.1 s; the bound leaves room for a loaded build machine.
        assertTrue(seconds < 2.0, name + " took " + seconds + " s for 10,000 words");
    }
}
