package dev.miij.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.miij.MiiException;
import dev.miij.cli.load.ClosedLoop;
import dev.miij.cli.load.GrpcLoadClient;
import dev.miij.cli.load.HttpLoadClient;
import dev.miij.cli.load.LoadClient;
import dev.miij.cli.load.Report;
import dev.miij.cli.load.SseLoadClient;
import dev.miij.server.deploy.Registry;
import dev.miij.server.deploy.RegistryEntry;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.URI;
import java.net.UnknownHostException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.OffsetDateTime;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code mii load-bench}: closed-loop load on a running deployment over its OpenAI API, MII's REST
 * gateway or MII's gRPC protocol, at several concurrency levels; or the load balancer's added latency
 * ({@code --frontend-overhead}). Where {@code mii bench} measures the engine in this process, this
 * measures the served deployment as its clients see it.
 */
@Command(name = "load-bench", mixinStandardHelpOptions = true, sortOptions = false,
        description = {
            "Load a running deployment with C concurrent clients, each sending its next request as soon as the last is"
                    + " answered (greedy, ignore_eos, fixed max_new_tokens: the same work per request). Per concurrency"
                    + " level: successful requests/s, output tokens/s, latency p50/p90/p99/max of successful requests,"
                    + " and errors (counted; the run goes on, and with --check its exit status says whether any failed).",
            "With --frontend-overhead: the load balancer's added latency, from the same requests sent one at a time"
                    + " to the first replica's gRPC port and to the deployment's, interleaved."},
        footer = {"", "Examples:",
            "  mii load-bench --deployment kjv-demo --api grpc --requests-per-level 128",
            "  mii load-bench --url http://127.0.0.1:28080 --api mii --duration 10",
            "  mii load-bench --deployment kjv-demo --frontend-overhead",
            "  mii load-bench --deployment kjv-demo --stream --concurrency 64 --duration 600 --check any"})
final class LoadBenchCommand implements Callable<Integer> {

    /** Where requests go; exactly one. */
    static final class Target {
        @Option(names = "--url", paramLabel = "URL", required = true,
                description = "HTTP front end of a deployment (its --restful-api-port), e.g. http://127.0.0.1:28080.")
        URI url;

        @Option(names = "--grpc", paramLabel = "HOST:PORT", required = true,
                description = "gRPC port of a deployment's load balancer, e.g. 127.0.0.1:50050.")
        String grpc;

        @Option(names = "--deployment", paramLabel = "NAME", required = true,
                description = "A deployment of this host, by name (see 'mii list'): its ports come from the registry.")
        String deployment;
    }

    /** How much load per level; at most one. */
    static final class Amount {
        @Option(names = "--requests-per-level", paramLabel = "N", required = true,
                description = "Requests measured per level (default: 4 per client, at least 32; 200 with"
                        + " --frontend-overhead, to each target).")
        Integer requests;

        @Option(names = "--duration", paramLabel = "S", required = true,
                description = "Seconds of load per level instead of a request count; requests begun by then are waited for.")
        Double seconds;
    }

