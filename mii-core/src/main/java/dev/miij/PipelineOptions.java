package dev.miij;

import dev.miij.engine.EngineConfig;

/**
 * How a pipeline runs its model: the engine's knobs and the device.
 *
 * @param engine  scheduler and KV-cache settings (FastGen's names and defaults)
 * @param backend "cpu" (the only backend in this module)
 */
public record PipelineOptions(EngineConfig engine, String backend) {

    public PipelineOptions {
        if (!"cpu".equals(backend)) {
            throw MiiException.invalid("unknown backend '" + backend + "'; available: cpu");
        }
    }

    public static PipelineOptions defaults() {
        return new PipelineOptions(EngineConfig.defaults(), "cpu");
    }

    public PipelineOptions withEngine(EngineConfig e) {
        return new PipelineOptions(e, backend);
    }
}
