package dev.miij.server.deploy;

import dev.miij.MiiException;
import dev.miij.server.GenerationService;
import java.util.function.BooleanSupplier;

/**
 * Starts the HTTP front end (MII's REST gateway, the OpenAI-compatible API, /healthz, /metrics) of a
 * deployment over its replicas. The only place the deployment code touches the HTTP layer.
 */
final class RestfulApi {

    private RestfulApi() {
    }

    /**
     * @param service the deployment's replicas behind the load balancer
     * @param ready   whether the deployment can serve now (what /healthz reports)
     * @return what stops the HTTP server
     */
    static AutoCloseable start(GenerationService service, DeploymentSpec spec, BooleanSupplier ready) {
        // INTEGRATION POINT: call dev.miij.server.http.HttpFrontend.start(service, spec.host(),
        // spec.restfulApiPort(), spec.apiKey(), ready) here once the HTTP front end is on this branch.
        throw MiiException.unsupported("enable_restful_api needs the HTTP front end (dev.miij.server.http),"
                + " which this build does not include yet");
    }
}
