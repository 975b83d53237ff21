package dev.miij.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.miij.MiiException;
import dev.miij.server.deploy.Registry;
import dev.miij.server.deploy.RegistryEntry;
import java.time.Instant;
import java.time.ZoneId;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code mii list}: the deployments running on this host. */
@Command(name = "list", mixinStandardHelpOptions = true, description = "List the deployments running on this host.")
final class ListCommand implements Callable<Integer> {

    private static final DateTimeFormatter STARTED = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss")
            .withZone(ZoneId.systemDefault());

    @Option(names = "--json", description = "Print one JSON array on stdout.")
    boolean json;

    @Override
    public Integer call() {
        List<RegistryEntry> entries = Registry.fromEnvironment().list();
        if (json) {
            System.out.println(toJson(entries));
            return 0;
        }
        if (entries.isEmpty()) {
            System.err.println("no deployments are running");
            return 0;
        }
        List<String[]> rows = new ArrayList<>();
        rows.add(new String[] {"NAME", "MODEL", "GRPC", "HTTP", "REPLICAS", "PIDS", "STARTED", "STATE"});
        for (RegistryEntry e : entries) {
            rows.add(new String[] {e.name(), e.model(), e.host() + ":" + e.port(),
                    e.restfulApiPort() == null ? "-" : String.valueOf(e.restfulApiPort()), String.valueOf(e.replicas()),
                    e.pid() + " (" + e.replicaPids().stream().map(String::valueOf).collect(Collectors.joining(",")) + ")",
                    started(e.started()), e.ready() ? "ready" : "starting"});
        }
        int[] widths = new int[rows.getFirst().length];
        for (String[] r : rows) {
            for (int i = 0; i < r.length; i++) {
                widths[i] = Math.max(widths[i], r[i].length());
            }
        }
        for (String[] r : rows) {
            StringBuilder b = new StringBuilder();
            for (int i = 0; i < r.length; i++) {
                b.append(i == r.length - 1 ? r[i] : String.format("%-" + widths[i] + "s  ", r[i]));
            }
            System.out.println(b.toString().stripTrailing());
        }
        return 0;
    }

    static String started(String iso) {
        try {
            return STARTED.format(Instant.parse(iso));
        } catch (DateTimeParseException e) {
            return iso;
        }
    }

    static String toJson(List<RegistryEntry> entries) {
        List<Map<String, Object>> rows = new ArrayList<>();
        for (RegistryEntry e : entries) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("name", e.name());
            m.put("model", e.model());
            m.put("host", e.host());
            m.put("port", e.port());
            m.put("restful_api_port", e.restfulApiPort());
            m.put("replicas", e.replicas());
            m.put("replica_ports", e.replicaPorts());
            m.put("pid", e.pid());
            m.put("replica_pids", e.replicaPids());
            m.put("started", e.started());
            m.put("ready", e.ready());
            rows.add(m);
        }
        try {
            return new ObjectMapper().writeValueAsString(rows);
        } catch (com.fasterxml.jackson.core.JsonProcessingException x) {
            throw new MiiException(MiiException.Kind.INTERNAL, "could not write JSON", x);
        }
    }
}
