package dev.miij.server.deploy;

import dev.miij.MiiException;

/**
 * The detached front end process that {@code Mii.serve} starts, with the deployment in
 * {@value DeploymentSpec#ENV}. It runs until Terminate or SIGTERM. When it cannot start, the last
 * line of its log is {@code error: MESSAGE} and its exit code tells the error's kind.
 *
 * <pre>
 * MII_DEPLOYMENT_SPEC='{"name":"kjv-demo",...}' java -cp ... dev.miij.server.deploy.FrontendMain
 * </pre>
 */
public final class FrontendMain {

    private static final int EXIT_BASE = 10;

    private FrontendMain() {
    }

    public static void main(String[] args) throws InterruptedException {
        LogSetup.install("frontend", Boolean.getBoolean("mii.debug"));
        DeploymentSpec spec = DeploymentSpec.fromEnvironment();
        Registry registry = Registry.fromEnvironment();
        Deployment d = new Deployment(spec, registry, registry.logFile(spec.name()));
        Runtime.getRuntime().addShutdownHook(new Thread(d::shutdown, "mii-shutdown"));
        try {
            d.start();
        } catch (MiiException e) {
            System.err.println("error: " + e.getMessage());
            System.exit(exitCode(e.kind()));
        } catch (RuntimeException e) {
            e.printStackTrace();
            System.err.println("error: " + e);
            System.exit(exitCode(MiiException.Kind.INTERNAL));
        }
        d.awaitTermination();
        System.exit(0);
    }

    static int exitCode(MiiException.Kind kind) {
        return EXIT_BASE + kind.ordinal();
    }

    /** The kind of error a front end's exit code reports, or INTERNAL for a code it does not use. */
    static MiiException.Kind kind(int exitCode) {
        MiiException.Kind[] kinds = MiiException.Kind.values();
        int i = exitCode - EXIT_BASE;
        return i >= 0 && i < kinds.length ? kinds[i] : MiiException.Kind.INTERNAL;
    }
}
