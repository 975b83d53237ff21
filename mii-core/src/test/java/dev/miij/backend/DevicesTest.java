package dev.miij.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.DeploymentOptions;
import dev.miij.MiiException;
import dev.miij.PipelineOptions;
import dev.miij.backend.cpu.CpuBackend;
import dev.miij.engine.EngineConfig;
import org.junit.jupiter.api.Test;

class DevicesTest {

    @Test
    void parsesTheThreeForms() {
        assertEquals(new Devices.Device("cpu", -1), Devices.parse("cpu"));
        assertEquals(new Devices.Device("cuda", -1), Devices.parse("cuda"));
        assertEquals(new Devices.Device("cuda", 3), Devices.parse("cuda:3"));
        assertEquals(new Devices.Device("cuda", 0), Devices.parse(" CUDA:0 "));
        assertEquals("cuda:3", Devices.parse("cuda:3").toString());
        assertNull(Devices.parse(null));
        assertNull(Devices.parse(""));
        assertNull(Devices.parse("auto"));
    }

    @Test
    void malformedDevicesAreAClearError() {
        for (String bad : new String[] {"gpu", "cuda:", "cuda:-1", "cuda:x", "cuda:1:2", "cpu:0", "cuda:123456"}) {
            MiiException e = assertThrows(MiiException.class, () -> Devices.parse(bad), bad);
            assertEquals(MiiException.Kind.INVALID_ARGUMENT, e.kind());
            assertTrue(e.getMessage().contains("device must be cpu, cuda or cuda:N"), e.getMessage());
            assertTrue(e.getMessage().contains("'" + bad + "'"), e.getMessage());
        }
    }

    @Test
    void theCoreAloneRunsOnTheCpu() {
        // mii-core's tests have no CUDA backend on the class path.
        assertEquals(0, Devices.gpuCount());
        assertEquals("cpu", Devices.defaultDevice());
        assertEquals("cpu", Devices.resolve(null));
        assertEquals("cpu", Devices.resolve("cpu"));
        try (Backend b = Devices.open(null)) {
            assertTrue(b instanceof CpuBackend);
        }
    }

    @Test
    void cudaWithoutTheCudaBackendSaysWhatIsMissing() {
        MiiException e = assertThrows(MiiException.class, () -> Devices.resolve("cuda:1"));
        assertEquals(MiiException.Kind.UNSUPPORTED, e.kind());
        assertTrue(e.getMessage().contains("device 'cuda:1' was asked for"), e.getMessage());
        assertTrue(e.getMessage().contains("mii-cuda"), e.getMessage());
        assertTrue(e.getMessage().contains("--device cpu"), e.getMessage());
        assertThrows(MiiException.class, () -> Devices.open("cuda"));
    }

    @Test
    void replicasSpreadOverTheGpus() {
        // 4 replicas on 2 GPUs: 0 and 2 on cuda:0, 1 and 3 on cuda:1, two per GPU.
        assertEquals(new Devices.Placement("cuda:0", 2), Devices.place("cuda", 0, 4, 2));
        assertEquals(new Devices.Placement("cuda:1", 2), Devices.place("cuda", 1, 4, 2));
        assertEquals(new Devices.Placement("cuda:0", 2), Devices.place("cuda", 2, 4, 2));
        assertEquals(new Devices.Placement("cuda:1", 2), Devices.place(null, 3, 4, 2));
        // 3 replicas on 2 GPUs: cuda:0 holds two of them.
        assertEquals(new Devices.Placement("cuda:0", 2), Devices.place("cuda", 0, 3, 2));
        assertEquals(new Devices.Placement("cuda:1", 1), Devices.place("cuda", 1, 3, 2));
        // 2 replicas on 8 GPUs: one each.
        assertEquals(new Devices.Placement("cuda:1", 1), Devices.place("cuda", 1, 2, 8));
        // A named GPU takes every replica; one GPU is shared by all.
        assertEquals(new Devices.Placement("cuda:3", 4), Devices.place("cuda:3", 2, 4, 8));
        assertEquals(new Devices.Placement("cuda:0", 2), Devices.place("cuda", 1, 2, 1));
        // The CPU, asked for or the only choice.
        assertEquals(new Devices.Placement("cpu", 2), Devices.place("cpu", 1, 2, 8));
        assertEquals(new Devices.Placement("cpu", 2), Devices.place(null, 1, 2, 0));
        assertThrows(IllegalArgumentException.class, () -> Devices.place("cuda", 2, 2, 2));
    }

    @Test
    void optionsCarryTheDeviceInItsCanonicalForm() {
        assertNull(PipelineOptions.defaults().device());
        assertEquals("cuda:1", PipelineOptions.defaults().withDevice("CUDA:1").device());
        assertEquals("cpu", DeploymentOptions.defaults().withDevice("cpu").device());
        assertNull(DeploymentOptions.defaults().withDevice("auto").device());
        assertThrows(MiiException.class, () -> PipelineOptions.defaults().withDevice("tpu"));
        assertThrows(MiiException.class, () -> DeploymentOptions.defaults().withDevice("cuda:a"));
        MiiException tp = assertThrows(MiiException.class, () -> new DeploymentOptions(null, 2, 1, 50050, false,
                "127.0.0.1", 28080, null, null, EngineConfig.defaults(), null));
        assertTrue(tp.getMessage().contains("a pipeline does (PipelineOptions.tensorParallel)"), tp.getMessage());
        assertEquals(0.5, PipelineOptions.defaults().withGpuMemoryUtilization(0.5).engine().gpuMemoryUtilization());
        assertEquals(0.9, EngineConfig.defaults().gpuMemoryUtilization());
        assertEquals(0.9, new EngineConfig(768, 512, 2048, 64, 0, 0, true).gpuMemoryUtilization());
        for (double bad : new double[] {0, -0.1, 1.01, Double.NaN}) {
            MiiException e = assertThrows(MiiException.class, () -> EngineConfig.defaults().withGpuMemoryUtilization(bad));
            assertTrue(e.getMessage().contains("gpu_memory_utilization must be in (0, 1]"), e.getMessage());
        }
        assertEquals(0.7, EngineConfig.defaults().withGpuMemoryUtilization(0.7).withKvBlockSize(16).gpuMemoryUtilization(),
                "the with-methods keep it");
    }
}
