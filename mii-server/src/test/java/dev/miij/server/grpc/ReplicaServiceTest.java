package dev.miij.server.grpc;

import java.util.Arrays;
import dev.miij.testing.Fixtures;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.GenerationOptions;
import dev.miij.Mii;
import dev.miij.Pipeline;
import dev.miij.PipelineOptions;
import dev.miij.Response;
import dev.miij.engine.EngineConfig;
import dev.miij.server.PipelineService;
import dev.miij.server.grpc.proto.ModelResponseGrpc;
import dev.miij.server.grpc.proto.MultiGenerationReply;
import dev.miij.server.grpc.proto.MultiStringRequest;
import dev.miij.server.grpc.proto.SingleGenerationReply;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse.ServingStatus;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** A replica's gRPC server in this process, over a real engine on a tiny fixture model, through real sockets. */
class ReplicaServiceTest {

    static final Path FIXTURE = Fixtures.dir("llama2");
    static final int NEW_TOKENS = 24;

    static Pipeline pipeline;
    static ReplicaServer server;
    static ManagedChannel channel;
    static ModelResponseGrpc.ModelResponseBlockingStub stub;
    static List<Fixtures.Case> cases;

    static PipelineOptions engineOptions() {
        return PipelineOptions.defaults().withEngine(EngineConfig.defaults().withKvBlockSize(16).withNumKvBlocks(128));
    }

    @BeforeAll
    static void start() {
        cases = Fixtures.cases("llama2");
        pipeline = Mii.pipeline(FIXTURE.toString(), engineOptions());
        server = ReplicaServer.start("127.0.0.1", 0, null, () -> { });
        server.serve(new PipelineService(pipeline, "test", "llama2"));
        channel = NettyChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
        stub = ModelResponseGrpc.newBlockingStub(channel);
    }

    @AfterAll
    static void stop() {
        if (channel != null) {
            channel.shutdownNow();
        }
        if (server != null) {
            server.close();
        }
        if (pipeline != null) {
            pipeline.close();
        }
    }

    static GenerationOptions greedy() {
        return GenerationOptions.builder().maxNewTokens(NEW_TOKENS).doSample(false).ignoreEos(true).build();
    }

    static List<String> prompts() {
        List<String> out = new ArrayList<>();
        cases.forEach(c -> out.add(c.prompt()));
        return out;
    }

    static MultiStringRequest request(List<String> prompts, GenerationOptions o) {
        return ReplicatedService.request(prompts, o);
    }

    @Test
    void greedyRepliesMatchThePipelineAndTheReference() {
        List<String> prompts = prompts();
        List<Response> local = pipeline.generate(prompts, greedy());
        MultiGenerationReply reply = stub.generatorReply(request(prompts, greedy()));
        assertEquals(prompts.size(), reply.getResponseCount());
        for (int i = 0; i < prompts.size(); i++) {
            SingleGenerationReply r = reply.getResponse(i);
            Fixtures.Case c = cases.get(i);
            List<Integer> reference = Arrays.stream(c.greedyIds()).boxed().toList();
            assertEquals(reference.subList(0, NEW_TOKENS), local.get(i).tokenIds(), "pipeline vs transformers, case " + i);
            assertEquals(local.get(i).generatedText(), r.getResponse(), "case " + i);
            assertEquals(reference.subList(0, NEW_TOKENS), r.getTokenIdsList().stream().map(Long::intValue).toList(),
                    "token ids over gRPC, case " + i);
            assertEquals(c.promptIds().length, r.getPromptTokens());
            assertEquals(NEW_TOKENS, r.getGeneratedTokens());
            assertEquals("length", r.getFinishReason());
        }
    }