    enum Api {
        OPENAI, MII, GRPC;

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    static final class ApiConverter implements CommandLine.ITypeConverter<Api> {
        @Override
        public Api convert(String value) {
            try {
                return Api.valueOf(value.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException("expected openai, mii or grpc, got '" + value + "'");
            }
        }
    }

    static final String DEFAULT_PROMPT = "In the beginning God created the heaven and the earth.";

    @Spec
    CommandSpec spec;

    @ArgGroup(exclusive = true, multiplicity = "1")
    Target target;

    @Option(names = "--api", paramLabel = "API", converter = ApiConverter.class,
            description = "openai (POST /v1/completions), mii (POST /mii/NAME) or grpc (GeneratorReply)"
                    + " (default: openai where the deployment has its HTTP front end, else grpc).")
    Api api;

    @Option(names = "--concurrency", split = ",", paramLabel = "C", description = "Concurrency levels, comma-separated (default: 1,4,16,64).")
    int[] concurrency = {1, 4, 16, 64};

    @ArgGroup(exclusive = true)
    Amount amount;

    @Option(names = "--max-new-tokens", paramLabel = "N",
            description = "Tokens generated per request (default: 16; 1 with --frontend-overhead).")
    Integer maxNewTokens;

    @Option(names = "--prompt", paramLabel = "TEXT", description = "The prompt of every request (default: \"" + DEFAULT_PROMPT + "\").")
    String prompt = DEFAULT_PROMPT;

    @Option(names = "--warmup", paramLabel = "N",
            description = "Unmeasured requests before the first level (default: ${DEFAULT-VALUE}); each level also starts"
                    + " with one unmeasured request per client. 0 skips both.")
    int warmup = 16;

    @Option(names = "--timeout", paramLabel = "S", description = "Seconds a request may take before it counts as an error (default: ${DEFAULT-VALUE}).")
    double timeoutSeconds = 120;

    @Option(names = "--name", paramLabel = "NAME",
            description = "Deployment name for --api mii with a --url this host's registry does not know.")
    String name;

    @Option(names = "--api-key", paramLabel = "KEY", defaultValue = "${env:MII_API_KEY}",
            description = "The deployment's API key, sent as a bearer key over HTTP and gRPC (default: $MII_API_KEY).")
    String apiKey;

    @Option(names = "--stream",
            description = "Stream every request (OpenAI and MII: server-sent events, which must end with a finish reason"
                    + " and [DONE]; gRPC: GeneratorReplyStream, whose last message must carry a finish reason);"
                    + " latency is to the end of the stream; time to first text (TTFT) and time per output token after it"
                    + " (TPOT) are reported per level.")
    boolean stream;

    enum Check {
        ANY, UNSTARTED;

        @Override
        public String toString() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    static final class CheckConverter implements CommandLine.ITypeConverter<Check> {
        @Override
        public Check convert(String value) {
            try {
                return Check.valueOf(value.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new CommandLine.TypeConversionException("expected any or unstarted, got '" + value + "'");
            }
        }
    }

    @Option(names = "--check", paramLabel = "WHICH", converter = CheckConverter.class,
            description = "Exit with status 1 when requests failed: 'any' (every failure, a cut stream or a stream"
                    + " without [DONE] included), or 'unstarted' (only requests that had received no output: a replica"
                    + " lost under load may end streams it had begun, never others). Default: failures are only reported.")
    Check check;

    @Option(names = "--frontend-overhead",
            description = "Measure the load balancer's added latency (gRPC, concurrency 1) instead of loading the deployment.")
    boolean frontendOverhead;

    @Option(names = "--replica", paramLabel = "HOST:PORT",
            description = "With --frontend-overhead: the replica to compare with (default: the first replica in the"
                    + " registry, else the port after the load balancer's).")
    String replica;

    @Option(names = "--json", description = "Print one JSON document on stdout; the table goes to stderr.")
    boolean json;

    @Option(names = "--debug", description = "Show stack traces on errors.")
    boolean debug;

    /** What the target flags resolved to: a part is null where it is unknown. */
    record Resolved(String deployment, URI http, String grpcHost, Integer grpcPort, List<Integer> replicaPorts,
                    int replicas) {
    }

    @Override
    public Integer call() throws Exception {
        validate();
        Resolved r = resolve();
        PrintStream stdout = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        PrintStream table = json ? new PrintStream(System.err, true, StandardCharsets.UTF_8) : stdout;
        Duration timeout = Duration.ofMillis(Math.round(timeoutSeconds * 1000));
        String date = OffsetDateTime.now().truncatedTo(ChronoUnit.SECONDS).toString();
        ObjectNode doc = new ObjectMapper().createObjectNode();
        doc.put("date", date);
        doc.put("deployment", r.deployment());
        List<ClosedLoop.Level> levels = List.of();
        if (frontendOverhead) {
            overhead(r, timeout, date, table, doc);
        } else {
            levels = load(r, timeout, date, table, doc);
        }
        String failed = check == null ? null : checkFailure(levels);
        if (check != null) {
            doc.put("check", check.toString());
            doc.put("check_passed", failed == null);
        }
        if (json) {
            stdout.println(doc);
        }
        if (failed != null) {
            System.err.println("check failed: " + failed);
            return 1;
        }
        if (check != null) {
            table.println("check passed (" + check + "): " + (check == Check.ANY ? "no request failed"
                    : "no request failed before its output began"));
        }
        return 0;
    }

    /** What the check found wrong over all levels (warm-ups included), or null when it passed. */
    private String checkFailure(List<ClosedLoop.Level> levels) {
        int errors = 0;
        int before = 0;
        for (ClosedLoop.Level l : levels) {
            errors += l.errors();
            before += l.errorsBeforeOutput();
        }
        if (check == Check.ANY && errors > 0) {
            return errors + (errors == 1 ? " request" : " requests") + " failed (" + before + " before any output)";
        }
        if (check == Check.UNSTARTED && before > 0) {
            return before + (before == 1 ? " request" : " requests") + " failed before any output arrived";
        }
        return null;
    }

    private void validate() {
        for (int c : concurrency) {
            if (c < 1) {
                throw new ParameterException(spec.commandLine(), "--concurrency levels must be at least 1, got " + c);
            }
        }
        if (amount != null && amount.requests != null && amount.requests < 1) {
            throw new ParameterException(spec.commandLine(), "--requests-per-level must be at least 1, got " + amount.requests);
        }
        if (amount != null && amount.seconds != null && !(amount.seconds > 0)) {
            throw new ParameterException(spec.commandLine(), "--duration must be positive, got " + amount.seconds);
        }
        if (amount != null && amount.seconds != null && frontendOverhead) {
            throw new ParameterException(spec.commandLine(), "--frontend-overhead takes --requests-per-level, not --duration");
        }
        if (maxNewTokens != null && maxNewTokens < 1) {
            throw new ParameterException(spec.commandLine(), "--max-new-tokens must be at least 1, got " + maxNewTokens);
        }
        if (warmup < 0) {
            throw new ParameterException(spec.commandLine(), "--warmup must not be negative, got " + warmup);
        }
        if (!(timeoutSeconds > 0)) {
            throw new ParameterException(spec.commandLine(), "--timeout must be positive, got " + timeoutSeconds);
        }
        if (prompt.isEmpty()) {
            throw new ParameterException(spec.commandLine(), "--prompt must not be empty");
        }
        if (frontendOverhead && (stream || check != null)) {
            throw new ParameterException(spec.commandLine(), "--frontend-overhead takes neither --stream nor --check");
        }
        if (check == Check.UNSTARTED && !stream) {
            throw new ParameterException(spec.commandLine(), "--check unstarted needs --stream (a request's output starts"
                    + " before its end only when streamed)");
        }
        if (frontendOverhead && api != null && api != Api.GRPC) {
            throw new ParameterException(spec.commandLine(), "--frontend-overhead measures gRPC; leave out --api " + api);
        }
        if (!frontendOverhead && replica != null) {
            throw new ParameterException(spec.commandLine(), "--replica goes with --frontend-overhead");
        }
        if (target.url != null) {
            String scheme = target.url.getScheme();
            if (!"http".equals(scheme) && !"https".equals(scheme) || target.url.getHost() == null) {
                throw new ParameterException(spec.commandLine(), "--url must be an http:// address with a host, got " + target.url);
            }
        }
    }

    // ---- where to send requests

    private Resolved resolve() {
        Registry registry = Registry.fromEnvironment();
        if (target.deployment != null) {
            RegistryEntry e = registry.find(target.deployment).orElseThrow(() -> MiiException.notFound(
                    "no deployment named '" + target.deployment + "' is running on this host (see 'mii list')"));
            if (!e.ready()) {
                System.err.println("warning: deployment " + e.name() + " is not ready yet; requests may fail until it is");
            }
            return of(e, null);
        }
        if (target.url != null) {
            URI base = target.url;
            int port = base.getPort() >= 0 ? base.getPort() : "https".equals(base.getScheme()) ? 443 : 80;
            Optional<RegistryEntry> e = local(base.getHost()) ? registry.list().stream()
                    .filter(x -> x.restfulApiPort() != null && x.restfulApiPort() == port).findFirst() : Optional.empty();
            return e.map(x -> of(x, base)).orElseGet(() -> new Resolved(name, base, null, null, List.of(), 0));
        }
        int colon = target.grpc.lastIndexOf(':');
        String host;
        int port;
        try {
            host = target.grpc.substring(0, colon);
            port = Integer.parseInt(target.grpc.substring(colon + 1));
        } catch (RuntimeException x) {
            throw new ParameterException(spec.commandLine(), "--grpc must be HOST:PORT, got '" + target.grpc + "'");
        }
        Optional<RegistryEntry> e = local(host) ? registry.list().stream().filter(x -> x.port() == port).findFirst()
                : Optional.empty();
        if (e.isPresent()) {
            Resolved f = of(e.get(), null);
            return new Resolved(f.deployment(), f.http(), host, port, f.replicaPorts(), f.replicas());
        }
        return new Resolved(name, null, host, port, List.of(), 0);
    }

    private Resolved of(RegistryEntry e, URI url) {
        URI http = url != null ? url : e.restfulApiPort() == null ? null
                : URI.create("http://" + hostForUri(e.connectHost()) + ":" + e.restfulApiPort());
        return new Resolved(name != null ? name : e.name(), http, e.connectHost(), e.port(), e.replicaPorts(), e.replicas());
    }

    private static String hostForUri(String host) {
        return host.contains(":") ? "[" + host + "]" : host;
    }

    /** Whether a host name is this machine (so that this host's registry describes what listens there). */
    private static boolean local(String host) {
        try {
            InetAddress a = InetAddress.getByName(host.startsWith("[") ? host.substring(1, host.length() - 1) : host);
            return a.isLoopbackAddress() || a.isAnyLocalAddress() || java.net.NetworkInterface.getByInetAddress(a) != null;
        } catch (UnknownHostException | java.net.SocketException e) {
            return false;
        }
    }

    private Api api(Resolved r) {
        if (api != null) {
            return api;
        }
        return r.http() != null ? Api.OPENAI : Api.GRPC;
    }

    private LoadClient client(Api a, Resolved r, int tokens, Duration timeout) {
        return switch (a) {
            case OPENAI -> stream ? SseLoadClient.openAi(needHttp(r, a), prompt, tokens, apiKey, timeout)
                    : HttpLoadClient.openAi(needHttp(r, a), prompt, tokens, apiKey, timeout);
            case MII -> {
                URI http = needHttp(r, a);
                if (r.deployment() == null) {
                    throw MiiException.invalid("--api mii needs the deployment's name for POST /mii/NAME: give --name"
                            + " (the registry of this host has no deployment on " + http + ")");
                }
                yield stream ? SseLoadClient.mii(http, r.deployment(), prompt, tokens, apiKey, timeout)
                        : HttpLoadClient.mii(http, r.deployment(), prompt, tokens, apiKey, timeout);
            }
            case GRPC -> {
                if (r.grpcPort() == null) {
                    throw MiiException.invalid("--api grpc needs the load balancer's gRPC port: give --grpc HOST:PORT or"
                            + " --deployment NAME (the registry of this host has no deployment on " + r.http() + ")");
                }
                yield new GrpcLoadClient(r.grpcHost(), r.grpcPort(), prompt, tokens, timeout, stream, apiKey);
            }
        };
    }

    private static URI needHttp(Resolved r, Api a) {
        if (r.http() == null) {
            throw MiiException.invalid("--api " + a + " needs the deployment's HTTP front end: give --url, or use a"
                    + " deployment served with --enable-restful-api");
        }
        return r.http();
    }

    // ---- closed-loop load

    private List<ClosedLoop.Level> load(Resolved r, Duration timeout, String date, PrintStream table, ObjectNode doc) {
        Api a = api(r);
        int tokens = maxNewTokens != null ? maxNewTokens : 16;
        try (LoadClient client = client(a, r, tokens, timeout)) {
            table.println("load-bench " + a + ": " + client.describe() + deploymentNote(r));
            table.println("max_new_tokens " + tokens + " (greedy, ignore_eos" + (stream ? ", streamed" : "")
                    + "), prompt \"" + prompt + "\", " + (amount != null && amount.seconds != null ? String.format(Locale.ROOT, "%.1f s per level", amount.seconds)
                    : amount != null ? amount.requests + " requests per level" : "4 requests per client (at least 32) per level")
                    + ", warm-up " + warmup + (warmup > 0 ? " + 1 per client per level" : "") + ", " + date);
            doc.put("api", a.toString());
            doc.put("target", client.describe());
            doc.put("max_new_tokens", tokens);
            doc.put("prompt", prompt);
            doc.put("warmup", warmup);
            doc.put("stream", stream);
            if (amount != null && amount.seconds != null) {
                doc.put("duration_s", amount.seconds);
            } else if (amount != null) {
                doc.put("requests_per_level", amount.requests);
            }
            // Warm-up requests are not measured, but a check covers them too.
            List<ClosedLoop.Level> checked = new ArrayList<>();
            if (warmup > 0) {
                checked.add(warmUp(client, Math.min(4, warmup), warmup, table));
            }
            table.print(Report.header());
            List<ClosedLoop.Level> levels = new ArrayList<>();
            ArrayNode jsonLevels = doc.putArray("levels");
            for (int c : concurrency) {
                if (warmup > 0) {
                    checked.add(warmUp(client, c, c, table));
                }
                ClosedLoop.Level l;
                if (amount != null && amount.seconds != null) {
                    l = ClosedLoop.duration(client, c, Math.round(amount.seconds * 1e9));
                } else {
                    l = ClosedLoop.requests(client, c, amount != null ? amount.requests : Math.max(32, 4 * c));
                }
                levels.add(l);
                jsonLevels.add(Report.json(l));
                table.print(Report.row(l));
            }
            table.print(Report.streamTimes(levels));
            table.print(Report.errors(levels));
            checked.addAll(levels);
            return checked;
        }
    }

    private static ClosedLoop.Level warmUp(LoadClient client, int concurrency, int requests, PrintStream table) {
        ClosedLoop.Level w = ClosedLoop.requests(client, concurrency, requests);
        if (w.errors() > 0) {
            String first = w.errorKinds().keySet().stream().findFirst().orElse("?");
            table.println("warning: " + w.errors() + " of " + w.requests() + " warm-up requests to " + client.describe()
                    + " failed (" + first + ")");
        }
        return w;
    }

    private static String deploymentNote(Resolved r) {
        if (r.deployment() == null) {
            return "";
        }
        return " (deployment " + r.deployment() + (r.replicas() > 0 ? ", " + r.replicas() + (r.replicas() == 1
                ? " replica" : " replicas") : "") + ")";
    }

    // ---- the load balancer's added latency

    private void overhead(Resolved r, Duration timeout, String date, PrintStream table, ObjectNode doc) {
        if (r.grpcPort() == null) {
            throw MiiException.invalid("--frontend-overhead needs the deployment's gRPC port: give --grpc HOST:PORT or"
                    + " --deployment NAME (the registry of this host has no deployment on " + r.http() + ")");
        }
        String replicaHost = r.grpcHost();
        int replicaPort;
        String how;
        // Replicas started by 'mii serve' require their deployment's own key, recorded in this host's registry;
        // replicas found by discovery are front ends behind the deployment's API key.
        String replicaKey = (r.deployment() != null ? Registry.fromEnvironment().replicaKey(r.deployment())
                : Optional.<String>empty()).orElse(apiKey);
        if (replica != null) {
            int colon = replica.lastIndexOf(':');
            try {
                replicaHost = replica.substring(0, colon);
                replicaPort = Integer.parseInt(replica.substring(colon + 1));
            } catch (RuntimeException x) {
                throw new ParameterException(spec.commandLine(), "--replica must be HOST:PORT, got '" + replica + "'");
            }
            how = "given";
        } else if (!r.replicaPorts().isEmpty()) {
            replicaPort = r.replicaPorts().getFirst();
            how = "replica 0 of " + r.replicas() + ", from the registry";
        } else {
            replicaPort = r.grpcPort() + 1;
            how = "assumed: the port after the load balancer's, as 'mii serve' assigns them";
        }
        int tokens = maxNewTokens != null ? maxNewTokens : 1;
        int requests = amount != null && amount.requests != null ? amount.requests : 200;
        String directAt = replicaHost + ":" + replicaPort;
        String frontAt = r.grpcHost() + ":" + r.grpcPort();
        try (LoadClient direct = new GrpcLoadClient(replicaHost, replicaPort, prompt, tokens, timeout, false, replicaKey);
             LoadClient front = new GrpcLoadClient(r.grpcHost(), r.grpcPort(), prompt, tokens, timeout, false, apiKey)) {
            table.println("frontend overhead (gRPC GeneratorReply, concurrency 1): " + requests + " requests to each of "
                    + directAt + " (" + how + ") and " + frontAt + " (load balancer), interleaved" + deploymentNote(r));
            table.println("max_new_tokens " + tokens + " (greedy, ignore_eos), prompt \"" + prompt + "\", warm-up "
                    + warmup + " per target, " + date);
            if (warmup > 0) {
                warmUp(direct, 1, warmup, table);
                warmUp(front, 1, warmup, table);
            }
            ClosedLoop.Overhead o = ClosedLoop.overhead(direct, front, requests);
            table.print(Report.table(o, "replica " + directAt, "frontend " + frontAt));
            doc.put("mode", "frontend_overhead");
            doc.put("direct_target", directAt);
            doc.put("frontend_target", frontAt);
            doc.put("max_new_tokens", tokens);
            doc.put("prompt", prompt);
            doc.put("warmup", warmup);
            doc.setAll(Report.json(o));
        }
    }
}
