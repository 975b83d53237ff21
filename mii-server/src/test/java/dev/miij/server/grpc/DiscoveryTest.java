package dev.miij.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.MiiException;
import dev.miij.server.discovery.DnsDiscovery;
import dev.miij.server.discovery.ReplicaDiscovery;
import dev.miij.server.grpc.proto.ModelResponseGrpc;
import dev.miij.server.grpc.proto.MultiGenerationReply;
import dev.miij.server.grpc.proto.MultiStringRequest;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A front end's pool fed by discovery, in front of stand-in replicas on loopback: replicas join and
 * leave while requests run, and none is lost.
 */
@Timeout(60)
class DiscoveryTest {

    final ScheduledExecutorService timer = Executors.newScheduledThreadPool(2);
    final List<AutoCloseable> closing = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (AutoCloseable c : closing.reversed()) {
            c.close();
        }
        timer.shutdownNow();
    }

    private <T extends AutoCloseable> T closeLater(T c) {
        closing.add(c);
        return c;
    }

    /** A pool, its router and a balancer in front; the stub talks to the balancer. */
    record Front(BackendPool pool, ModelResponseGrpc.ModelResponseBlockingStub stub) {
    }

    private Front front(ReplicaDiscovery discovery) {
        BackendPool pool = closeLater(new BackendPool(List.of()));
        ReplicaRouter router = new ReplicaRouter(pool, timer, 10_000);
        pool.startHealthChecks(timer, 100);
        BalancerServer lb = BalancerServer.start("127.0.0.1", 0, router, () -> { });
        closing.add(() -> {
            lb.stopAccepting();
            lb.stopNow();
        });
        closeLater(discovery).start(pool::update);
        ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", lb.port()).usePlaintext().build();
        closing.add(ch::shutdownNow);
        return new Front(pool, ModelResponseGrpc.newBlockingStub(ch));
    }

    private static String ask(Front f, String prompt) {
        MultiGenerationReply r = f.stub.generatorReply(MultiStringRequest.newBuilder().addRequest(prompt).build());
        return r.getResponse(0).getResponse();
    }

    private static String replicaOf(String answer) {
        return answer.substring(0, answer.indexOf(':'));
    }

    @Test
    void staticListOfReplicas() {
        FakeReplica a = closeLater(new FakeReplica("a", 0));
        FakeReplica b = closeLater(new FakeReplica("b", 0));
        Front f = front(ReplicaDiscovery.parse("static:127.0.0.1:" + a.port() + ",localhost:" + b.port()));
        ReplicaRouterTest.await(() -> f.pool.size() == 2 && f.pool.allUp());
        List<String> seen = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            seen.add(replicaOf(ask(f, "p" + i)));
        }
        assertTrue(seen.contains("a") && seen.contains("b"), seen.toString());
    }

    @Test
    void parseRejectsBadSources() {
        for (String s : List.of("static:", "dns:name", "dns:name:x", "consul:x", "kubernetes:", "static:host:99999", "nothing")) {
            assertThrows(MiiException.class, () -> ReplicaDiscovery.parse(s), s);
        }
    }

    @Test
    void dnsRecordsThatChangeUnderLoad() throws Exception {
        // Pods of a headless Service: one address each (127.0.0.1, .2, .3), all on the same port.
        int port = freePort();
        List<FakeReplica> replicas = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            replicas.add(closeLater(new FakeReplica("r" + i, "127.0.0." + (1 + i), port)));
        }
        // The DNS name resolves to the replicas listed in `records`; the test changes them.
        AtomicReference<List<Integer>> records = new AtomicReference<>(List.of(0));
        ConcurrentHashMap<String, Integer> lookups = new ConcurrentHashMap<>();
        DnsDiscovery.Resolver resolver = name -> {
            assertEquals("mii-replicas.serving.svc.cluster.local", name);
            lookups.merge(name, 1, Integer::sum);
            List<InetAddress> out = new ArrayList<>();
            for (int i : records.get()) {
                out.add(InetAddress.getByAddress(name, new byte[] {127, 0, 0, (byte) (1 + i)}));
            }
            if (out.isEmpty()) {
                throw new UnknownHostException(name);
            }
            return out;
        };
        Front f = front(new DnsDiscovery("mii-replicas.serving.svc.cluster.local", port, resolver, 50));
        ReplicaRouterTest.await(() -> f.pool.anyUp());
        assertEquals("r0", replicaOf(ask(f, "x")));

        // Requests run while records change: r1 and r2 join, then r0 leaves.
        List<CompletableFuture<String>> load = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
            int k = i;
            load.add(CompletableFuture.supplyAsync(() -> replicaOf(ask(f, "q" + k))));
            if (i == 50) {
                records.set(List.of(0, 1, 2));
            }
            if (i == 120) {
                ReplicaRouterTest.await(() -> f.pool.size() == 3 && f.pool.allUp());
                records.set(List.of(1, 2));
            }
            Thread.sleep(2);
        }
        List<String> served = load.stream().map(CompletableFuture::join).toList(); // none failed
        assertEquals(200, served.size());
        assertTrue(served.contains("r1") || served.contains("r2"), "new replicas joined without a restart");
        ReplicaRouterTest.await(() -> f.pool.size() == 2);
        for (int i = 0; i < 10; i++) {
            assertTrue(List.of("r1", "r2").contains(replicaOf(ask(f, "after" + i))), "r0 was drained");
        }
        // A failed lookup keeps the last set.
        records.set(List.of());
        Thread.sleep(200);
        assertEquals(2, f.pool.size());
        assertTrue(lookups.get("mii-replicas.serving.svc.cluster.local") > 3);
    }

    static int freePort() throws Exception {
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }
}
