package dev.miij.cuda;

import dev.miij.testing.Fixtures;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.miij.MiiException;
import dev.miij.arch.Architectures;
import dev.miij.arch.DecoderModel;
import dev.miij.arch.TransformerSpec;
import dev.miij.backend.KvCache;
import dev.miij.backend.RaggedBatch;
import dev.miij.backend.Tensor;
import dev.miij.cuda.nccl.DeviceCopy;
import dev.miij.cuda.nccl.Nccl;
import dev.miij.cuda.nccl.NcclCollectiveProvider;
import dev.miij.model.ModelFolder;
import dev.miij.model.WeightSource;
import dev.miij.parallel.Collective;
import dev.miij.parallel.GroupChannel;
import dev.miij.parallel.TensorParallel;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * NCCL on one GPU: a communicator of one rank on GPU 0, made from a unique id passed through a group
 * channel as rank 0 passes it to the others, whose all-reduce and gather give back their input (the
 * sum and concatenation over one rank), a failing call named, the strided copies a gather of several
 * ranks uses, and a fixture model whose collectives go through NCCL giving the logits it gives
 * without. Skips without a GPU, or without libnccl (saying so). Several GPUs are needed for a group
 * that really exchanges data; nothing here claims that.
 */
class NcclCollectiveTest {

    private static CudaBackend gpu;

    @BeforeAll
    static void open() {
        Gpu.assumeGpu();
        assumeTrue(Nccl.available(), () -> "no NCCL here: " + Nccl.unavailableReason());
        gpu = new CudaBackend(0);
    }

    @AfterAll
    static void close() {
        if (gpu != null) {
            gpu.close();
        }
    }

    /** The channel of a group of one: rank 0 broadcasts to nobody. */
    static final class OneRank implements GroupChannel {
        int broadcasts;

        @Override
        public int rank() {
            return 0;
        }

        @Override
        public int size() {
            return 1;
        }

        @Override
        public byte[] broadcast(byte[] data) {
            broadcasts++;
            return data;
        }

        @Override
        public void barrier() {
        }

        @Override
        public void onFailure(Runnable action) {
        }
    }

    @Test
    void versionAndUniqueId() {
        String v = Nccl.version();
        System.out.println("NCCL " + v);
        assertTrue(v.matches("2\\.\\d+\\.\\d+"), v);
        byte[] id = Nccl.uniqueId();
        assertEquals(Nccl.UNIQUE_ID_BYTES, id.length);
    }

    @Test
    void oneRankAllReducesAndGathersToItsOwnValues() throws Exception {
        OneRank channel = new OneRank();
        Collective c = new NcclCollectiveProvider().create(gpu, channel);
        try {
            assertEquals(1, channel.broadcasts, "the unique id went through the channel");
            assertEquals(0, c.rank());
            assertEquals(1, c.size());
            float[] values = Gpu.bf16(Gpu.random(new Random(7), 3 * 40, 2f));
            Tensor x = gpu.upload(values, 3, 40);
            c.allReduceSum(x);
            assertArrayEquals(values, gpu.toHost(x), "the sum over one rank is the tensor itself");
            for (int rows : new int[] {1, 3}) {
                float[] local = Gpu.bf16(Gpu.random(new Random(rows), rows * 40, 1f));
                Tensor out = gpu.allocate(rows, 40);
                c.gatherColumns(gpu.upload(local, rows, 40), out);
                assertArrayEquals(local, gpu.toHost(out), rows + " rows gathered from one rank");
            }
        } finally {
            ((AutoCloseable) c).close();
        }
    }

    @Test
    void aFailingCallIsNamedWithItsResult() {
        byte[] id = Nccl.uniqueId();
        MemorySegment[] comm = {null};
        gpu.enqueueExternal(stream -> comm[0] = Nccl.commInitRank(1, id, 0));
        try {
            Tensor x = gpu.upload(new float[8], 1, 8);
            long p = CudaBackend.address(x);
            // An invalid data type (99): NCCL refuses it before enqueueing anything.
            MiiException e = assertThrows(MiiException.class, () -> gpu.enqueueExternal(stream ->
                    Nccl.allReduce(p, p, 8, 99, Nccl.SUM, comm[0], stream)));
            assertTrue(e.getMessage().startsWith("ncclAllReduce failed: ncclInvalidArgument (4)"), e.getMessage());
        } finally {
            gpu.enqueueExternal(stream -> Nccl.commDestroy(comm[0]));
        }
    }

    @Test
    void stridedCopiesPlaceColumnBlocks() {
        // Rank blocks of 3 and 2 columns (as a vocabulary of 5 splits over 2 ranks), laid side by side.
        float[] a = {1, 2, 3, 4, 5, 6};
        float[] b = {7, 8, 9, 10};
        Tensor ta = gpu.upload(a, 2, 3);
        Tensor tb = gpu.upload(b, 2, 2);
        Tensor out = gpu.upload(new float[10], 2, 5);
        long dst = CudaBackend.address(out);
        gpu.enqueueExternal(stream -> {
            DeviceCopy.copy2D(CudaBackend.address(ta), 6, dst, 10, 6, 2, stream);
            DeviceCopy.copy2D(CudaBackend.address(tb), 4, dst + 6, 10, 4, 2, stream);
        });
        assertArrayEquals(new float[] {1, 2, 3, 7, 8, 4, 5, 6, 9, 10}, gpu.toHost(out));
    }

    @Test
    void aModelWhoseCollectivesGoThroughNcclGivesTheSameLogits() throws Exception {
        String name = "llama3";
        ModelFolder folder = ModelFolder.open(Fixtures.dir(name));
        TransformerSpec spec = Architectures.fromConfig(folder.config());
        int[] prompt = Fixtures.cases(name).getFirst().promptIds();
        try (WeightSource weights = folder.openWeights();
             CudaBackend own = new CudaBackend(0)) {
            float[] plain = firstLogits(new DecoderModel(spec, weights, gpu), prompt);
            Collective c = new NcclCollectiveProvider().create(own, new OneRank());
            try {
                DecoderModel viaNccl = new DecoderModel(spec, weights, own, new TensorParallel(0, 1, spec), c);
                float[] logits = firstLogits(viaNccl, prompt);
                double err = 0;
                double max = 1;
                for (int i = 0; i < plain.length; i++) {
                    err = Math.max(err, Math.abs(plain[i] - logits[i]));
                    max = Math.max(max, Math.abs(plain[i]));
                }
                System.out.printf("%s through NCCL (one rank): max |logits difference| = %.4f%n", name, err);
                assertTrue(err <= 0.03 * max, "the logits differ by " + err);
            } finally {
                ((AutoCloseable) c).close();
            }
        }
    }

    private static float[] firstLogits(DecoderModel model, int[] prompt) {
        int n = prompt.length;
        int[] positions = new int[n];
        int[] slots = new int[n];
        for (int i = 0; i < n; i++) {
            positions[i] = i;
            slots[i] = i;
        }
        int blockSize = 16;
        int blocks = (n + blockSize - 1) / blockSize;
        int[] table = new int[blocks];
        for (int i = 0; i < blocks; i++) {
            table[i] = i;
        }
        try (KvCache cache = model.newKvCache(blocks, blockSize)) {
            return model.forward(new RaggedBatch(prompt, positions, slots, new int[] {0, n}, new int[] {n},
                    new int[][] {table}, new int[] {n - 1}), cache);
        }
    }
}
