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
        Pattern p = Pattern.compile("read +([0-9.]+) +gemv +([0-9.]+) \\( *[0-9]+%\\) +items +([0-9.]+) \\( *[0-9]+%\\) +per-row +([0-9.]+) \\( *[0-9]+%\\)");
        for (String line : rounds) {
            Matcher m = p.matcher(line);
            assertTrue(m.matches(), line);
            for (int g = 1; g <= 4; g++) {
                assertTrue(Double.parseDouble(m.group(g)) > 0, line);
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
