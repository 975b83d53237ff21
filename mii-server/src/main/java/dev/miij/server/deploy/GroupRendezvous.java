package dev.miij.server.deploy;

import dev.miij.MiiException;
import java.util.Map;

/**
 * Where one pod stands in a group that serves one model across nodes: the leader's address, this
 * pod's rank and the group's size, from the variables a LeaderWorkerSet sets in every pod
 * ({@code LWS_LEADER_ADDRESS}, {@code LWS_WORKER_INDEX}, {@code LWS_GROUP_SIZE}). The leader is
 * rank 0 and runs the server; workers are ranks 1..size-1. Outside a group: rank 0 of 1.
 *
 * <pre>{@code
 * GroupRendezvous g = GroupRendezvous.fromEnvironment(System.getenv());
 * if (!g.leader()) connect(g.leaderAddress(), g.port());
 * }</pre>
 *
 * @param leaderAddress the leader pod's DNS name, or null outside a group
 * @param rank          this pod's rank
 * @param worldSize     pods in the group
 * @param port          the port ranks meet on at the leader ({@value #PORT_ENV}, default {@value #DEFAULT_PORT})
 */
public record GroupRendezvous(String leaderAddress, int rank, int worldSize, int port) {

    public static final String LEADER_ADDRESS = "LWS_LEADER_ADDRESS";
    public static final String WORKER_INDEX = "LWS_WORKER_INDEX";
    public static final String GROUP_SIZE = "LWS_GROUP_SIZE";
    public static final String PORT_ENV = "MII_RENDEZVOUS_PORT";
    public static final int DEFAULT_PORT = 29500;

    public GroupRendezvous {
        if (worldSize < 1 || rank < 0 || rank >= worldSize) {
            throw MiiException.invalid("rank " + rank + " of a group of " + worldSize + " is not a valid place in a group");
        }
        if (worldSize > 1 && (leaderAddress == null || leaderAddress.isBlank())) {
            throw MiiException.invalid("a group of " + worldSize + " needs the leader's address (" + LEADER_ADDRESS + ")");
        }
        if (port < 1 || port > 65535) {
            throw MiiException.invalid(PORT_ENV + " must be a port number, got " + port);
        }
    }

    /** This pod's place from {@code env}; rank 0 of 1 when no group variable is set. */
    public static GroupRendezvous fromEnvironment(Map<String, String> env) {
        int port = number(env, PORT_ENV, DEFAULT_PORT);
        if (!env.containsKey(GROUP_SIZE) && !env.containsKey(WORKER_INDEX) && !env.containsKey(LEADER_ADDRESS)) {
            return new GroupRendezvous(null, 0, 1, port);
        }
        if (!env.containsKey(GROUP_SIZE) || !env.containsKey(WORKER_INDEX)) {
            throw MiiException.invalid("incomplete group: " + LEADER_ADDRESS + ", " + WORKER_INDEX + " and " + GROUP_SIZE
                    + " are set together (by a LeaderWorkerSet)");
        }
        String leader = env.get(LEADER_ADDRESS);
        return new GroupRendezvous(leader == null || leader.isBlank() ? null : leader.strip(),
                number(env, WORKER_INDEX, 0), number(env, GROUP_SIZE, 1), port);
    }

    public boolean leader() {
        return rank == 0;
    }

    private static int number(Map<String, String> env, String name, int otherwise) {
        String v = env.get(name);
        if (v == null || v.isBlank()) {
            return otherwise;
        }
        try {
            return Integer.parseInt(v.strip());
        } catch (NumberFormatException e) {
            throw MiiException.invalid(name + " must be a whole number, got '" + v + "'");
        }
    }
}
