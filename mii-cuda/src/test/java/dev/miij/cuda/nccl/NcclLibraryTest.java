package dev.miij.cuda.nccl;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.MiiException;
import dev.miij.backend.cpu.CpuBackend;
import dev.miij.cuda.NativeLibraries;
import dev.miij.parallel.CollectiveProvider;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ServiceLoader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * What holds on every machine, NCCL or not: failing calls become errors naming the call and the
 * result, the library is looked for where the nvidia-nccl wheel puts it, a missing library is one
 * clear error each time it is needed, and the provider is found for the CUDA backend only.
 */
class NcclLibraryTest {

    @Test
    void aFailedCallNamesTheCallAndTheResult() {
        MiiException e = Nccl.error("ncclAllReduce", 1, "unhandled cuda error (run with NCCL_DEBUG=INFO for details)");
        assertEquals("ncclAllReduce failed: ncclUnhandledCudaError (1): unhandled cuda error (run with NCCL_DEBUG=INFO"
                + " for details)", e.getMessage());
        assertEquals(MiiException.Kind.INTERNAL, e.kind());
        MiiException remote = Nccl.error("ncclAllGather", 6, "remote process exited or there was a network error");
        assertTrue(remote.getMessage().startsWith("ncclAllGather failed: ncclRemoteError (6): remote process"), remote.getMessage());
        assertEquals(MiiException.Kind.IO, remote.kind(), "a peer or the network failed: not a bug of ours");
        assertEquals(MiiException.Kind.IO, Nccl.error("ncclCommInitRank", 2, null).kind());
        assertEquals("ncclCommInitRank failed: ncclSystemError (2)", Nccl.error("ncclCommInitRank", 2, null).getMessage());
        assertEquals("ncclCommDestroy failed: unknown ncclResult (42)", Nccl.error("ncclCommDestroy", 42, "").getMessage());
        assertEquals("ncclInvalidUsage", Nccl.resultName(5));
    }

    @Test
    void versionCodesReadAsText() {
        assertEquals("2.23.4", Nccl.versionString(22304));
        assertEquals("2.18.10", Nccl.versionString(21810));
        assertEquals("2.7.8", Nccl.versionString(2708)); // before 2.9: major * 1000
    }

    @Test
    void aMissingLibraryIsOneClearErrorEveryTime() {
        if (Nccl.available()) {
            assertTrue(Nccl.version().matches("\\d+\\.\\d+\\.\\d+"), Nccl.version());
            assertEquals(null, Nccl.unavailableReason());
            return;
        }
        String why = Nccl.unavailableReason();
        assertTrue(why.contains("cannot find NCCL (libnccl.so.2, libnccl.so)") && why.contains("nvidia-nccl-cu12"), why);
        for (int i = 0; i < 2; i++) { // the same error, not a class-initialisation error the second time
            MiiException e = assertThrows(MiiException.class, Nccl::uniqueId);
            assertEquals(why, e.getMessage());
            assertEquals(MiiException.Kind.UNSUPPORTED, e.kind());
        }
    }

    @Test
    void theWheelsLibraryFolderIsSearched(@TempDir Path home) throws Exception {
        // Where `pip install --user nvidia-nccl-cu12` puts it (the folder only: the lookup names the file it missed there).
        Path lib = home.resolve(".local/lib/python3.12/site-packages/nvidia/nccl/lib");
        Files.createDirectories(lib);
        String saved = System.getProperty("user.home");
        System.setProperty("user.home", home.toString());
        try {
            try {
                NativeLibraries.open("NCCL", Nccl.SONAMES);
                // Found before the wheels (CUDA_HOME, the loader path, the system): nothing more to check here.
            } catch (MiiException e) {
                assertTrue(e.getMessage().contains(lib.resolve("libnccl.so.2").toString()), e.getMessage());
            }
        } finally {
            System.setProperty("user.home", saved);
        }
    }

    @Test
    void theProviderServesTheCudaBackendOnly() {
        CollectiveProvider nccl = ServiceLoader.load(CollectiveProvider.class).stream().map(ServiceLoader.Provider::get)
                .filter(p -> p instanceof NcclCollectiveProvider).findFirst().orElseThrow();
        try (CpuBackend cpu = new CpuBackend()) {
            assertFalse(nccl.supports(cpu));
        }
    }
}
