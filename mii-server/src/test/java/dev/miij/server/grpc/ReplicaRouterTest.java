package dev.miij.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.Empty;
import dev.miij.Generation;
import dev.miij.GenerationOptions;
import dev.miij.MiiException;
import dev.miij.Response;
import dev.miij.engine.StreamListener;
import dev.miij.server.GenerationService;
import dev.miij.server.grpc.proto.ModelResponseGrpc;
import dev.miij.server.grpc.proto.MultiGenerationReply;
import dev.miij.server.grpc.proto.MultiStringRequest;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.stub.StreamObserver;
import java.net.InetSocketAddress;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The load balancer in this process, in front of stand-in replicas on real sockets. */
@Timeout(30)
class ReplicaRouterTest {

    ScheduledExecutorService timer;
    List<FakeReplica> replicas;
    BackendPool pool;
    ReplicaRouter router;
    BalancerServer balancer;
    ManagedChannel channel;
    ModelResponseGrpc.ModelResponseBlockingStub stub;
    CountDownLatch terminated = new CountDownLatch(1);

    @BeforeEach
    void start() {
        timer = Executors.newScheduledThreadPool(2);
        replicas = new ArrayList<>(List.of(new FakeReplica("r0", 0), new FakeReplica("r1", 0)));
        pool = new BackendPool(replicas.stream().map(r -> new InetSocketAddress("127.0.0.1", r.port())).toList());
        router = new ReplicaRouter(pool, timer, 5000);
        pool.startHealthChecks(timer, 100);
        balancer = BalancerServer.start("127.0.0.1", 0, router, terminated::countDown);
        channel = NettyChannelBuilder.forAddress("127.0.0.1", balancer.port()).usePlaintext().build();
        stub = ModelResponseGrpc.newBlockingStub(channel);
        await(pool::allUp);
    }

    @AfterEach
    void stop() {
        channel.shutdownNow();
        balancer.stopAccepting();
        balancer.stopNow();
        pool.close();
        replicas.forEach(FakeReplica::close);
        timer.shutdownNow();
    }

