package dev.miij.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** {@code --tensor-parallel} parses on every command that places a model, and only 1 is accepted yet. */
class TensorParallelFlagTest {

    @Test
    void oneRunsAndMoreIsRefusedWithTheReason() {
        String model = GenerateCommandTest.FIXTURES.resolve("llama3").toString();
        GenerateCommandTest.Run ok = GenerateCommandTest.run("generate", "--model", model, "--tensor-parallel", "1",
                "--max-new-tokens", "2", "--greedy", "--kv-block-size", "4", "--num-kv-blocks", "16", "hello");
        assertEquals(0, ok.exit(), ok.err());
        for (String[] args : new String[][] {{"generate", "hello"}, {"bench"}}) {
            String command = args[0];
            GenerateCommandTest.Run r = args.length > 1
                    ? GenerateCommandTest.run(command, "--model", model, "--tensor-parallel", "2", args[1])
                    : GenerateCommandTest.run(command, "--model", model, "--tensor-parallel", "2");
            assertNotEquals(0, r.exit(), command);
            assertTrue(r.err().contains("--tensor-parallel 2") && r.err().contains("NCCL"), command + ": " + r.err());
        }
        GenerateCommandTest.Run zero = GenerateCommandTest.run("generate", "--model", model, "--tensor-parallel", "0", "hi");
        assertTrue(zero.err().contains("--tensor-parallel must be >= 1"), zero.err());
    }
}
