package dev.miij.parallel;

import dev.miij.backend.Tensor;

/**
 * The communication a tensor-parallel forward pass needs between its ranks: every rank calls each
 * operation in the same order with tensors of the same shape. {@link #SINGLE} (one rank) does
 * nothing; {@link InProcessGroup} runs ranks as threads of one process (for tests on the CPU); a
 * {@link ProcessGroup} gives ranks that are processes theirs ({@link ProcessGroup#collective}): over
 * its TCP connections on the CPU, through a {@link CollectiveProvider} (NCCL) on a GPU.
 */
public interface Collective {

    /** The collective of a group of one: every operation is the identity. */
    Collective SINGLE = new Collective() {
        @Override
        public int rank() {
            return 0;
        }

        @Override
        public int size() {
            return 1;
        }

        @Override
        public void allReduceSum(Tensor x) {
        }

        @Override
        public void gatherColumns(Tensor local, Tensor out) {
            throw new IllegalStateException("a group of one has nothing to gather; use the local tensor");
        }
    };

    int rank();

    int size();

    /** Replaces {@code x} on every rank by the element-wise sum of all ranks' {@code x}. */
    void allReduceSum(Tensor x);

    /**
     * Concatenates every rank's {@code local} along columns, in rank order, into {@code out} on
     * every rank ({@code local}s have the same rows; {@code out.cols()} is the sum of their columns).
     */
    void gatherColumns(Tensor local, Tensor out);
}
