package dev.miij.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class EcosystemGaugesTest {

    @Test
    void sumsReplicasAndSkipsThoseThatDidNotAnswer() {
        StringBuilder out = new StringBuilder();
        EcosystemGauges.write(out, "demo", List.of(
                Map.of("requests_waiting", 3L, "requests_running", 2L, "kv_blocks_in_use", 10L, "kv_blocks_total", 40L,
                        "prefix_hits", 3L, "prefix_misses", 1L),
                Map.of(),
                Map.of("requests_waiting", 1L, "requests_running", 4L, "kv_blocks_in_use", 30L, "kv_blocks_total", 40L,
                        "prefix_hits", 0L, "prefix_misses", 4L)));
        String s = out.toString();
        assertTrue(s.contains("# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{model_name=\"demo\"} 4.0\n"), s);
        assertTrue(s.contains("vllm:num_requests_running{model_name=\"demo\"} 6.0\n"), s);
        assertTrue(s.contains("vllm:kv_cache_usage_perc{model_name=\"demo\"} 0.5\n"), s);
        assertTrue(s.contains("vllm:gpu_cache_usage_perc{model_name=\"demo\"} 0.5\n"), s);
        assertTrue(s.contains("mii_prefix_cache_hit_rate{model_name=\"demo\"} 0.375\n"), s);
        StringBuilder none = new StringBuilder();
        EcosystemGauges.write(none, "demo", List.of(Map.of()));
        assertEquals("", none.toString());
    }
}
