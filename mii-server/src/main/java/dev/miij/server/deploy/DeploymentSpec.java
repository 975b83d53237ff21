package dev.miij.server.deploy;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.miij.DeploymentOptions;
import dev.miij.MiiException;
import dev.miij.engine.EngineConfig;
import dev.miij.model.HfHub;
import java.nio.file.Path;
import java.util.Locale;
import java.util.regex.Pattern;

/**
 * Everything a deployment's processes need to know, resolved once by whoever starts it and handed to
 * the front end and replica processes as JSON in the {@value #ENV} environment variable (not on the
 * command line, where other users could read the API key).
 *
 * <pre>{@code
 * DeploymentSpec spec = DeploymentSpec.of("models/kjv-demo", DeploymentOptions.defaults());   // name "kjv-demo"
 * processBuilder.environment().put(DeploymentSpec.ENV, spec.withoutApiKey().toJson());
 * }</pre>
 *
 * @param name             deployment name (a file name in the registry)
 * @param model            the model as the user named it (shown by {@code mii list}, OpenAI's model name)
 * @param modelPath        the resolved local model folder
 * @param port             load balancer port; replicas use the ports after it (0: any free ports)
 * @param replicaNum       replica processes
 * @param host             interface the load balancer and the HTTP APIs listen on
 * @param enableRestfulApi also start the HTTP front end
 * @param restfulApiPort   its port
 * @param maxLength        default max_length of requests, or null
 * @param apiKey           Bearer key of the HTTP APIs, or null
 * @param engine           engine settings of each replica
 * @param device           the replicas' device ("cpu", "cuda", "cuda:N"), or null to choose automatically
 */
public record DeploymentSpec(String name, String model, String modelPath, int port, int replicaNum, String host,
                             boolean enableRestfulApi, int restfulApiPort, Integer maxLength, String apiKey,
                             EngineConfig engine, String device) {

    public static final String ENV = "MII_DEPLOYMENT_SPEC";

    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]{0,63}");
    private static final ObjectMapper JSON = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, false);

    public DeploymentSpec {
        if (!NAME.matcher(name).matches()) {
            throw MiiException.invalid("deployment_name '" + name + "' must be 1 to 64 letters, digits, '.', '_' or '-',"
                    + " starting with a letter or digit");
        }
        if (port != 0 && port + replicaNum > 65535) {
            throw MiiException.invalid("port_number " + port + " leaves no room for " + replicaNum
                    + " replica ports after it (they use the next ports)");
        }
    }

    /** Resolves the model (downloading a hub id if needed) and fills in the default name. */
    public static DeploymentSpec of(String model, DeploymentOptions o) {
        Path path = HfHub.resolve(model).toAbsolutePath().normalize();
        String name = o.deploymentName() != null && !o.deploymentName().isBlank() ? o.deploymentName() : defaultName(model);
        return new DeploymentSpec(name, model, path.toString(), o.portNumber(), o.replicaNum(), o.restfulApiHost(),
                o.enableRestfulApi(), o.restfulApiPort(), o.maxLength(), o.apiKey(), o.engine(), o.device());
    }

    /**
     * The name of a deployment of {@code model} when none is given: the model folder's or hub id's
     * last part, lower-cased ({@code models/kjv-demo} and {@code org/KJV-Demo@main} give {@code kjv-demo}).
     */
    public static String defaultName(String model) {
        String m = model.replace('\\', '/');
        int at = m.lastIndexOf('@');
        if (at > m.lastIndexOf('/')) {
            m = m.substring(0, at);
        }
        while (m.endsWith("/")) {
            m = m.substring(0, m.length() - 1);
        }
        String last = m.substring(m.lastIndexOf('/') + 1).toLowerCase(Locale.ROOT);
        String safe = last.replaceAll("[^a-z0-9._-]", "-").replaceAll("^[._-]+", "");
        if (safe.length() > 64) {
            safe = safe.substring(0, 64);
        }
        return safe.isEmpty() ? "mii-deployment" : safe;
    }

    /** The same spec without the API key, for processes that do not serve HTTP. */
    public DeploymentSpec withoutApiKey() {
        return new DeploymentSpec(name, model, modelPath, port, replicaNum, host, enableRestfulApi, restfulApiPort,
                maxLength, null, engine, device);
    }

    public String toJson() {
        try {
            return JSON.writeValueAsString(this);
        } catch (JsonProcessingException e) {
            throw new MiiException(MiiException.Kind.INTERNAL, "cannot write the deployment spec", e);
        }
    }

    public static DeploymentSpec fromJson(String json) {
        try {
            return JSON.readValue(json, DeploymentSpec.class);
        } catch (JsonProcessingException e) {
            throw MiiException.invalid("bad deployment spec: " + e.getOriginalMessage());
        }
    }

    /** The spec this process was started with. */
    public static DeploymentSpec fromEnvironment() {
        String json = System.getenv(ENV);
        if (json == null) {
            throw MiiException.invalid(ENV + " is not set; deployment processes are started by 'mii serve' or Mii.serve");
        }
        return fromJson(json);
    }
}
