package dev.miij.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

class DownloadProgressTest {

    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    private final PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
    private long now;

    private String text() {
        return bytes.toString(StandardCharsets.UTF_8);
    }

    @Test
    void terminalBarRedrawsAtMostTenTimesASecond() {
        DownloadProgress.Bar bar = new DownloadProgress(out, true, () -> now).start("model.safetensors", 10_000_000, 0);
        for (int i = 0; i < 100; i++) {
            now += 5_000_000; // 5 ms per chunk: 0.5 s in all
            bar.advance(100_000);
        }
        bar.finish();
        String s = text();
        long redraws = s.chars().filter(c -> c == '\r').count();
        assertTrue(redraws >= 5 && redraws <= 7, redraws + " redraws: " + s);
        assertTrue(s.contains("model.safetensors"));
        assertTrue(s.contains("10.0/10.0 MB 100%"), s);
        assertTrue(s.contains("20.0 MB/s"), s);
        assertTrue(s.endsWith(System.lineSeparator()));
    }

    @Test
    void nonTerminalPrintsOneLinePerFile() {
        DownloadProgress.Bar bar = new DownloadProgress(out, false, () -> now).start("tokenizer.json", 2_000_000, 0);
        for (int i = 0; i < 20; i++) {
            now += 50_000_000;
            bar.advance(100_000);
        }
        bar.finish();
        String s = text();
        assertFalse(s.contains("\r"));
        assertEquals("downloaded tokenizer.json (2.0 MB in 1.0 s, 2.0 MB/s)" + System.lineSeparator(), s);
    }

    @Test
    void resumedBytesDoNotInflateTheRate() {
        DownloadProgress.Bar bar = new DownloadProgress(out, false, () -> now).start("w", 3_000_000, 2_000_000);
        now += 1_000_000_000;
        bar.advance(1_000_000);
        bar.finish();
        assertTrue(text().contains("(3.0 MB in 1.0 s, 1.0 MB/s)"), text());
    }
}
