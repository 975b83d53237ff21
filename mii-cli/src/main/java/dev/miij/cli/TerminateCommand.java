package dev.miij.cli;

import dev.miij.Client;
import dev.miij.MiiException;
import dev.miij.server.deploy.GrpcDeploymentProvider;
import dev.miij.server.deploy.Registry;
import dev.miij.server.deploy.RegistryEntry;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code mii terminate}: stop a running deployment and every one of its processes. */
@Command(name = "terminate", mixinStandardHelpOptions = true,
        description = "Stop a running deployment: in-flight requests finish, then every process exits (within 10 s).")
final class TerminateCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "NAME", description = "Deployment name (see 'mii list').")
    String name;

    @Option(names = "--api-key", paramLabel = "KEY", defaultValue = "${env:MII_API_KEY}",
            description = "The deployment's API key (default: $MII_API_KEY).")
    String apiKey;

    @Override
    public Integer call() throws InterruptedException {
        RegistryEntry e = Registry.fromEnvironment().find(name).orElseThrow(() ->
                MiiException.notFound("no deployment named '" + name + "' is running on this host (see 'mii list')"));
        try (Client client = GrpcDeploymentProvider.client(name, apiKey == null || apiKey.isBlank() ? null : apiKey)) {
            client.terminateServer();
        } catch (MiiException x) {
            if (x.kind() != MiiException.Kind.IO && x.kind() != MiiException.Kind.INTERNAL) {
                throw x;
            }
            // The front end does not answer (or did not stop): fall back to signals.
            System.err.println("warning: " + x.getMessage() + "; sending SIGTERM to pid " + e.pid());
            kill(e);
        }
        System.out.println("terminated " + name);
        return 0;
    }

    private static void kill(RegistryEntry e) throws InterruptedException {
        Optional<ProcessHandle> front = ProcessHandle.of(e.pid());
        front.ifPresent(ProcessHandle::destroy);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (front.map(ProcessHandle::isAlive).orElse(false) && System.nanoTime() < end) {
            Thread.sleep(100);
        }
        List<Long> pids = new ArrayList<>(e.replicaPids());
        pids.addFirst(e.pid());
        for (long pid : pids) {
            ProcessHandle.of(pid).filter(ProcessHandle::isAlive).ifPresent(p -> {
                System.err.println("warning: pid " + pid + " is still running; killing it");
                p.destroyForcibly();
            });
        }
    }
}
