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
}
