package dev.miij.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.backend.BackendProvider;
import org.junit.jupiter.api.Test;

/** What holds on every machine, GPU or not: the provider is found and never throws when asked. */
class CudaNoGpuTest {

    @Test
    void providerIsFoundThroughServiceLoader() {
        BackendProvider p = BackendProvider.find("cuda").orElseThrow();
        assertEquals("cuda", p.name());
        assertEquals(CudaBackendProvider.deviceCount() > 0, p.available());
    }

    @Test
    void bf16RoundsToNearestEven() {
        assertEquals(1f, Bf16.toFloat(Bf16.round(1f)));
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1).
        assertEquals(1f, Bf16.toFloat(Bf16.round(1f + 0x1p-8f)));
        assertEquals(1f + 0x1p-6f, Bf16.toFloat(Bf16.round(1f + 0x1p-7f + 0x1p-8f)));
        assertTrue(Float.isNaN(Bf16.toFloat(Bf16.round(Float.NaN))));
        assertEquals(Float.POSITIVE_INFINITY, Bf16.toFloat(Bf16.round(Float.POSITIVE_INFINITY)));
    }

    @Test
    void wheelFoldersAreListedWithoutFailing() {
        assertTrue(NativeLibraries.wheelLibDirs().size() >= 0);
    }
}
