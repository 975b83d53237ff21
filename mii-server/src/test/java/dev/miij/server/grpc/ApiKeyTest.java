package dev.miij.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Empty;
import dev.miij.GenerationOptions;
import dev.miij.MiiException;
import dev.miij.server.grpc.proto.ModelResponseGrpc;
import dev.miij.server.grpc.proto.MultiStringRequest;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** With an API key, the gRPC port refuses every ModelResponse call without it — Terminate above all. */
@Timeout(30)
class ApiKeyTest {

    static final String KEY = "s3cret-key";

    @Test
    void theBalancerRefusesCallsWithoutTheKeyAndTerminatesWithIt() throws Exception {
        ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
        CountDownLatch terminated = new CountDownLatch(1);
        BalancerServer server = BalancerServer.start("127.0.0.1", 0,
                new ReplicaRouter(new BackendPool(List.of()), timer, 100), terminated::countDown, KEY);
        server.serving();
        ManagedChannel plain = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
        try {
            var stub = ModelResponseGrpc.newBlockingStub(plain).withDeadlineAfter(5, TimeUnit.SECONDS);
            StatusRuntimeException noKey = assertThrows(StatusRuntimeException.class, () -> stub.terminate(Empty.getDefaultInstance()));
            assertEquals(Status.Code.UNAUTHENTICATED, noKey.getStatus().getCode());
            assertTrue(noKey.getStatus().getDescription().contains("missing API key"), noKey.getStatus().getDescription());
            StatusRuntimeException generate = assertThrows(StatusRuntimeException.class,
                    () -> stub.generatorReply(MultiStringRequest.newBuilder().addRequest("Hello").build()));
            assertEquals(Status.Code.UNAUTHENTICATED, generate.getStatus().getCode());
            StatusRuntimeException wrong = assertThrows(StatusRuntimeException.class, () -> stub
                    .withInterceptors(ApiKeys.client("not-it")).terminate(Empty.getDefaultInstance()));
            assertEquals(Status.Code.UNAUTHENTICATED, wrong.getStatus().getCode());
            assertEquals("incorrect API key provided", wrong.getStatus().getDescription());
            assertFalse(terminated.await(300, TimeUnit.MILLISECONDS), "no Terminate without the key");
            // Health stays open, like /healthz.
            assertEquals("SERVING", HealthGrpc.newBlockingStub(plain).check(HealthCheckRequest.getDefaultInstance())
                    .getStatus().name());
            // The client API: a keyless client gets an error it can act on, and the keyed one terminates.
            try (GrpcClient keyless = GrpcClient.connect("d", "127.0.0.1", server.port(), -1)) {
                MiiException e = assertThrows(MiiException.class, keyless::terminateServer);
                assertEquals(MiiException.Kind.UNAUTHENTICATED, e.kind());
                assertThrows(MiiException.class, () -> keyless.generate(List.of("Hello"), GenerationOptions.defaults()));
            }
            try (GrpcClient keyed = GrpcClient.connect("d", "127.0.0.1", server.port(), -1, KEY)) {
                keyed.terminateServer();
            }
            assertTrue(terminated.await(5, TimeUnit.SECONDS), "Terminate with the key");
        } finally {
            plain.shutdownNow();
            server.stopNow();
            timer.shutdownNow();
        }
    }

    @Test
    void replicasRequireTheirKeyOnModelResponseCalls() {
        CountDownLatch terminated = new CountDownLatch(1);
        ReplicaServer server = ReplicaServer.start("127.0.0.1", 0, null, terminated::countDown, KEY);
        ManagedChannel plain = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
        try {
            var stub = ModelResponseGrpc.newBlockingStub(plain).withDeadlineAfter(5, TimeUnit.SECONDS);
            assertEquals(Status.Code.UNAUTHENTICATED, assertThrows(StatusRuntimeException.class,
                    () -> stub.terminate(Empty.getDefaultInstance())).getStatus().getCode());
            assertEquals(1, terminated.getCount());
            stub.withInterceptors(ApiKeys.client(KEY)).terminate(Empty.getDefaultInstance());
        } finally {
            plain.shutdownNow();
            server.close();
        }
    }
}
