package dev.miij.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.miij.GenerationOptions;
import dev.miij.Mii;
import dev.miij.MiiException;
import dev.miij.Pipeline;
import dev.miij.PipelineOptions;
import dev.miij.Response;
import dev.miij.backend.Backend;
import dev.miij.backend.Devices;
import dev.miij.testing.Fixtures;
import org.junit.jupiter.api.Test;

/** Choosing the GPU through the core's {@link Devices}, and the GPU's KV-cache budget. */
class CudaDeviceTest {

    @Test
    void cudaIsTheDefaultWhereAGpuIsPresent() {
        Gpu.assumeGpu();
        int gpus = CudaBackendProvider.deviceCount();
        assertEquals(gpus, Devices.gpuCount());
        assertEquals("cuda", Devices.defaultDevice());
        assertEquals("cuda:0", Devices.resolve(null));
        assertEquals("cuda:0", Devices.resolve("cuda"));
        MiiException e = assertThrows(MiiException.class, () -> Devices.resolve("cuda:" + gpus));
        assertTrue(e.getMessage().contains("this machine has " + gpus), e.getMessage());
        try (Backend b = Devices.open("cuda:0")) {
            assertInstanceOf(CudaBackend.class, b);
        }
    }

    @Test
    void cudaWithoutAGpuIsRefusedWithTheReason() {
        assumeTrue(CudaBackendProvider.deviceCount() == 0, "this machine has a GPU");
        assertEquals("cpu", Devices.defaultDevice());
        MiiException e = assertThrows(MiiException.class, () -> Devices.open("cuda"));
        assertEquals(MiiException.Kind.UNSUPPORTED, e.kind());
        assertTrue(e.getMessage().contains("no usable GPU was found: "), e.getMessage());
        assertTrue(!e.getMessage().contains("Could not initialize class"), "the first failure's reason: " + e.getMessage());
    }

    @Test
    void theKvBudgetIsTheUtilizationLessWhatTheBackendHolds() {
        Gpu.assumeGpu();
        try (CudaBackend b = new CudaBackend(0)) {
            long total = b.memoryInfo()[1];
            long half = b.kvCacheBudget(0.5);
            assertTrue(half > 0 && half <= total / 2 - b.allocatedBytes(), half + " of " + total);
            assertTrue(b.kvCacheBudget(0.9) > half);
            assertEquals(0, b.kvCacheBudget(1e-6), "less than the backend holds already");
        }
    }

    @Test
    void aPipelineRunsOnTheGpuAndSizesItsCacheThere() {
        Gpu.assumeGpu();
        PipelineOptions options = PipelineOptions.defaults().withDevice("cuda:0").withGpuMemoryUtilization(0.5);
        try (Pipeline p = Mii.pipeline(Fixtures.dir("llama2").toString(), options)) {
            assertEquals("cuda", p.engine().model().backend().name());
            assertTrue(p.engine().capacityTokens() > 0);
            Response r = p.generate("Hello", GenerationOptions.builder().doSample(false).maxNewTokens(4).build());
            assertTrue(r.generatedLength() > 0);
        }
    }

    @Test
    void theReadBandwidthProbeMeasuresTheDevice() {
        Gpu.assumeGpu();
        try (CudaBackend b = new CudaBackend(0)) {
            double gbs = DeviceBandwidth.measure(b);
            assertTrue(gbs > 100 && gbs < 50_000, gbs + " GB/s");
        }
    }
}
