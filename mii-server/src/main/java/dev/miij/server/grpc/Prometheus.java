package dev.miij.server.grpc;

import java.util.Map;

/** Prometheus text format for numbers labelled by replica. */
final class Prometheus {

    private Prometheus() {
    }

    /** One metric family: HELP and TYPE once, then one sample per replica (nothing if there is none). */
    static void write(StringBuilder out, String name, String help, boolean counter, Map<Integer, Long> byReplica) {
        if (byReplica.isEmpty()) {
            return;
        }
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(counter ? " counter" : " gauge").append('\n');
        byReplica.forEach((replica, v) ->
                out.append(name).append("{replica=\"").append(replica).append("\"} ").append(v).append('\n'));
    }
}
