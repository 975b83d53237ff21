package dev.miij.cuda.nccl;

import dev.miij.MiiException;
import dev.miij.backend.Tensor;
import dev.miij.cuda.CudaBackend;
import dev.miij.parallel.Collective;
import dev.miij.parallel.GroupChannel;
import java.lang.foreign.MemorySegment;
import java.util.logging.Logger;

/**
 * The collectives of one rank through NCCL, on the CUDA backend's tensors in device memory (BF16)
 * and on its stream, in order with its kernels. Rank 0 makes the communicator's unique id and the
 * group's channel (its TCP rendezvous) carries it to the others. When the group fails, the
 * communicator is aborted, so that no rank waits on the GPU for one that is gone.
 *
 * <p>{@link #gatherColumns} expects each rank to hold the columns {@code [r * C / N, (r + 1) * C / N)}
 * of the {@code C} gathered ones (how {@code TensorParallel} splits a vocabulary): NCCL gathers
 * blocks of equal size, so narrower ranks' blocks are padded, and strided copies then lay the
 * blocks side by side in each row.
 */
final class NcclCollective implements Collective, AutoCloseable {

    private static final Logger LOG = Logger.getLogger(NcclCollective.class.getName());

    private final CudaBackend backend;
    private final int rank;
    private final int size;
    private final MemorySegment comm;
    private volatile boolean ended;

    NcclCollective(CudaBackend backend, GroupChannel channel) {
        this.backend = backend;
        this.rank = channel.rank();
        this.size = channel.size();
        // Every rank opens NCCL first: a rank without it fails here, naming itself, before any rank
        // waits inside ncclCommInitRank for it.
        String version = Nccl.version();
        channel.barrier();
        byte[] id = channel.broadcast(rank == 0 ? Nccl.uniqueId() : null);
        MemorySegment[] made = new MemorySegment[1];
        backend.enqueueExternal(stream -> made[0] = Nccl.commInitRank(size, id, rank));
        this.comm = made[0];
        channel.onFailure(this::abort);
        LOG.info("NCCL " + version + ": rank " + rank + " of " + size + " on " + backend.deviceName());
    }

    @Override
    public int rank() {
        return rank;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public void allReduceSum(Tensor x) {
        long p = CudaBackend.address(x);
        long n = (long) x.rows() * x.cols();
        backend.enqueueExternal(stream -> {
            live();
            Nccl.allReduce(p, p, n, Nccl.BFLOAT16, Nccl.SUM, comm, stream);
        });
    }

    @Override
    public void gatherColumns(Tensor local, Tensor out) {
        int rows = local.rows();
        int cols = out.cols();
        if (out.rows() != rows) {
            throw new IllegalArgumentException("gathering " + rows + " rows into " + out.rows());
        }
        int[] from = new int[size + 1];
        int widest = 0;
        for (int r = 0; r <= size; r++) {
            from[r] = (int) ((long) r * cols / size);
            if (r > 0) {
                widest = Math.max(widest, from[r] - from[r - 1]);
            }
        }
        int mine = from[rank + 1] - from[rank];
        if (local.cols() != mine) {
            throw new IllegalArgumentException("rank " + rank + " holds " + local.cols() + " of " + cols
                    + " columns; NCCL's gather expects " + mine);
        }
        if (rows == 1 && cols == widest * size) { // one row, equal widths: NCCL's layout is the row itself
            long src = CudaBackend.address(local);
            long dst = CudaBackend.address(out);
            backend.enqueueExternal(stream -> {
                live();
                Nccl.allGather(src, dst, mine, Nccl.BFLOAT16, comm, stream);
            });
            return;
        }
        int w = widest;
        Tensor padded = mine == w ? local : backend.allocate(rows, w);
        Tensor blocks = backend.allocate(size * rows, w);
        long src = CudaBackend.address(local);
        long send = CudaBackend.address(padded);
        long recv = CudaBackend.address(blocks);
        long dst = CudaBackend.address(out);
        backend.enqueueExternal(stream -> {
            live();
            if (send != src) {
                DeviceCopy.copy2D(src, 2L * mine, send, 2L * w, 2L * mine, rows, stream);
            }
            Nccl.allGather(send, recv, (long) rows * w, Nccl.BFLOAT16, comm, stream);
            for (int r = 0; r < size; r++) {
                DeviceCopy.copy2D(recv + 2L * r * rows * w, 2L * w, dst + 2L * from[r], 2L * cols,
                        2L * (from[r + 1] - from[r]), rows, stream);
            }
        });
    }

    private void live() {
        if (ended) {
            throw new MiiException(MiiException.Kind.CANCELLED, "the NCCL communicator of rank " + rank
                    + " was aborted: its tensor-parallel group failed");
        }
    }

    /** The group failed: abandons whatever NCCL work waits for the other ranks. */
    private void abort() {
        synchronized (this) {
            if (ended) {
                return;
            }
            ended = true;
        }
        try {
            Nccl.commAbort(comm);
        } catch (RuntimeException e) {
            LOG.warning("aborting rank " + rank + "'s NCCL communicator: " + e.getMessage());
        }
    }

    @Override
    public void close() {
        synchronized (this) {
            if (ended) {
                return;
            }
            ended = true;
        }
        backend.enqueueExternal(stream -> Nccl.commDestroy(comm));
    }
}
