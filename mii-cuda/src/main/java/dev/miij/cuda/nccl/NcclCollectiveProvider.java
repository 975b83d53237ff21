package dev.miij.cuda.nccl;

import dev.miij.backend.Backend;
import dev.miij.cuda.CudaBackend;
import dev.miij.parallel.Collective;
import dev.miij.parallel.CollectiveProvider;
import dev.miij.parallel.GroupChannel;

/** NCCL's collectives for the CUDA backend, wherever this module is on the class path. */
public final class NcclCollectiveProvider implements CollectiveProvider {

    @Override
    public boolean supports(Backend backend) {
        return backend instanceof CudaBackend;
    }

    /** @throws dev.miij.MiiException when libnccl cannot be found or a call fails, naming it */
    @Override
    public Collective create(Backend backend, GroupChannel channel) {
        return new NcclCollective((CudaBackend) backend, channel);
    }
}
