package dev.miij.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class CpuParallelTest {

    @Test
    void everyItemRunsOnce() {
        for (int n : new int[] {0, 1, 2, 3, 7, 64, 1000}) {
            for (int rep = 0; rep < 200; rep++) {
                AtomicIntegerArray hits = new AtomicIntegerArray(Math.max(1, n));
                CpuParallel.run(n, hits::incrementAndGet);
                for (int i = 0; i < n; i++) {
                    assertEquals(1, hits.get(i), "item " + i + " of " + n);
                }
            }
        }
    }

    @Test
    void nestedCallsRunInline() {
        AtomicIntegerArray hits = new AtomicIntegerArray(16);
        CpuParallel.run(4, i -> CpuParallel.run(4, j -> hits.incrementAndGet(i * 4 + j)));
        for (int i = 0; i < 16; i++) {
            assertEquals(1, hits.get(i));
        }
    }

    @Test
    void failuresReachTheCaller() {
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> CpuParallel.run(8, i -> {
            if (i == 5) {
                throw new IllegalStateException("item 5");
            }
        }));
        assertEquals("item 5", e.getMessage());
        AtomicIntegerArray hits = new AtomicIntegerArray(8);
        CpuParallel.run(8, hits::incrementAndGet); // the pool still works
        for (int i = 0; i < 8; i++) {
            assertEquals(1, hits.get(i));
        }
    }

    @Test
    void concurrentCallers() throws InterruptedException {
        Thread[] ts = new Thread[3];
        AtomicIntegerArray hits = new AtomicIntegerArray(3 * 64);
        for (int t = 0; t < ts.length; t++) {
            int base = t * 64;
            ts[t] = new Thread(() -> {
                for (int rep = 0; rep < 300; rep++) {
                    CpuParallel.run(64, i -> hits.incrementAndGet(base + i));
                }
            });
            ts[t].start();
        }
        for (Thread t : ts) {
            t.join();
        }
        for (int i = 0; i < hits.length(); i++) {
            assertEquals(300, hits.get(i));
        }
    }
}
