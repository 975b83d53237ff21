package dev.miij.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.arch.Architectures;
import dev.miij.arch.DecoderModel;
import dev.miij.backend.cpu.CpuBackend;
import dev.miij.model.ModelFolder;
import dev.miij.model.WeightSource;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class EngineBenchTest {

    @Test
    void eachDecodeStepIsTimedApartFromTheReadAfterIt(@TempDir Path dir) throws Exception {
        ModelFolder folder = ModelFolder.open(DummyModel.ensure(DummyModel.shape("tiny"), dir));
        try (WeightSource weights = folder.openWeights();
             DecoderModel model = new DecoderModel(Architectures.fromConfig(folder.config()), weights, new CpuBackend())) {
            EngineBench bench = new EngineBench(model, List.of(), new PrintStream(OutputStream.nullOutputStream()));
            bench.decode(4, 6); // a first step in a cold JVM can take a good part of a second
            // The fake read sleeps far longer than a step of this tiny model can take even on a busy
            // 2-core machine (steps there have taken up to 0.6 s), so a step time that included the read
            // stands apart from any real one.
            int newTokens = 4;
            long readMillis = 2500;
            int[] reads = {0};
            double[][] r = bench.decodeAgainstReads(4, newTokens, () -> {
                reads[0]++;
                try {
                    Thread.sleep(readMillis);
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
                return 10.0 + reads[0];
            });

            assertEquals(newTokens - 1, reads[0], "one read after each token but the first");
            assertEquals(newTokens - 1, r[0].length);
            double gbPerToken = model.weightBytesPerToken() / 1e9;
            for (int i = 0; i < r[0].length; i++) {
                assertEquals(11.0 + i, r[0][i], "read " + i);
                double stepSeconds = gbPerToken / (r[1][i] * r[0][i]);
                // A decode step of this tiny model takes milliseconds; a step time that included the
                // read before it would be at least as long as the read.
                assertTrue(stepSeconds > 0 && stepSeconds < readMillis / 1e3, "step " + i + ": " + stepSeconds + " s");
            }
        }
    }
}