    @Test
    void logprobsCrossTheWireUnaryAndStreamed() {
        String prompt = prompts().getFirst();
        GenerationOptions o = greedy().toBuilder().logprobs(3).build();
        List<dev.miij.TokenLogprob> local = pipeline.generate(prompt, o).logprobs();
        assertEquals(NEW_TOKENS, local.size());
        List<dev.miij.TokenLogprob> unary = WireReplies.fromWire(stub.generatorReply(request(List.of(prompt), o))
                .getResponse(0).getLogprobsList());
        List<dev.miij.TokenLogprob> streamed = new ArrayList<>();
        stub.generatorReplyStream(request(List.of(prompt), o)).forEachRemaining(m -> {
            List<dev.miij.TokenLogprob> lp = WireReplies.fromWire(m.getResponse(0).getLogprobsList());
            assertEquals(lp == null ? 0 : lp.size(), m.getResponse(0).getTokenIdsCount());
            if (lp != null) {
                streamed.addAll(lp);
            }
        });
        for (List<dev.miij.TokenLogprob> got : List.of(unary, streamed)) {
            assertEquals(local.size(), got.size());
            for (int i = 0; i < local.size(); i++) {
                assertEquals(local.get(i).tokenId(), got.get(i).tokenId());
                assertEquals(local.get(i).token(), got.get(i).token());
                assertEquals(local.get(i).logprob(), got.get(i).logprob(), 1e-4);
                assertEquals(3, got.get(i).top().size());
                assertEquals(local.get(i).top().getFirst().tokenId(), got.get(i).top().getFirst().tokenId());
            }
        }
        assertTrue(stub.generatorReply(request(List.of(prompt), greedy())).getResponse(0).getLogprobsList().isEmpty());
    }

    @Test
    void tokenIdPromptsAreUsedAsGiven() throws Exception {
        int[] ids = pipeline.encode(prompts().getFirst());
        Response local = pipeline.engine().submit(ids, greedy(), dev.miij.engine.StreamListener.NONE, "").result().get();
        dev.miij.server.grpc.proto.TokenIds.Builder wire = dev.miij.server.grpc.proto.TokenIds.newBuilder();
        for (int id : ids) {
            wire.addIds(id);
        }
        MultiStringRequest request = MultiStringRequest.newBuilder().addPromptTokenIds(wire)
                .putAllQueryKwargs(WireKwargs.of(greedy())).build();
        SingleGenerationReply unary = stub.generatorReply(request).getResponse(0);
        assertEquals(local.generatedText(), unary.getResponse());
        assertEquals(ids.length, unary.getPromptTokens());
        StringBuilder text = new StringBuilder();
        stub.generatorReplyStream(request).forEachRemaining(m -> text.append(m.getResponse(0).getResponse()));
        assertEquals(local.generatedText(), text.toString());
        StatusRuntimeException both = assertThrows(StatusRuntimeException.class,
                () -> stub.generatorReply(request.toBuilder().addRequest("x").build()));
        assertEquals(io.grpc.Status.Code.INVALID_ARGUMENT, both.getStatus().getCode());
    }

    @Test
    void streamedPiecesAddUpToTheFullText() {
        String prompt = prompts().getFirst();
        String full = pipeline.generate(prompt, greedy()).generatedText();
        Iterator<MultiGenerationReply> it = stub.generatorReplyStream(request(List.of(prompt), greedy()));
        StringBuilder text = new StringBuilder();
        List<String> reasons = new ArrayList<>();
        SingleGenerationReply last = null;
        List<Long> ids = new ArrayList<>();
        int pieces = 0;
        while (it.hasNext()) {
            last = it.next().getResponse(0);
            ids.addAll(last.getTokenIdsList());
            text.append(last.getResponse());
            reasons.add(last.getFinishReason());
            pieces++;
        }
        assertEquals(full, text.toString());
        assertEquals(pipeline.generate(prompt, greedy()).tokenIds(), ids.stream().map(Long::intValue).toList());
        assertTrue(pieces > 5, "streams piece by piece, got " + pieces);
        assertEquals("length", reasons.getLast());
        assertTrue(reasons.subList(0, reasons.size() - 1).stream().allMatch(WireReplies.NOT_FINISHED::equals));
        assertEquals(NEW_TOKENS, last.getGeneratedTokens());
        assertEquals(cases.get(0).promptIds().length, last.getPromptTokens());
    }

