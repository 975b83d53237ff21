package dev.miij.model;

import java.util.Set;

/**
 * The tensors of a checkpoint by name (Hugging Face names, e.g. {@code model.layers.0.mlp.up_proj.weight}).
 * Implementations keep files memory-mapped until {@link #close()}.
 */
public interface WeightSource extends AutoCloseable {

    Set<String> names();

    default boolean contains(String name) {
        return names().contains(name);
    }

    /**
     * The tensor called {@code name}.
     *
     * @throws dev.miij.MiiException of kind CORRUPT when the checkpoint lacks it
     */
    TensorData get(String name);

    @Override
    void close();
}
