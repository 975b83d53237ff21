package dev.miij.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class AttentionBenchTest {

    @Test
    void timesDecodeRowsAndPromptChunksPerContext() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream saved = System.out;
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            AttentionBench.main(new String[] {"8", "2", "16", "5", "40,7"});
        } finally {
            System.setOut(saved);
        }
        String text = out.toString(StandardCharsets.UTF_8);
        List<String> lines = text.lines().filter(l -> l.startsWith("context")).toList();
        assertEquals(2, lines.size(), text);
        Pattern p = Pattern.compile("context +(\\d+): decode row +([0-9.]+) us +prompt chunk of (\\d+) rows +([0-9.]+) ms");
        int[] contexts = {40, 7};
        for (int i = 0; i < 2; i++) {
            Matcher m = p.matcher(lines.get(i));
            assertTrue(m.matches(), lines.get(i));
            assertEquals(contexts[i], Integer.parseInt(m.group(1)));
            assertEquals(contexts[i], Integer.parseInt(m.group(3)), "a chunk of at most the whole context");
            assertTrue(Double.parseDouble(m.group(2)) > 0 && Double.parseDouble(m.group(4)) > 0, lines.get(i));
        }
    }
}
