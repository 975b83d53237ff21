package dev.miij.server.grpc;

import com.google.protobuf.Empty;
import dev.miij.engine.EngineStats;
import dev.miij.server.grpc.proto.Dictionary;
import dev.miij.server.grpc.proto.Value;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.MethodDescriptor;
import io.grpc.ServerServiceDefinition;
import io.grpc.protobuf.ProtoUtils;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ServerCalls;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import java.util.function.ToLongFunction;

/**
 * MII-J's own service next to MII's {@code ModelResponse}: {@code miij.EngineStats/Read} returns a
 * replica's engine counters, so the front end can publish metrics for every replica. It reuses the
 * proto's {@link Dictionary} (name to int64 {@link Value}) so it needs no proto of its own.
 *
 * <pre>{@code
 * serverBuilder.addService(EngineStatsRpc.service(() -> pipeline.engine().stats()));
 * long generated = EngineStatsRpc.read(channel, 1000).get("tokens_generated");
 * }</pre>
 */
public final class EngineStatsRpc {

    public static final String SERVICE = "miij.EngineStats";

    static final MethodDescriptor<Empty, Dictionary> READ = MethodDescriptor.<Empty, Dictionary>newBuilder()
            .setType(MethodDescriptor.MethodType.UNARY)
            .setFullMethodName(MethodDescriptor.generateFullMethodName(SERVICE, "Read"))
            .setRequestMarshaller(ProtoUtils.marshaller(Empty.getDefaultInstance()))
            .setResponseMarshaller(ProtoUtils.marshaller(Dictionary.getDefaultInstance()))
            .setIdempotent(true)
            .build();

    /** One published number: its key on the wire, Prometheus name, help text and type. */
    public record Metric(String key, String name, String help, boolean counter, ToLongFunction<EngineStats> read) {
    }

    /** The engine numbers a replica publishes, with the names {@link dev.miij.server.PipelineService} uses. */
    public static final List<Metric> METRICS = List.of(
            new Metric("requests_running", "mii_requests_running", "Requests admitted to the engine", false, s -> s.requestsRunning),
            new Metric("requests_waiting", "mii_requests_waiting", "Requests queued for admission", false, s -> s.requestsWaiting),
            new Metric("kv_blocks_in_use", "mii_kv_blocks_in_use", "KV-cache blocks held by sequences", false, s -> s.kvBlocksInUse),
            new Metric("kv_blocks_total", "mii_kv_blocks_capacity", "KV-cache blocks allocated", false, s -> s.kvBlocksTotal),
            new Metric("prefix_hits", "mii_prefix_cache_hits_total", "Prompt blocks served from the prefix cache", true, s -> s.prefixHits),
            new Metric("prefix_misses", "mii_prefix_cache_misses_total", "Prefix-cache lookups that missed", true, s -> s.prefixMisses),
            new Metric("preemptions", "mii_preemptions_total", "Sequences preempted for lack of KV blocks", true, s -> s.preemptions),
            new Metric("steps", "mii_engine_steps_total", "Forward steps run", true, s -> s.steps),
            new Metric("tokens_generated", "mii_generation_tokens_total", "Tokens generated", true, s -> s.tokensGenerated),
            new Metric("requests_finished", "mii_requests_finished_total", "Requests finished", true, s -> s.requestsFinished));

    /** Key of the queue-time histogram's bucket {@code i} (of {@link EngineStats#QUEUE_TIME_BUCKETS}, then +Inf). */
    public static String queueTimeBucketKey(int i) {
        return "queue_time_bucket_" + i;
    }

    public static final String QUEUE_TIME_COUNT = "queue_time_count";
    public static final String QUEUE_TIME_NANOS = "queue_time_nanos_total";

    private EngineStatsRpc() {
    }

    /** Every number an engine publishes, by key: {@link #METRICS} and the queue-time histogram. */
    public static Map<String, Long> values(EngineStats s) {
        Map<String, Long> out = new LinkedHashMap<>();
        for (Metric m : METRICS) {
            out.put(m.key(), m.read().applyAsLong(s));
        }
        for (int i = 0; i < s.queueTimeBuckets.length(); i++) {
            out.put(queueTimeBucketKey(i), s.queueTimeBuckets.get(i));
        }
        out.put(QUEUE_TIME_COUNT, s.queueTimeCount);
        out.put(QUEUE_TIME_NANOS, s.queueTimeNanosTotal);
        return out;
    }

    /** The server side; {@code stats} returns null while the model is loading (an empty answer). */
    public static ServerServiceDefinition service(Supplier<EngineStats> stats) {
        return ServerServiceDefinition.builder(SERVICE)
                .addMethod(READ, ServerCalls.asyncUnaryCall((Empty request, io.grpc.stub.StreamObserver<Dictionary> out) -> {
                    out.onNext(toDictionary(stats.get()));
                    out.onCompleted();
                }))
                .build();
    }

    static Dictionary toDictionary(EngineStats s) {
        Dictionary.Builder d = Dictionary.newBuilder();
        if (s != null) {
            values(s).forEach((k, v) -> d.putValues(k, Value.newBuilder().setIvalue(v).build()));
        }
        return d.build();
    }

    /** Reads a replica's numbers by key; fails with a StatusRuntimeException if it does not answer in time. */
    public static Map<String, Long> read(Channel channel, long timeoutMillis) {
        Dictionary d = ClientCalls.blockingUnaryCall(channel, READ,
                CallOptions.DEFAULT.withDeadlineAfter(timeoutMillis, TimeUnit.MILLISECONDS), Empty.getDefaultInstance());
        Map<String, Long> out = new LinkedHashMap<>();
        d.getValuesMap().forEach((k, v) -> out.put(k, v.getIvalue()));
        return out;
    }
}
