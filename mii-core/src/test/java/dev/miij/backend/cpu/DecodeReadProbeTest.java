package dev.miij.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.bench.DummyModel;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DecodeReadProbeTest {

    @Test
    void reportsReadKernelAndItemBandwidthPerRound(@TempDir Path dir) throws Exception {
        Path model = DummyModel.ensure(DummyModel.shape("tiny"), dir);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream saved = System.out;
        try {
            System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
            DecodeReadProbe.main(new String[] {model.toString(), "2"});
        } finally {
            System.setOut(saved);
        }
        List<String> rounds = out.toString(StandardCharsets.UTF_8).lines().filter(l -> l.startsWith("read")).toList();
        assertEquals(2, rounds.size(), out.toString(StandardCharsets.UTF_8));
        // What the probe computes, never how fast this machine is: each figure is a positive rate
        // and each percentage is that rate over the same round's read.
        String num = "([0-9.]+(?:e[-+]?[0-9]+)?)";
        Pattern p = Pattern.compile("read +" + num + " +gemv +" + num + " \\( *([0-9]+)%\\) +items +" + num
                + " \\( *([0-9]+)%\\) +per-row +" + num + " \\( *([0-9]+)%\\)");
        for (String line : rounds) {
            Matcher m = p.matcher(line);
            assertTrue(m.matches(), line);
            double read = Double.parseDouble(m.group(1));
            assertTrue(read > 0 && Double.isFinite(read), line);
            for (int g = 2; g <= 6; g += 2) {
                double rate = Double.parseDouble(m.group(g));
                assertTrue(rate > 0 && Double.isFinite(rate), line);
                // The rates are printed to three digits, so the percentage is checked within that rounding.
                double expected = 100 * rate / read;
                assertEquals(expected, Integer.parseInt(m.group(g + 1)), 0.51 + expected * 0.01, line);
            }
        }
    }

    @Test
    void workItemsCoverEveryRowOnce() {
        CpuKernels.MatVecJob job = new CpuKernels.MatVecJob();
        WeightMatrix[] ws = {
            new WeightMatrix(java.lang.foreign.MemorySegment.ofArray(new short[1000 * 8]), dev.miij.model.DType.BF16, 1000, 8),
            new WeightMatrix(java.lang.foreign.MemorySegment.ofArray(new short[36 * 8]), dev.miij.model.DType.BF16, 36, 8),
        };
        int n = job.planItems(ws);
        int[][] seen = {new int[1000], new int[36]};
        for (int i = 0; i < n; i++) {
            int w = job.itemWeight[i];
            assertTrue(job.itemEnd[i] > job.itemStart[i]);
            for (int o = job.itemStart[i]; o < job.itemEnd[i]; o++) {
                seen[w][o]++;
            }
        }
        for (int[] rows : seen) {
            for (int c : rows) {
                assertEquals(1, c);
            }
        }
    }
}
