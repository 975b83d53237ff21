package dev.miij.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.miij.cli.load.Percentiles;
import java.util.stream.LongStream;
import org.junit.jupiter.api.Test;

/** Nearest-rank percentiles: always one of the samples, the ceil(p/100 * n)-th smallest. */
class LoadBenchPercentilesTest {

    @Test
    void oneToHundred() {
        long[] s = LongStream.rangeClosed(1, 100).toArray();
        assertEquals(50, Percentiles.of(s, 50));
        assertEquals(90, Percentiles.of(s, 90));
        assertEquals(99, Percentiles.of(s, 99));
        assertEquals(100, Percentiles.of(s, 100));
        assertEquals(1, Percentiles.of(s, 0.5));
        assertEquals(1, Percentiles.of(s, 1));
        assertEquals(2, Percentiles.of(s, 1.01));
    }

    @Test
    void smallSamplesPickTheNearestRankAbove() {
        long[] s = {10, 20, 30, 40};
        assertEquals(20, Percentiles.of(s, 50));   // ceil(2.0) = 2
        assertEquals(30, Percentiles.of(s, 50.1)); // ceil(2.004) = 3
        assertEquals(40, Percentiles.of(s, 90));   // ceil(3.6) = 4
        assertEquals(40, Percentiles.of(s, 99));
        long[] one = {7};
        assertEquals(7, Percentiles.of(one, 1));
        assertEquals(7, Percentiles.of(one, 50));
        assertEquals(7, Percentiles.of(one, 100));
    }

    @Test
    void exactRanksAreNotRoundedUpByBinaryFractions() {
        long[] s = LongStream.rangeClosed(1, 1500).toArray();
        assertEquals(33, Percentiles.of(s, 2.2)); // 2.2 * 1500 / 100 is 33.00000000000001 in doubles
        assertEquals(1485, Percentiles.of(s, 99));
        assertEquals(750, Percentiles.of(s, 50));
    }

    @Test
    void summaryOfUnsortedSamples() {
        long[] samples = {5, 1, 4, 2, 3, 9, 8, 7, 6, 10};
        Percentiles.Summary s = Percentiles.summarize(samples);
        assertEquals(10, s.count());
        assertEquals(1, s.min());
        assertEquals(5, s.p50());
        assertEquals(9, s.p90());
        assertEquals(10, s.p99());
        assertEquals(10, s.max());
        assertEquals(5.5, s.mean(), 1e-12);
        assertEquals(5, samples[0], "the caller's array is left as it was");
    }

    @Test
    void noSamples() {
        assertEquals(0, Percentiles.summarize(new long[0]).count());
        assertThrows(IllegalArgumentException.class, () -> Percentiles.of(new long[0], 50));
        assertThrows(IllegalArgumentException.class, () -> Percentiles.of(new long[] {1}, 0));
        assertThrows(IllegalArgumentException.class, () -> Percentiles.of(new long[] {1}, 100.5));
    }
}
