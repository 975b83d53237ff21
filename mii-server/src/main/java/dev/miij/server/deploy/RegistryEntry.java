package dev.miij.server.deploy;

import java.util.List;

/**
 * One running deployment as recorded in the {@link Registry}.
 *
 * <pre>{@code
 * RegistryEntry e = Registry.fromEnvironment().find("kjv-demo").orElseThrow();
 * GrpcClient.connect(e.name(), e.connectHost(), e.port(), e.pid());
 * }</pre>
 *
 * @param name          deployment name
 * @param model         the model as the user named it
 * @param host          interface of the load balancer (and HTTP APIs)
 * @param port          load balancer gRPC port
 * @param restfulApiPort HTTP port, or null without the HTTP APIs
 * @param pid           the front end process
 * @param pidStart      the front end's start time (epoch ms, -1 unknown), so a reused pid is not mistaken for it
 * @param replicaPorts  each replica's gRPC port
 * @param replicaPids   each replica's current process (changes when one is restarted)
 * @param started       when the deployment started (ISO-8601)
 * @param ready         every replica has loaded the model and the deployment serves
 * @param log           the front end's log file, or null when it logs to a terminal
 */
public record RegistryEntry(String name, String model, String host, int port, Integer restfulApiPort, long pid,
                            long pidStart, List<Integer> replicaPorts, List<Long> replicaPids, String started,
                            boolean ready, String log) {

    public RegistryEntry {
        replicaPorts = List.copyOf(replicaPorts);
        replicaPids = List.copyOf(replicaPids);
    }

    public int replicas() {
        return replicaPorts.size();
    }

    /** The address clients connect to: a wildcard interface means this host. */
    public String connectHost() {
        return host == null || host.equals("0.0.0.0") || host.equals("::") || host.isEmpty() ? "127.0.0.1" : host;
    }

    RegistryEntry withReplicaPids(List<Long> pids) {
        return new RegistryEntry(name, model, host, port, restfulApiPort, pid, pidStart, replicaPorts, pids, started, ready, log);
    }

    RegistryEntry withReady(boolean v) {
        return new RegistryEntry(name, model, host, port, restfulApiPort, pid, pidStart, replicaPorts, replicaPids, started, v, log);
    }
}
