package dev.miij.server.deploy;

import dev.miij.testing.Fixtures;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.DeploymentOptions;
import dev.miij.MiiException;
import dev.miij.engine.EngineConfig;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class DeploymentSpecTest {

    @Test
    void defaultNameIsTheModelsLastPart() {
        assertEquals("kjv-demo", DeploymentSpec.defaultName("models/kjv-demo"));
        assertEquals("kjv-demo", DeploymentSpec.defaultName("/abs/models/kjv-demo/"));
        assertEquals("llama-3.2-1b", DeploymentSpec.defaultName("meta-llama/Llama-3.2-1B"));
        assertEquals("llama-3.2-1b", DeploymentSpec.defaultName("meta-llama/Llama-3.2-1B@main"));
        assertEquals("my-model", DeploymentSpec.defaultName("dir/My Model"));
        assertEquals("mii-deployment", DeploymentSpec.defaultName("/"));
    }

    @Test
    void resolvesTheModelAndRoundTripsAsJson() {
        Path fixture = Fixtures.dir("llama2");
        DeploymentSpec s = DeploymentSpec.of(fixture.toString(), DeploymentOptions.defaults().withReplicaNum(3)
                .withApiKey("k").withEngine(EngineConfig.defaults().withKvBlockSize(16)));
        assertEquals("llama2", s.name());
        assertEquals(fixture.toAbsolutePath().normalize().toString(), s.modelPath());
        assertEquals(50050, s.port());
        assertEquals(s, DeploymentSpec.fromJson(s.toJson()));
        assertNull(s.withoutApiKey().apiKey());
    }

    @Test
    void theDeviceTravelsToTheReplicasWhichSplitASharedGpu() {
        Path fixture = Fixtures.dir("llama2");
        DeploymentSpec gpu = DeploymentSpec.of(fixture.toString(), DeploymentOptions.defaults().withReplicaNum(2)
                .withDevice("cuda:0").withEngine(EngineConfig.defaults().withGpuMemoryUtilization(0.8)));
        assertEquals("cuda:0", gpu.device());
        assertEquals(gpu, DeploymentSpec.fromJson(gpu.toJson()));
        assertEquals(gpu.device(), gpu.withoutApiKey().device());
        // Both replicas on cuda:0: each gets half of its share.
        for (int i = 0; i < 2; i++) {
            assertEquals("cuda:0", ReplicaMain.options(gpu, i).device());
            assertEquals(0.4, ReplicaMain.options(gpu, i).engine().gpuMemoryUtilization(), 1e-9);
        }
        DeploymentSpec cpu = DeploymentSpec.of(fixture.toString(), DeploymentOptions.defaults().withReplicaNum(2).withDevice("cpu"));
        assertEquals("cpu", ReplicaMain.options(cpu, 1).device());
        assertEquals(0.9, ReplicaMain.options(cpu, 1).engine().gpuMemoryUtilization(), 1e-9);
        assertNull(DeploymentSpec.of(fixture.toString(), DeploymentOptions.defaults()).device(), "chosen by each replica");
    }

    @Test
    void badNamesAndPortsAreRefused() {
        Path fixture = Fixtures.dir("llama2");
        MiiException e = assertThrows(MiiException.class, () -> DeploymentSpec.of(fixture.toString(),
                DeploymentOptions.defaults().withDeploymentName("../etc")));
        assertTrue(e.getMessage().contains("deployment_name"), e.getMessage());
        e = assertThrows(MiiException.class, () -> DeploymentSpec.of(fixture.toString(),
                DeploymentOptions.defaults().withPortNumber(65535).withReplicaNum(2)));
        assertTrue(e.getMessage().contains("port_number"), e.getMessage());
        e = assertThrows(MiiException.class, () -> DeploymentSpec.of("/no/such/model", DeploymentOptions.defaults()));
        assertEquals(MiiException.Kind.NOT_FOUND, e.kind());
    }

    @Test
    void frontEndExitCodesCarryTheErrorKind() {
        for (MiiException.Kind k : MiiException.Kind.values()) {
            assertEquals(k, FrontendMain.kind(FrontendMain.exitCode(k)));
        }
        assertEquals(MiiException.Kind.INTERNAL, FrontendMain.kind(1));
    }
}
