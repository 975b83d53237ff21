package dev.miij.server;

import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The gauges that Kubernetes serving add-ons read from {@code /metrics}, under the names they expect
 * (vLLM's, which the Gateway API Inference Extension's model-server protocol and common KEDA
 * triggers use), summed over the replicas behind a front end and labelled {@code model_name}:
 * <ul>
 *   <li>{@code vllm:num_requests_waiting}: requests queued for admission (the queue-length signal);</li>
 *   <li>{@code vllm:num_requests_running}: requests admitted to the engines;</li>
 *   <li>{@code vllm:kv_cache_usage_perc} and {@code vllm:gpu_cache_usage_perc}: KV-cache blocks in use
 *       over blocks allocated, a fraction in [0, 1];</li>
 *   <li>{@code mii_prefix_cache_hit_rate}: prefix-cache hits over lookups since start, in [0, 1].</li>
 * </ul>
 *
 * <pre>{@code
 * EcosystemGauges.write(out, "kjv-demo", List.of(Map.of("requests_waiting", 3L, ...)));
 * }</pre>
 */
public final class EcosystemGauges {

    private EcosystemGauges() {
    }

    /** @param engines each engine's numbers by the keys of {@code EngineStatsRpc.METRICS}; an empty map is skipped */
    public static void write(StringBuilder out, String modelName, List<Map<String, Long>> engines) {
        long waiting = 0;
        long running = 0;
        long inUse = 0;
        long total = 0;
        long hits = 0;
        long misses = 0;
        int answered = 0;
        for (Map<String, Long> e : engines) {
            if (e.isEmpty()) {
                continue;
            }
            answered++;
            waiting += e.getOrDefault("requests_waiting", 0L);
            running += e.getOrDefault("requests_running", 0L);
            inUse += e.getOrDefault("kv_blocks_in_use", 0L);
            total += e.getOrDefault("kv_blocks_total", 0L);
            hits += e.getOrDefault("prefix_hits", 0L);
            misses += e.getOrDefault("prefix_misses", 0L);
        }
        if (answered == 0) {
            return;
        }
        gauge(out, modelName, "vllm:num_requests_waiting", "Number of requests waiting to be processed.", waiting);
        gauge(out, modelName, "vllm:num_requests_running", "Number of requests in model execution batches.", running);
        double usage = total == 0 ? 0 : (double) inUse / total;
        gauge(out, modelName, "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", usage);
        gauge(out, modelName, "vllm:gpu_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", usage);
        gauge(out, modelName, "mii_prefix_cache_hit_rate", "Prefix-cache hits over lookups since start.",
                hits + misses == 0 ? 0 : (double) hits / (hits + misses));
    }

    private static void gauge(StringBuilder out, String modelName, String name, String help, double v) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n')
                .append("# TYPE ").append(name).append(" gauge\n")
                .append(name).append("{model_name=\"").append(modelName.replace("\\", "\\\\").replace("\"", "\\\""))
                .append("\"} ").append(String.format(Locale.ROOT, "%s", v)).append('\n');
    }
}