    @Test
    void streamingWithFullTextStartsWithThePrompt() {
        String prompt = "Hello";
        GenerationOptions o = greedy().toBuilder().returnFullText(true).build();
        StringBuilder text = new StringBuilder();
        stub.generatorReplyStream(request(List.of(prompt), o)).forEachRemaining(r -> text.append(r.getResponse(0).getResponse()));
        assertEquals(pipeline.generate(prompt, o).generatedText(), text.toString());
        assertTrue(text.toString().startsWith(prompt));
    }

    static void assertInvalid(Runnable call, String field) {
        StatusRuntimeException e = assertThrows(StatusRuntimeException.class, call::run);
        assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), e.getStatus().toString());
        assertTrue(e.getStatus().getDescription().contains(field), e.getStatus().getDescription());
    }

    @Test
    void badInputIsInvalidArgumentNamingTheFieldAndTheReplicaGoesOn() {
        MultiStringRequest.Builder ok = MultiStringRequest.newBuilder().addRequest("Hello");
        assertInvalid(() -> stub.generatorReply(ok.clone().putQueryKwargs("top_p", WireKwargs.value("high")).build()), "top_p");
        assertInvalid(() -> stub.generatorReply(ok.clone().putQueryKwargs("num_beams", WireKwargs.value(4)).build()), "num_beams");
        assertInvalid(() -> stub.generatorReply(ok.clone().putQueryKwargs("max_new_tokens", WireKwargs.value(0)).build()),
                "max_new_tokens");
        assertInvalid(() -> stub.generatorReply(MultiStringRequest.getDefaultInstance()), "request");
        assertInvalid(() -> stub.generatorReply(ok.clone().putQueryKwargs("max_length", WireKwargs.value(3)).build()),
                "max_length");
        assertInvalid(() -> stub.generatorReplyStream(ok.clone().addRequest("two").build()).next(), "request");
        assertInvalid(() -> stub.generatorReplyStream(ok.clone().putQueryKwargs("temperature", WireKwargs.value(-1.0)).build())
                .next(), "temperature");
        assertEquals(3, stub.generatorReply(request(List.of("Hello"), greedy().toBuilder().maxNewTokens(3).build()))
                .getResponse(0).getGeneratedTokens());
    }

    @Test
    void healthIsServingAndStatsAreReadable() {
        var health = HealthGrpc.newBlockingStub(channel);
        assertEquals(ServingStatus.SERVING, health.check(HealthCheckRequest.newBuilder()
                .setService(ModelResponseGrpc.SERVICE_NAME).build()).getStatus());
        stub.generatorReply(request(List.of("Hello"), greedy().toBuilder().maxNewTokens(2).build()));
        Map<String, Long> stats = EngineStatsRpc.read(channel, 2000);
        assertTrue(stats.get("tokens_generated") >= 2, stats.toString());
        assertTrue(stats.get("kv_blocks_total") == 128, stats.toString());
    }

    @Test
    void aReplicaStillLoadingSaysNotServingAndUnavailable() {
        ReplicaServer loading = ReplicaServer.start("127.0.0.1", 0, null, () -> { });
        ManagedChannel ch = NettyChannelBuilder.forAddress("127.0.0.1", loading.port()).usePlaintext().build();
        try {
            assertEquals(ServingStatus.NOT_SERVING, HealthGrpc.newBlockingStub(ch).check(HealthCheckRequest.newBuilder()
                    .setService(ModelResponseGrpc.SERVICE_NAME).build()).getStatus());
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> ModelResponseGrpc.newBlockingStub(ch)
                    .generatorReply(MultiStringRequest.newBuilder().addRequest("x").build()));
            assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode());
            assertEquals(Map.of(), EngineStatsRpc.read(ch, 2000));
        } finally {
            ch.shutdownNow();
            loading.close();
        }
    }
}
