package dev.miij.server.deploy;

import dev.miij.MiiException;
import dev.miij.model.ModelFolder;
import dev.miij.server.GenerationService;
import dev.miij.server.discovery.ReplicaDiscovery;
import dev.miij.server.grpc.BackendPool;
import dev.miij.server.grpc.BalancerServer;
import dev.miij.server.grpc.ReplicatedService;
import dev.miij.server.grpc.ReplicaRouter;
import dev.miij.server.http.HttpFrontend;
import dev.miij.tokenizer.Tokenizer;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * A deployment's front end, run in this process: the load balancer on the deployment's port, one
 * supervised process per replica, the HTTP front end if enabled, and the registry entry that lets
 * other processes find it. {@link #shutdown()} (Terminate, SIGTERM, Ctrl-C) drains the calls in
 * flight and stops every process within {@link #STOP_MILLIS}.
 *
 * <pre>{@code
 * Deployment d = new Deployment(spec, Registry.fromEnvironment(), null);
 * Runtime.getRuntime().addShutdownHook(new Thread(d::shutdown));
 * d.start();              // returns once every replica serves
 * d.awaitTermination();   // until Terminate or a signal
 * }</pre>
 */
public final class Deployment {

    /** The longest a shutdown takes. */
    public static final long STOP_MILLIS = 10_000;

    /**
     * System property: a pid whose exit stops the deployment. Tests set it so that a deployment never
     * outlives the test run, even when the test JVM is killed.
     */
    public static final String WATCH_PID = "mii.watch.pid";

    /**
     * Environment variable with the key a replica requires on its ModelResponse calls: random per
     * deployment, known only to the front end and its replicas, so that no other local process can
     * generate on or terminate a replica behind the front end's API key.
     */
    static final String REPLICA_KEY_ENV = "MII_REPLICA_KEY";

    private static final Logger LOG = Logger.getLogger(Deployment.class.getName());
    private static final long HEALTH_PERIOD_MILLIS = 1000;
    private static final long DRAIN_MILLIS = 4500;
    private static final long REPLICA_GRACE_MILLIS = 2000;
    // How long a request waits for a replica when none is up (one is being restarted).
    private static final long WAIT_FOR_REPLICA_MILLIS = 30_000;

    private final DeploymentSpec spec;
    private final Registry registry;
    private final Path logFile;
    private final String replicaKey = randomKey();
    private final ScheduledExecutorService timer = Executors.newScheduledThreadPool(2, r -> {
        Thread t = new Thread(r, "mii-deployment-timer");
        t.setDaemon(true);
        return t;
    });
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final List<ReplicaProcess> replicas = new ArrayList<>();
    private BackendPool pool;
    private ReplicaRouter router;
    private BalancerServer balancer;
    private HttpFrontend http;
    private volatile dev.miij.server.http.HttpLimits httpLimits = dev.miij.server.http.HttpLimits.defaults();
    private GenerationService service;
    private ReplicaDiscovery discovery;
    private RegistryEntry entry;
    private volatile boolean ready;
    private volatile boolean closing;
    private boolean shutDown;

    /** @param logFile the log this front end writes to (shown by {@code mii list}), or null for a terminal */
    /** Bounds of the HTTP front end (queue, deadline, sizes, timeouts); set before {@link #start()}. */
    public void setHttpLimits(dev.miij.server.http.HttpLimits limits) {
        this.httpLimits = java.util.Objects.requireNonNull(limits);
    }

    public Deployment(DeploymentSpec spec, Registry registry, Path logFile) {
        this.spec = spec;
        this.registry = registry;
        this.logFile = logFile;
    }

    /**
     * Balance over the replicas {@code discovery} finds instead of starting replica processes (a front
     * end in front of pods); set before {@link #start()}. It is ready once one replica serves.
     */
    public void setReplicaDiscovery(ReplicaDiscovery discovery) {
        this.discovery = discovery;
    }

    /**
     * Starts everything and returns once every replica has loaded the model. On failure everything
     * started is stopped again and a {@link MiiException} says why (a replica's last output included).
     */
    public void start() {
        try {
            doStart();
        } catch (RuntimeException e) {
            shutdown();
            throw e;
        }
    }

    private void doStart() {
        watchOwner();
        registry.find(spec.name()).ifPresent(e -> {
            throw MiiException.invalid("a deployment named '" + spec.name() + "' is already running (pid " + e.pid()
                    + ", port " + e.port() + "); terminate it first (mii terminate " + spec.name() + ")");
        });
        // Fail on a bad model here, in one clear message, rather than in every replica.
        Tokenizer tokenizer = Tokenizer.fromModelFolder(ModelFolder.open(Path.of(spec.modelPath())).dir());
        List<Integer> chosen = discovery != null ? List.of(spec.port()) : Ports.choose(spec.port(), spec.replicaNum());
        List<Integer> ports = chosen.subList(1, chosen.size());
        List<InetSocketAddress> addresses = ports.stream().map(p -> new InetSocketAddress("127.0.0.1", p)).toList();
        // Replicas found elsewhere are front ends of their own, behind the deployment's API key.
        pool = new BackendPool(addresses, discovery != null ? spec.apiKey() : replicaKey);
        router = new ReplicaRouter(pool, timer, WAIT_FOR_REPLICA_MILLIS);
        // Served under the deployment name (what /v1/models lists and responses carry), never the folder path.
        service = new ReplicatedService(router, spec.name(), spec.name(), tokenizer);
        balancer = BalancerServer.start(spec.host(), chosen.getFirst(), router, () -> {
            LOG.info("Terminate requested");
            shutdown();
        }, spec.apiKey());
        if (spec.enableRestfulApi()) {
            // Up before the replicas, so that /healthz answers 503 (not "connection refused") while they load.
            http = RestfulApi.start(service, spec, httpLimits, () -> ready && !closing && (discovery == null || pool.anyUp()));
        }
        ProcessHandle self = ProcessHandle.current();
        synchronized (this) {
            entry = new RegistryEntry(spec.name(), spec.model(), spec.host(), balancer.port(),
                    http == null ? null : http.port(), self.pid(), Registry.startOf(self), ports,
                    ports.stream().map(p -> -1L).toList(), Instant.now().toString(), false,
                    logFile == null ? null : logFile.toString());
            registry.write(entry);
            if (discovery == null) {
                registry.writeReplicaKey(spec.name(), replicaKey);
            }
        }
        if (discovery != null) {
            LOG.info("discovering replicas: " + discovery.describe());
            discovery.start(pool::update);
            awaitDiscovered();
        } else {
            startReplicas(ports);
            awaitReplicas();
        }
        pool.startHealthChecks(timer, HEALTH_PERIOD_MILLIS);
        replicas.forEach(ReplicaProcess::enableRestarts);
        timer.scheduleWithFixedDelay(this::noteHealthy, 1, 1, TimeUnit.SECONDS);
        ready = true;
        balancer.serving();
        synchronized (this) {
            entry = entry.withReady(true);
            registry.write(entry);
        }
        LOG.info("deployment " + spec.name() + " ready: " + (discovery != null ? pool.size() + " discovered"
                : String.valueOf(spec.replicaNum())) + " replica(s) of " + spec.model());
    }

    private void watchOwner() {
        String pid = System.getProperty(WATCH_PID);
        if (pid == null || pid.isBlank()) {
            return;
        }
        ProcessHandle owner = ProcessHandle.of(Long.parseLong(pid.strip())).filter(ProcessHandle::isAlive)
                .orElseThrow(() -> new MiiException(MiiException.Kind.CANCELLED, "process " + pid + " (" + WATCH_PID
                        + ") is not running"));
        owner.onExit().thenRun(() -> {
            LogSetup.log(LOG, Level.WARNING, "process " + pid + " exited; stopping");
            Thread.ofPlatform().name("mii-owner-gone").start(this::shutdown);
        });
    }

    private void startReplicas(List<Integer> ports) {
        Map<String, String> env = Map.of(DeploymentSpec.ENV, spec.withoutApiKey().toJson(), REPLICA_KEY_ENV, replicaKey);
        PrintStream log = System.err;
        ReplicaProcess.Events events = new ReplicaProcess.Events() {
            @Override
            public void started(int index, long pid) {
                if (ready) {
                    pool.restarted(index);
                }
                recordPid(index, pid);
            }

            @Override
            public void exited(int index, long pid, int exitCode) {
                pool.markDown(index, "its process " + pid + " exited with code " + exitCode);
            }
        };
        for (int i = 0; i < ports.size(); i++) {
            List<String> cmd = JavaCommand.of(ReplicaMain.class, JavaCommand.replicaOptions(spec.replicaNum()),
                    List.of(String.valueOf(i), String.valueOf(ports.get(i))));
            ReplicaProcess r = new ReplicaProcess(i, ports.get(i), cmd, env, timer, events, log);
            replicas.add(r);
            r.start();
        }
    }

    private void awaitReplicas() {
        while (!pool.allUp()) {
            if (closing) {
                throw new MiiException(MiiException.Kind.CANCELLED, "the deployment was stopped while starting");
            }
            for (ReplicaProcess r : replicas) {
                Integer code = r.failedWith();
                if (code != null) {
                    String tail = r.tail();
                    throw new MiiException(MiiException.Kind.INTERNAL, "replica " + r.index + " exited with code " + code
                            + " before it was ready" + (tail.isEmpty() ? "" : "; its last output:\n" + tail));
                }
            }
            pool.checkNow(500);
            sleep(200);
        }
    }

    private void awaitDiscovered() {
        while (!pool.anyUp()) {
            if (closing) {
                throw new MiiException(MiiException.Kind.CANCELLED, "the deployment was stopped while starting");
            }
            pool.checkNow(500);
            sleep(200);
        }
    }

    private void noteHealthy() {
        for (ReplicaProcess r : replicas) {
            if (pool.isUp(r.index)) {
                r.healthy();
            }
        }
    }

    private synchronized void recordPid(int index, long pid) {
        if (entry == null || closing) {
            return;
        }
        List<Long> pids = new ArrayList<>(entry.replicaPids());
        pids.set(index, pid);
        entry = entry.withReplicaPids(pids);
        try {
            registry.write(entry);
        } catch (MiiException e) {
            LOG.warning(e.getMessage());
        }
    }

    public synchronized RegistryEntry entry() {
        return entry;
    }

    /** The deployment as the HTTP front end sees it. */
    public GenerationService service() {
        return service;
    }

    public boolean ready() {
        return ready && !closing;
    }

    /** Blocks until the deployment has stopped. */
    public void awaitTermination() throws InterruptedException {
        stopped.await();
    }

    /**
     * Stops accepting calls, lets those in flight finish (up to {@value #DRAIN_MILLIS} ms), stops every
     * replica and removes the registry entry. Safe to call at any time, from any thread, more than once;
     * returns when everything is stopped.
     */
    public void shutdown() {
        boolean first;
        synchronized (this) {
            first = !shutDown;
            shutDown = true;
            closing = true;
        }
        if (!first) {
            waitStopped();
            return;
        }
        long start = System.nanoTime();
        LogSetup.log(LOG, Level.INFO, "stopping deployment " + spec.name());
        try {
            if (balancer != null) {
                balancer.stopAccepting();
            }
            // The HTTP server drains its requests while the router drains the gRPC ones: one budget for both.
            Thread httpClosing = Thread.ofPlatform().name("mii-http-close").start(this::closeHttp);
            if (router != null) {
                router.close();
                if (router.inFlight() > 0) {
                    LogSetup.log(LOG, Level.INFO, "draining " + router.inFlight() + " call(s) in flight");
                }
                if (!router.awaitIdle(DRAIN_MILLIS)) {
                    LogSetup.log(LOG, Level.WARNING, router.inFlight() + " call(s) still in flight after " + DRAIN_MILLIS
                            + " ms; cutting them");
                }
            }
            httpClosing.join(DRAIN_MILLIS + 1000);
            if (balancer != null) {
                balancer.stopNow();
            }
            if (pool != null) {
                pool.stopHealthChecks(); // replicas going down now is expected, not news
            }
            stopReplicas();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            if (discovery != null) {
                discovery.close();
            }
            if (pool != null) {
                pool.close();
            }
            timer.shutdownNow();
            registry.remove(spec.name(), ProcessHandle.current().pid());
            LogSetup.log(LOG, Level.INFO, "deployment " + spec.name() + " stopped in "
                    + (System.nanoTime() - start) / 1_000_000 + " ms");
            stopped.countDown();
        }
    }

    private void stopReplicas() throws InterruptedException {
        List<Thread> stoppers = new ArrayList<>();
        for (ReplicaProcess r : replicas) {
            stoppers.add(Thread.ofPlatform().name("mii-stop-replica-" + r.index).start(() -> r.stop(REPLICA_GRACE_MILLIS)));
        }
        for (Thread t : stoppers) {
            t.join(REPLICA_GRACE_MILLIS + 2500);
        }
    }

    private void closeHttp() {
        if (http != null) {
            try {
                http.close(Duration.ofMillis(DRAIN_MILLIS));
            } catch (RuntimeException e) {
                LogSetup.log(LOG, Level.WARNING, "stopping the HTTP front end: " + e);
            }
        }
    }

    private void waitStopped() {
        try {
            stopped.await(STOP_MILLIS + 5000, TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new MiiException(MiiException.Kind.CANCELLED, "interrupted while starting");
        }
    }

    private static String randomKey() {
        byte[] b = new byte[24];
        new java.security.SecureRandom().nextBytes(b);
        return java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }
}
