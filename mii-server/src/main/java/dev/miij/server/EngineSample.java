package dev.miij.server;

import java.util.Map;

/**
 * The numbers of one engine behind a {@link GenerationService}, read when {@code /metrics} is scraped.
 *
 * @param replica  the replica's index, or -1 for the one in-process engine (its samples carry no label)
 * @param engine   engine counters and gauges by key (the keys of {@code EngineStatsRpc.METRICS}); empty
 *                 when the replica did not answer
 * @param balancer the load balancer's view of the replica ({@code up}, {@code outstanding},
 *                 {@code restarts}); empty without a balancer
 */
public record EngineSample(int replica, Map<String, Long> engine, Map<String, Long> balancer) {
}
