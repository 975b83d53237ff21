package dev.miij.server.deploy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.miij.Client;
import dev.miij.DeploymentOptions;
import dev.miij.GenerationOptions;
import dev.miij.engine.EngineConfig;
import dev.miij.server.grpc.WireKwargs;
import dev.miij.server.grpc.proto.ModelResponseGrpc;
import dev.miij.server.grpc.proto.MultiGenerationReply;
import dev.miij.server.grpc.proto.MultiStringRequest;
import dev.miij.testing.Fixtures;
import io.grpc.ManagedChannel;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * A deployment with as many replicas as the front end has processors keeps answering on every endpoint.
 *
 * <p>The front end runs with {@code -XX:ActiveProcessorCount=2}, two replicas, and the virtual-thread
 * scheduler's {@code maxPoolSize} equal to its parallelism (2). Left to its defaults the scheduler adds a
 * spare carrier when a virtual thread blocks in a file or pipe read, and retires it after 30 s idle; from
 * then on, a virtual thread blocked in such a read holds its carrier. Capping the pool at its parallelism
 * gives the state after those 30 s at once, so the test needs no wait: had the replicas' output pipes been
 * read on virtual threads, both carriers would be held and no HTTP request would ever be answered.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class FewCoresTest {

    @Test
    void twoReplicasOnTwoProcessorsAnswerEveryEndpoint() throws Exception {
        Path stateDir = Files.createTempDirectory("mii-state");
        System.setProperty(Registry.PROPERTY, stateDir.toString());
        System.setProperty(Deployment.WATCH_PID, String.valueOf(ProcessHandle.current().pid()));
        String name = "cores-" + ProcessHandle.current().pid();
        List<Long> pids = new ArrayList<>();
        Client client = null;
        ManagedChannel channel = null;
        try {
            EngineConfig engine = EngineConfig.defaults().withKvBlockSize(16).withNumKvBlocks(64);
            List<String> jvm = List.of("-XX:ActiveProcessorCount=2", "-Djdk.virtualThreadScheduler.parallelism=2",
                    "-Djdk.virtualThreadScheduler.maxPoolSize=2");
            try {
                client = new GrpcDeploymentProvider().serve(Fixtures.dir("llama2").toString(), DeploymentOptions.defaults()
                        .withDeploymentName(name).withReplicaNum(2).withPortNumber(0)
                        .withRestfulApi(true, "127.0.0.1", 0).withEngine(engine), jvm);
            } finally {
                new Registry(stateDir).find(name).ifPresent(e -> {
                    pids.add(e.pid());
                    e.replicaPids().stream().filter(p -> p > 0).forEach(pids::add);
                });
            }
            RegistryEntry entry = new Registry(stateDir).find(name).orElseThrow();
            String base = "http://127.0.0.1:" + entry.restfulApiPort();
            // Replicas log as they serve; their pipes are read all along.
            assertEquals(200, http(base + "/healthz", null).statusCode());
            HttpResponse<String> rest = http(base + "/mii/" + name,
                    "{\"prompts\": [\"Hello\"], \"max_new_tokens\": 4, \"do_sample\": false, \"ignore_eos\": true}");
            assertEquals(200, rest.statusCode(), rest.body());
            assertTrue(rest.body().contains("generated_text"), rest.body());
            HttpResponse<String> openai = http(base + "/v1/completions",
                    "{\"model\": \"" + name + "\", \"prompt\": \"Hello\", \"max_tokens\": 4}");
            assertEquals(200, openai.statusCode(), openai.body());
            assertTrue(openai.body().contains("\"choices\""), openai.body());
            channel = NettyChannelBuilder.forAddress("127.0.0.1", entry.port()).usePlaintext().build();
            MultiGenerationReply reply = ModelResponseGrpc.newBlockingStub(channel).withDeadlineAfter(15, TimeUnit.SECONDS)
                    .generatorReply(MultiStringRequest.newBuilder().addRequest("Hello").putAllQueryKwargs(WireKwargs.of(
                            GenerationOptions.builder().maxNewTokens(4).doSample(false).ignoreEos(true).build())).build());
            assertEquals(4, reply.getResponse(0).getGeneratedTokens());
            // And again once every process has settled.
            assertEquals(200, http(base + "/healthz", null).statusCode());
        } finally {
            if (channel != null) {
                channel.shutdownNow();
            }
            if (client != null) {
                client.close();
            }
            new Registry(stateDir).find(name).ifPresent(e -> {
                pids.add(e.pid());
                pids.addAll(e.replicaPids());
            });
            for (long pid : pids) {
                ProcessHandle.of(pid).ifPresent(ProcessHandle::destroyForcibly);
            }
            System.clearProperty(Registry.PROPERTY);
            System.clearProperty(Deployment.WATCH_PID);
            try (var files = Files.list(stateDir)) {
                for (Path f : files.toList()) {
                    Files.deleteIfExists(f);
                }
            }
            Files.deleteIfExists(stateDir);
        }
    }

    static HttpResponse<String> http(String url, String body) throws Exception {
        HttpRequest.Builder r = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(10));
        r = body == null ? r.GET() : r.POST(HttpRequest.BodyPublishers.ofString(body)).header("Content-Type", "application/json");
        try (HttpClient c = HttpClient.newHttpClient()) {
            return c.send(r.build(), HttpResponse.BodyHandlers.ofString());
        }
    }
}
