package dev.miij.parallel;

import dev.miij.backend.Backend;

/**
 * A {@link Collective} over a device's own interconnect, found through {@link java.util.ServiceLoader}
 * so that the core never depends on it: mii-cuda provides NCCL's for the CUDA backend. Where no
 * provider supports a backend, a {@link ProcessGroup} on the CPU exchanges tensors over its TCP
 * connections instead.
 */
public interface CollectiveProvider {

    /** Whether {@link #create} works on {@code backend}'s tensors. Never throws. */
    boolean supports(Backend backend);

    /**
     * The collective of {@code channel.rank()} for tensors on {@code backend}. Every rank of the
     * group calls this at the same point (a provider may exchange bytes through {@code channel}).
     *
     * @throws dev.miij.MiiException when the library it needs is missing or fails, naming it
     */
    Collective create(Backend backend, GroupChannel channel);
}
