package dev.miij.server.deploy;

import dev.miij.server.GenerationService;
import dev.miij.server.http.HttpFrontend;
import dev.miij.server.http.HttpLimits;
import java.util.function.BooleanSupplier;

/**
 * Starts a deployment's HTTP front end (MII's REST gateway, the OpenAI-compatible API, /healthz,
 * /metrics) over its replicas: the one place the deployment code starts the HTTP layer.
 */
final class RestfulApi {

    private RestfulApi() {
    }

    /**
     * @param service the deployment's replicas behind the load balancer
     * @param limits  bounds of the HTTP front end
     * @param ready   whether the deployment can serve now (what /healthz reports)
     */
    static HttpFrontend start(GenerationService service, DeploymentSpec spec, HttpLimits limits, BooleanSupplier ready) {
        HttpFrontend http = HttpFrontend.start(service, spec.host(), spec.restfulApiPort(), spec.apiKey(), null, limits);
        http.setReadiness(ready);
        return http;
    }
}
