package dev.miij.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.cli.GenerateCommandTest.Run;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BenchCommandTest {

    @Test
    void decodeOnlyMeasuresDecodeAgainstTheReadOfTheModelsPages(@TempDir Path dir) {
        Run r = GenerateCommandTest.run("bench", "--dummy", "tiny", "--dummy-dir", dir.toString(), "--decode-only",
                "--decode-tokens", "8");
        assertEquals(0, r.exit(), r.err());
        Matcher decode = Pattern.compile("decode, batch 1: +([0-9.]+) tokens/s").matcher(r.out());
        assertTrue(decode.find(), r.out());
        assertTrue(Double.parseDouble(decode.group(1)) > 0, r.out());
        Matcher fraction = Pattern.compile("decode / bandwidth: +([0-9.]+) %.*median over 7 steps").matcher(r.out());
        assertTrue(fraction.find(), r.out());
        assertTrue(Double.parseDouble(fraction.group(1)) > 0, r.out());
        assertTrue(r.out().contains("plain reads of the model's weight matrices"), r.out());
        assertFalse(r.out().contains("prompt,"), "prompt processing is not measured: " + r.out());
        assertFalse(r.out().contains("concurrency"), r.out());
    }

    @Test
    void f16DummyWeights(@TempDir Path dir) {
        Run r = GenerateCommandTest.run("bench", "--dummy", "tiny", "--dummy-dtype", "f16", "--dummy-dir", dir.toString(),
                "--decode-only", "--decode-tokens", "4");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("dummy-tiny-f16"), r.out());
        assertTrue(Pattern.compile("decode, batch 1: +[0-9.]+ tokens/s").matcher(r.out()).find(), r.out());
    }

    @Test
    void unknownDummyTypeIsAClearError(@TempDir Path dir) {
        Run r = GenerateCommandTest.run("bench", "--dummy", "tiny", "--dummy-dtype", "q4", "--dummy-dir", dir.toString(),
                "--decode-only");
        assertEquals(1, r.exit(), r.out() + r.err());
        assertTrue(r.err().contains("--dummy-dtype must be bf16 or f16, not 'q4'"), r.err());
        assertFalse(r.err().contains("at dev.miij"), "no stack trace without --debug: " + r.err());
    }

    @Test
    void decodeAfterALongerPrompt(@TempDir Path dir) {
        Run r = GenerateCommandTest.run("bench", "--dummy", "tiny", "--dummy-dir", dir.toString(), "--decode-only",
                "--decode-tokens", "4", "--decode-context", "300");
        assertEquals(0, r.exit(), r.err());
        assertTrue(Pattern.compile("decode, batch 1: +[0-9.]+ tokens/s .*after a 300-token prompt").matcher(r.out()).find(),
                r.out());
    }

    @Test
    void decodeContextIsChecked(@TempDir Path dir) {
        Run zero = GenerateCommandTest.run("bench", "--dummy", "tiny", "--dummy-dir", dir.toString(), "--decode-only",
                "--decode-context", "0");
        assertEquals(1, zero.exit(), zero.out() + zero.err());
        assertTrue(zero.err().contains("--decode-context must be at least 1, got 0"), zero.err());
        Run notDecodeOnly = GenerateCommandTest.run("bench", "--dummy", "tiny", "--dummy-dir", dir.toString(),
                "--decode-context", "64");
        assertEquals(1, notDecodeOnly.exit(), notDecodeOnly.out() + notDecodeOnly.err());
        assertTrue(notDecodeOnly.err().contains("--decode-context applies to --decode-only"), notDecodeOnly.err());
    }
}
