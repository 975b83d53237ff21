package dev.miij.server.grpc;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.Generation;
import dev.miij.GenerationOptions;
import dev.miij.MiiException;
import dev.miij.Response;
import java.net.ServerSocket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The Client API over MII's protocol, against a stand-in server on a real socket. */
@Timeout(20)
class GrpcClientTest {

    FakeReplica server;
    GrpcClient client;

    @BeforeEach
    void start() {
        server = new FakeReplica("s", 0);
        client = GrpcClient.connect("d", "127.0.0.1", server.port(), -1);
    }

    @AfterEach
    void stop() {
        client.close();
        server.close();
    }

    @Test
    void generateReturnsOneResponsePerPrompt() {
        List<Response> out = client.generate(List.of("a", "b"), GenerationOptions.defaults());
        assertEquals(List.of("s:a", "s:b"), out.stream().map(Response::generatedText).toList());
        assertEquals(Response.FinishReason.LENGTH, out.getFirst().finishReason());
        assertEquals("d", client.deploymentName());
    }

    @Test
    void streamReportsPiecesThenTheWholeResponse() throws Exception {
        List<String> pieces = new ArrayList<>();
        Response r = client.stream("x", GenerationOptions.defaults(), (text, ids) -> pieces.add(text)).result()
                .get(5, TimeUnit.SECONDS);
        assertEquals(List.of("s", ":", "a", "b"), pieces);
        assertEquals("s:ab", r.generatedText());
        assertEquals(Response.FinishReason.STOP, r.finishReason());
    }

    @Test
    void cancellingTheStreamCancelsTheCall() throws Exception {
        server.mode = FakeReplica.Mode.HOLD;
        Generation g = client.stream("x", GenerationOptions.defaults(), (text, ids) -> { });
        ReplicaRouterTest.await(() -> server.held.size() == 1);
        g.cancel();
        ReplicaRouterTest.await(() -> server.cancelled.get() == 1);
        assertEquals(Response.FinishReason.CANCELLED, g.result().get(5, TimeUnit.SECONDS).finishReason(),
                "a cancelled stream ends normally, as the engine's do");
    }

    @Test
    void serverErrorsBecomeMiiExceptionsOfTheSameKind() {
        server.mode = FakeReplica.Mode.INVALID;
        MiiException e = assertThrows(MiiException.class, () -> client.generate(List.of("a"), GenerationOptions.defaults()));
        assertEquals(MiiException.Kind.INVALID_ARGUMENT, e.kind());
        assertEquals("top_k must be an integer", e.getMessage());
        ExecutionException x = assertThrows(ExecutionException.class,
                () -> client.stream("a", GenerationOptions.defaults(), (t, ids) -> { }).result().get(5, TimeUnit.SECONDS));
        assertEquals(MiiException.Kind.INVALID_ARGUMENT, ((MiiException) x.getCause()).kind());
    }

    @Test
    void anUnreachableDeploymentIsAnIoErrorNamingTheAddress() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        try (GrpcClient c = GrpcClient.connect("gone", "127.0.0.1", port, -1)) {
            MiiException e = assertThrows(MiiException.class, () -> c.generate(List.of("a"), GenerationOptions.defaults()));
            assertEquals(MiiException.Kind.IO, e.kind());
            assertTrue(e.getMessage().contains("gone") && e.getMessage().contains(":" + port), e.getMessage());
        }
    }

    /** A subscriber that records everything and requests what the test says. */
    static final class Recorder implements Flow.Subscriber<String> {
        final List<String> items = new ArrayList<>();
        final CompletableFuture<Void> done = new CompletableFuture<>();
        Flow.Subscription subscription;
        final long initial;

        Recorder(long initial) {
            this.initial = initial;
        }

        @Override
        public void onSubscribe(Flow.Subscription s) {
            subscription = s;
            if (initial != 0) {
                s.request(initial);
            }
        }

        @Override
        public synchronized void onNext(String item) {
            items.add(item);
        }

        @Override
        public void onError(Throwable t) {
            done.completeExceptionally(t);
        }

        @Override
        public void onComplete() {
            done.complete(null);
        }

        synchronized int count() {
            return items.size();
        }
    }

    @Test
    void thePublisherDeliversOnlyWhatWasRequested() throws Exception {
        Recorder r = new Recorder(2);
        client.streamPublisher("x", GenerationOptions.defaults()).subscribe(r);
        ReplicaRouterTest.await(() -> r.count() == 2);
        Thread.sleep(200);
        assertEquals(2, r.count(), "no more than requested");
        r.subscription.request(Long.MAX_VALUE);
        r.done.get(5, TimeUnit.SECONDS);
        assertEquals(List.of("s", ":", "a", "b"), r.items);
    }

    @Test
    void aNonPositiveRequestIsAnError() {
        Recorder r = new Recorder(0);
        client.streamPublisher("x", GenerationOptions.defaults()).subscribe(r);
        r.subscription.request(0);
        ExecutionException e = assertThrows(ExecutionException.class, () -> r.done.get(5, TimeUnit.SECONDS));
        assertInstanceOf(IllegalArgumentException.class, e.getCause());
    }

    @Test
    void cancellingTheSubscriptionCancelsTheCall() {
        server.mode = FakeReplica.Mode.HOLD;
        Recorder r = new Recorder(1);
        client.streamPublisher("x", GenerationOptions.defaults()).subscribe(r);
        ReplicaRouterTest.await(() -> r.count() == 1);
        r.subscription.cancel();
        ReplicaRouterTest.await(() -> server.cancelled.get() == 1);
    }

    @Test
    void publisherErrorsAreMiiExceptions() {
        server.mode = FakeReplica.Mode.INVALID;
        Recorder r = new Recorder(1);
        client.streamPublisher("x", GenerationOptions.defaults()).subscribe(r);
        ExecutionException e = assertThrows(ExecutionException.class, () -> r.done.get(5, TimeUnit.SECONDS));
        assertEquals(MiiException.Kind.INVALID_ARGUMENT, ((MiiException) e.getCause()).kind());
    }

    @Test
    void terminateWithoutAKnownPidReturnsOnceAnswered() {
        client.terminateServer();
    }
}
