package dev.miij.spi;

import dev.miij.Client;
import dev.miij.DeploymentOptions;

/**
 * Implemented by the server module and found through {@link java.util.ServiceLoader}, so that
 * {@link dev.miij.Mii#serve} and {@link dev.miij.Mii#client} work whenever mii-server is on the
 * class path while the core stays free of gRPC and HTTP.
 */
public interface DeploymentProvider {

    /** Starts a deployment whose processes outlive the caller and returns a client connected to it. */
    Client serve(String model, DeploymentOptions options);

    /** Connects to a running deployment of this host by name. */
    Client client(String deploymentName);
}
