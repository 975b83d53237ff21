package dev.miij;

import dev.miij.model.HfHub;
import dev.miij.model.ModelFolder;

/**
 * Entry point of MII-J, mirroring DeepSpeed-MII's {@code mii.pipeline}.
 *
 * <pre>{@code
 * try (Pipeline pipe = Mii.pipeline("meta-llama/Llama-3.2-1B")) {   // or a local folder
 *     System.out.println(pipe.generate("DeepSpeed is", GenerationOptions.builder().maxNewTokens(64).build()));
 * }
 * }</pre>
 */
public final class Mii {

    private Mii() {
    }

    /**
     * Loads a model for in-process generation. {@code model} is a local Hugging Face model folder or
     * a hub id ({@code org/name}) resolved through the Hugging Face cache, downloaded when absent.
     */
    public static Pipeline pipeline(String model) {
        return pipeline(model, PipelineOptions.defaults());
    }

    public static Pipeline pipeline(String model, PipelineOptions options) {
        return Pipeline.open(ModelFolder.open(HfHub.resolve(model)), options);
    }

    /**
     * Starts a persistent deployment (gRPC load balancer, replicas, optional REST and OpenAI APIs)
     * that outlives this program, and returns a client for it. Needs mii-server on the class path.
     */
    public static Client serve(String model, DeploymentOptions options) {
        return provider().serve(model, options);
    }

    /** Connects to a running deployment of this host by its deployment name. */
    public static Client client(String deploymentName) {
        return provider().client(deploymentName);
    }

    private static dev.miij.spi.DeploymentProvider provider() {
        return java.util.ServiceLoader.load(dev.miij.spi.DeploymentProvider.class).findFirst()
                .orElseThrow(() -> MiiException.unsupported(
                        "persistent deployments need the mii-server module on the class path"));
    }
}
