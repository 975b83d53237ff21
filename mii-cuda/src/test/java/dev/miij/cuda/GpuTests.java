package dev.miij.cuda;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;

import java.io.PrintWriter;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;

/**
 * Runs this module's tests without Maven, for a GPU host that has only a Java runtime and the jars:
 * {@code java -cp <jars and test classes> dev.miij.cuda.GpuTests}. The test classes are named rather
 * than scanned for, so a minimal runtime without the zip file system works. Exits 1 when a test fails, 2 when
 * no GPU was found (every GPU test then skipped).
 */
public final class GpuTests {

    private GpuTests() {
    }

    public static void main(String[] args) {
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
                .selectors(selectClass(CudaNoGpuTest.class), selectClass(CudaBackendOpsTest.class),
                        selectClass(CudaAttentionTest.class),
                        selectClass(CudaFixtureModelsTest.class), selectClass(CudaSamplerTest.class),
                        selectClass(CudaDeviceTest.class), selectClass(CudaFamilyOpsTest.class),
                        selectClass(CudaMoeTest.class), selectClass(CudaMoeLayoutTest.class),
                        selectClass(FixtureReferenceTest.class), selectClass(CudaEngineTest.class),
                        selectClass(NcclCollectiveTest.class), selectClass("dev.miij.cuda.nccl.NcclLibraryTest"))
                .build();
        Launcher launcher = LauncherFactory.create();
        SummaryGeneratingListener summary = new SummaryGeneratingListener();
        launcher.execute(request, summary);
        PrintWriter out = new PrintWriter(System.out, true);
        summary.getSummary().printTo(out);
        summary.getSummary().printFailuresTo(out, 30);
        if (summary.getSummary().getTotalFailureCount() > 0) {
            System.exit(1);
        }
        System.exit(CudaBackendProvider.deviceCount() > 0 ? 0 : 2);
    }
}