    static void await(BooleanSupplier condition) {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!condition.getAsBoolean()) {
            assertTrue(System.nanoTime() < end, "timed out waiting");
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
        }
    }

    static MultiStringRequest req(String... prompts) {
        return MultiStringRequest.newBuilder().addAllRequest(List.of(prompts)).build();
    }

    String answer(String prompt) {
        return stub.generatorReply(req(prompt)).getResponse(0).getResponse();
    }

    String streamed(String prompt) {
        StringBuilder b = new StringBuilder();
        stub.generatorReplyStream(req(prompt)).forEachRemaining(r -> b.append(r.getResponse(0).getResponse()));
        return b.toString();
    }

    @Test
    void idleReplicasShareTheRequests() {
        for (int i = 0; i < 10; i++) {
            assertTrue(answer("p" + i).endsWith(":p" + i));
        }
        assertEquals(5, replicas.get(0).calls.get());
        assertEquals(5, replicas.get(1).calls.get());
    }

    @Test
    void newRequestsGoToTheReplicaWithTheLeastOutstandingPrompts() {
        replicas.forEach(r -> r.mode = FakeReplica.Mode.HOLD);
        var async = ModelResponseGrpc.newFutureStub(channel);
        List<com.google.common.util.concurrent.ListenableFuture<MultiGenerationReply>> calls = new ArrayList<>();
        calls.add(async.generatorReply(req("a", "b", "c")));
        await(() -> replicas.stream().mapToInt(r -> r.held.size()).sum() == 1);
        FakeReplica big = replicas.get(0).held.size() == 1 ? replicas.get(0) : replicas.get(1);
        FakeReplica other = big == replicas.get(0) ? replicas.get(1) : replicas.get(0);
        for (int i = 0; i < 3; i++) {
            calls.add(async.generatorReply(req("x" + i)));
            int n = i + 1;
            await(() -> other.held.size() == n);
        }
        assertEquals(1, big.held.size(), "three prompts in flight on one replica keep single prompts off it");
        replicas.forEach(FakeReplica::releaseAll);
        for (var c : calls) {
            assertFalse(Futures.getUnchecked(c).getResponse(0).getResponse().isEmpty());
        }
        await(() -> pool.backends().stream().allMatch(b -> b.outstanding() == 0));
    }

    @Test
    void requestsAfterAReplicaDiesDoNotFail() {
        replicas.get(0).close();
        for (int i = 0; i < 10; i++) {
            assertTrue(answer("p" + i).startsWith("r1:"));
            assertTrue(streamed("s" + i).startsWith("r1:"));
        }
        await(() -> !pool.isUp(0));
    }

    @Test
    void unavailableBeforeAnyOutputIsRetriedElsewhere() {
        replicas.get(0).mode = FakeReplica.Mode.UNAVAILABLE;
        for (int i = 0; i < 6; i++) {
            assertTrue(answer("p" + i).startsWith("r1:"));
            assertTrue(streamed("s" + i).startsWith("r1:"));
        }
    }

    @Test
    void aStreamThatBreaksAfterOutputFailsInsteadOfRepeatingText() {
        replicas.forEach(r -> r.mode = FakeReplica.Mode.BREAK_AFTER_ONE_PIECE);
        Iterator<MultiGenerationReply> it = stub.generatorReplyStream(req("x"));
        String first = it.next().getResponse(0).getResponse();
        assertTrue(first.startsWith("r"));
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, it::next);
        assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
        assertEquals(1, replicas.get(0).calls.get() + replicas.get(1).calls.get());
    }

    @Test
    void aStreamThatBreaksBeforeItsFirstTextIsRetriedAndShowsNothingOfTheFirstReplica() {
        replicas.get(0).mode = FakeReplica.Mode.BREAK_BEFORE_TEXT;
        for (int i = 0; i < 4; i++) {
            List<MultiGenerationReply> replies = new ArrayList<>();
            stub.generatorReplyStream(req("s" + i)).forEachRemaining(replies::add);
            StringBuilder text = new StringBuilder();
            replies.forEach(r -> text.append(r.getResponse(0).getResponse()));
            assertEquals("r1:ab", text.toString(), "stream " + i);
            assertTrue(replies.stream().allMatch(r -> r.getResponse(0).getTokenIdsCount() == 0),
                    "no piece of the broken stream reaches the client: " + replies);
        }
        assertTrue(replicas.get(0).calls.get() > 0, "the breaking replica was tried");
    }

    @Test
    void errorsOtherThanUnavailablePassThroughUnchanged() {
        replicas.forEach(r -> r.mode = FakeReplica.Mode.INVALID);
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> answer("x"));
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode());
        assertEquals("top_k must be an integer", e.getStatus().getDescription());
        assertEquals(1, replicas.get(0).calls.get() + replicas.get(1).calls.get());
    }

    @Test
    void whileNoReplicaIsUpRequestsWaitForOne() throws Exception {
        int port = replicas.get(1).port();
        replicas.get(0).close();
        replicas.get(1).close();
        await(() -> !pool.anyUp());
        CompletableFuture<String> pending = CompletableFuture.supplyAsync(() -> answer("late"));
        Thread.sleep(300);
        assertFalse(pending.isDone());
        replicas.add(new FakeReplica("r1-again", port));
        assertEquals("r1-again:late", pending.get(10, TimeUnit.SECONDS));
    }

    @Test
    void aCancelledCallIsCancelledOnItsReplica() {
        replicas.forEach(r -> r.mode = FakeReplica.Mode.HOLD);
        CountDownLatch firstPiece = new CountDownLatch(1);
        var call = channel.newCall(ReplicaRouter.STREAM, io.grpc.CallOptions.DEFAULT);
        io.grpc.stub.ClientCalls.asyncServerStreamingCall(call, req("x"), new StreamObserver<MultiGenerationReply>() {
            @Override
            public void onNext(MultiGenerationReply value) {
                firstPiece.countDown();
            }

            @Override
            public void onError(Throwable t) {
            }

            @Override
            public void onCompleted() {
            }
        });
        try {
            assertTrue(firstPiece.await(5, TimeUnit.SECONDS));
        } catch (InterruptedException e) {
            throw new AssertionError(e);
        }
        call.cancel("test", null);
        await(() -> replicas.get(0).cancelled.get() + replicas.get(1).cancelled.get() == 1);
        await(() -> router.inFlight() == 0);
    }

    @Test
    void theGenerationServiceWorksThroughTheReplicas() throws Exception {
        GenerationService s = new ReplicatedService(router, "d", "m", null);
        List<Response> out = s.generate(List.of("a", "b"), GenerationOptions.defaults()).get(5, TimeUnit.SECONDS);
        assertEquals(2, out.size());
        assertTrue(out.get(1).generatedText().endsWith(":b"));
        assertEquals(Response.FinishReason.LENGTH, out.get(1).finishReason());
        StringBuilder pieces = new StringBuilder();
        Response r = s.stream("x", GenerationOptions.defaults(), (text, ids) -> pieces.append(text)).result()
                .get(5, TimeUnit.SECONDS);
        assertEquals(pieces.toString(), r.generatedText());
        assertEquals(Response.FinishReason.STOP, r.finishReason());

        replicas.forEach(x -> x.mode = FakeReplica.Mode.INVALID);
        var e = assertThrows(java.util.concurrent.ExecutionException.class,
                () -> s.generate(List.of("a"), GenerationOptions.defaults()).get(5, TimeUnit.SECONDS));
        assertEquals(MiiException.Kind.INVALID_ARGUMENT, ((MiiException) e.getCause()).kind());

        replicas.forEach(x -> x.mode = FakeReplica.Mode.HOLD);
        List<String> finished = new ArrayList<>();
        Generation st = s.stream("y", GenerationOptions.defaults(), new StreamListener() {
            @Override
            public void onText(String text, int[] tokenIds) {
            }

            @Override
            public void onFinish(Response response, Throwable error) {
                finished.add(response.finishReason().wireName());
            }
        });
        await(() -> replicas.stream().anyMatch(x -> !x.held.isEmpty()));
        st.cancel();
        assertEquals(Response.FinishReason.CANCELLED, st.result().get(5, TimeUnit.SECONDS).finishReason());
        assertEquals(List.of("cancelled"), finished);

        StringBuilder metrics = new StringBuilder();
        dev.miij.server.http.Metrics registry = new dev.miij.server.http.Metrics();
        registry.register(s);
        registry.write(metrics);
        assertTrue(metrics.toString().contains("mii_replica_up{replica=\"0\"} 1"), metrics.toString());
        assertTrue(metrics.toString().contains("# TYPE mii_replica_restarts_total counter"), metrics.toString());
    }

    @Test
    void terminateAnswersThenRunsTheShutdown() throws InterruptedException {
        stub.terminate(Empty.getDefaultInstance());
        assertTrue(terminated.await(5, TimeUnit.SECONDS));
    }

    @Test
    void aClosedRouterRefusesNewCalls() throws InterruptedException {
        router.close();
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> answer("x"));
        assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
        assertTrue(router.awaitIdle(1000));
    }

    @Test
    void closingLetsCallsInFlightFinish() throws Exception {
        replicas.forEach(r -> r.mode = FakeReplica.Mode.HOLD);
        var inFlight = ModelResponseGrpc.newFutureStub(channel).generatorReply(req("x"));
        await(() -> replicas.stream().mapToInt(r -> r.held.size()).sum() == 1);
        router.close();
        assertFalse(router.awaitIdle(200), "the call in flight is still running");
        replicas.forEach(FakeReplica::releaseAll);
        assertTrue(router.awaitIdle(5000));
        assertTrue(inFlight.get(5, TimeUnit.SECONDS).getResponse(0).getResponse().endsWith(":x"));
    }

    /** Guava's getUnchecked without importing Guava's whole Futures API into every line. */
    static final class Futures {
        static <T> T getUnchecked(java.util.concurrent.Future<T> f) {
            try {
                return f.get(10, TimeUnit.SECONDS);
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }
    }
}
