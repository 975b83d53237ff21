package dev.miij.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.server.discovery.KubernetesDiscovery;
import dev.miij.server.grpc.proto.ModelResponseGrpc;
import dev.miij.server.grpc.proto.MultiStringRequest;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointBuilder;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSlice;
import io.fabric8.kubernetes.api.model.discovery.v1.EndpointSliceBuilder;
import io.fabric8.kubernetes.client.KubernetesClient;
import io.fabric8.kubernetes.client.server.mock.EnableKubernetesMockClient;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** EndpointSlice watching against an in-process Kubernetes API server (fabric8's mock, CRUD mode). */
@EnableKubernetesMockClient(crud = true)
@Timeout(60)
class KubernetesDiscoveryTest {

    KubernetesClient client;

    private static EndpointSlice slice(String name, int port, List<String> ready, List<String> notReady) {
        EndpointSliceBuilder b = new EndpointSliceBuilder().withNewMetadata().withName(name).withNamespace("serving")
                .addToLabels("kubernetes.io/service-name", "mii-replicas").endMetadata().withAddressType("IPv4")
                .addNewPort().withName("http").withPort(28080).endPort().addNewPort().withName("grpc").withPort(port).endPort();
        ready.forEach(a -> b.addToEndpoints(new EndpointBuilder().withAddresses(a).withNewConditions().withReady(true).endConditions().build()));
        notReady.forEach(a -> b.addToEndpoints(new EndpointBuilder().withAddresses(a).withNewConditions().withReady(false).endConditions().build()));
        return b.build();
    }

    @Test
    void podsJoinAndLeaveWhileRequestsRun() throws Exception {
        ScheduledExecutorService timer = Executors.newScheduledThreadPool(2);
        int port = DiscoveryTest.freePort();
        List<FakeReplica> pods = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            pods.add(new FakeReplica("pod" + i, "127.0.0." + (1 + i), port));
        }
        // Another Service's slice is not ours.
        client.discovery().v1().endpointSlices().inNamespace("serving").resource(new EndpointSliceBuilder(
                slice("other", port, List.of("127.0.0.3"), List.of())).editMetadata()
                .addToLabels("kubernetes.io/service-name", "other").endMetadata().build()).create();
        client.discovery().v1().endpointSlices().inNamespace("serving")
                .resource(slice("mii-replicas-a", port, List.of("127.0.0.1"), List.of("127.0.0.2"))).create();
        BackendPool pool = new BackendPool(List.of());
        ReplicaRouter router = new ReplicaRouter(pool, timer, 10_000);
        pool.startHealthChecks(timer, 100);
        BalancerServer lb = BalancerServer.start("127.0.0.1", 0, router, () -> { });
        KubernetesDiscovery discovery = new KubernetesDiscovery(client, false, "serving", "mii-replicas", "grpc");
        ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", lb.port()).usePlaintext().build();
        try {
            discovery.start(pool::update);
            var stub = ModelResponseGrpc.newBlockingStub(ch);
            ReplicaRouterTest.await(() -> pool.size() == 1 && pool.allUp());
            List<CompletableFuture<String>> load = new ArrayList<>();
            for (int i = 0; i < 150; i++) {
                int k = i;
                load.add(CompletableFuture.supplyAsync(() -> stub.generatorReply(MultiStringRequest.newBuilder()
                        .addRequest("q" + k).build()).getResponse(0).getResponse()));
                if (i == 30) { // pod1 turns ready, pod2 appears in a second slice
                    client.discovery().v1().endpointSlices().inNamespace("serving")
                            .resource(slice("mii-replicas-a", port, List.of("127.0.0.1", "127.0.0.2"), List.of())).update();
                    client.discovery().v1().endpointSlices().inNamespace("serving")
                            .resource(slice("mii-replicas-b", port, List.of("127.0.0.3"), List.of())).create();
                }
                if (i == 90) { // pod0 is deleted
                    ReplicaRouterTest.await(() -> pool.size() == 3 && pool.allUp());
                    client.discovery().v1().endpointSlices().inNamespace("serving")
                            .resource(slice("mii-replicas-a", port, List.of("127.0.0.2"), List.of())).update();
                }
                Thread.sleep(3);
            }
            List<String> served = load.stream().map(CompletableFuture::join).toList(); // none lost
            assertEquals(150, served.size());
            assertTrue(served.stream().anyMatch(s -> s.startsWith("pod2:")), "a pod that appeared got requests");
            ReplicaRouterTest.await(() -> pool.size() == 2);
            for (int i = 0; i < 10; i++) {
                String s = stub.generatorReply(MultiStringRequest.newBuilder().addRequest("after").build()).getResponse(0).getResponse();
                assertTrue(s.startsWith("pod1:") || s.startsWith("pod2:"), s);
            }
            client.discovery().v1().endpointSlices().inNamespace("serving").withName("mii-replicas-b").delete();
            ReplicaRouterTest.await(() -> pool.size() == 1);
        } finally {
            discovery.close();
            ch.shutdownNow();
            lb.stopAccepting();
            lb.stopNow();
            pool.close();
            pods.forEach(FakeReplica::close);
            timer.shutdownNow();
        }
    }
}
