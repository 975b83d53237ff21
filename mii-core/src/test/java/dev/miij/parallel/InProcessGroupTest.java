package dev.miij.parallel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.backend.Tensor;
import dev.miij.backend.cpu.CpuBackend;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;

/** The in-process collectives: sums and gathers in rank order, and a failed rank ends the group. */
class InProcessGroupTest {

    @Test
    void allReduceSumsAndGatherConcatenatesInRankOrder() throws Exception {
        int size = 3;
        InProcessGroup group = new InProcessGroup(size);
        ExecutorService pool = Executors.newFixedThreadPool(size);
        try {
            Future<?>[] f = new Future<?>[size];
            for (int r = 0; r < size; r++) {
                int rank = r;
                f[r] = pool.submit(() -> {
                    CpuBackend b = new CpuBackend();
                    Collective c = group.rank(rank, b);
                    Tensor x = b.upload(new float[] {rank, 10 * rank, 1, 2}, 2, 2);
                    c.allReduceSum(x);
                    assertArrayEquals(new float[] {3, 30, 3, 6}, b.toHost(x));
                    // Rank r holds r + 1 columns of 2 rows.
                    float[] local = new float[2 * (rank + 1)];
                    java.util.Arrays.fill(local, rank);
                    Tensor out = b.allocate(2, 6);
                    c.gatherColumns(b.upload(local, 2, rank + 1), out);
                    assertArrayEquals(new float[] {0, 1, 1, 2, 2, 2, 0, 1, 1, 2, 2, 2}, b.toHost(out));
                    return null;
                });
            }
            for (Future<?> x : f) {
                x.get();
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aFailedRankEndsTheGroupWithAnError() throws Exception {
        InProcessGroup group = new InProcessGroup(2, 30);
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            Future<?> rank0 = pool.submit(() -> {
                CpuBackend b = new CpuBackend();
                group.rank(0, b).allReduceSum(b.allocate(1, 4));
                return null;
            });
            group.abort(); // rank 1 fails, before or after rank 0 reaches its collective
            ExecutionException e = assertThrows(ExecutionException.class, rank0::get);
            assertTrue(e.getCause() instanceof IllegalStateException, e.getCause().toString());
            assertTrue(e.getCause().getMessage().contains("another rank"), e.getCause().getMessage());
        } finally {
            pool.shutdownNow();
        }
    }
}
