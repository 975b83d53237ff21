package dev.miij;

import dev.miij.engine.StreamListener;
import java.util.List;
import java.util.concurrent.Flow;

/**
 * A handle on a persistent deployment (MII's {@code mii.client}): generate from any process on the
 * host, stream, and shut the deployment down.
 *
 * <pre>{@code
 * Client client = Mii.serve("path/to/model", DeploymentOptions.defaults().withReplicaNum(2));
 * List<Response> out = client.generate(List.of("DeepSpeed is"), GenerationOptions.builder().maxNewTokens(32).build());
 * client.terminateServer();
 * }</pre>
 */
public interface Client extends AutoCloseable {

    String deploymentName();

    List<Response> generate(List<String> prompts, GenerationOptions options);

    /**
     * Streams one prompt's text to {@code listener}, as {@link Pipeline#stream} does; the generation's
     * future completes with the full response, and its cancel stops the request on the deployment.
     */
    Generation stream(String prompt, GenerationOptions options, StreamListener listener);

    /**
     * The same stream as a {@link Flow.Publisher} of text pieces, for consumers that pace it: a
     * subscriber's demand becomes gRPC flow control, so a slow reader holds the deployment back
     * instead of buffering the text.
     */
    Flow.Publisher<String> streamPublisher(String prompt, GenerationOptions options);

    /** Stops every process of the deployment after draining in-flight requests. */
    void terminateServer();

    /** Closes this client's connection (the deployment keeps running). */
    @Override
    void close();
}
