package dev.miij.parallel;

import dev.miij.MiiException;
import dev.miij.arch.TransformerSpec;
import dev.miij.arch.WeightNames.Role;
import dev.miij.model.TensorData;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Which part of each weight one rank of a tensor-parallel group holds (Megatron-LM's layout, as
 * vLLM and DeepSpeed use it):
 *
 * <ul>
 *   <li>q, k, v and gate, up are split by output rows ("column-parallel"): each rank computes its own
 *       attention heads and its own slice of the MLP's intermediate width, with no communication.
 *       Query heads are divided evenly; KV heads too when there are at least as many as ranks,
 *       otherwise each rank holds a copy of the one KV head its query heads use (ranks
 *       {@code size / kvHeads} apart share it).</li>
 *   <li>o and down are split by input columns ("row-parallel"): each rank's output is a partial sum
 *       of the full one, completed by an all-reduce. Their biases are added by rank 0 only, so that
 *       the sum holds them once.</li>
 *   <li>The embedding and the LM head are split by vocabulary rows: a rank looks up only the tokens
 *       in its slice (zero rows elsewhere, summed by an all-reduce) and computes only its slice of
 *       the logits (gathered along columns). A bias of the LM head is sliced with it.</li>
 *   <li>Everything else (norms, learned positions, OPT's projections) is replicated.</li>
 * </ul>
 *
 * <p>Row slices are views of the memory-mapped checkpoint ({@link TensorData#sliceRows}): a rank
 * reads only its own pages. Column slices of a row-major {@code [out, in]} matrix are strided, so
 * {@link #columns} copies them into native memory at load, once. Mixture-of-experts layers are not
 * covered yet (expert parallelism is a different plan).
 *
 * @param rank this rank, 0 to size - 1
 * @param size ranks in the group (1: no parallelism; every slice is the whole tensor)
 */
public record TensorParallel(int rank, int size, TransformerSpec spec) {

    /** How a role's matrix is divided among ranks. */
    public enum Split {
        /** By output rows (attention heads, intermediate width, vocabulary). */
        ROWS,
        /** By input columns; the partial outputs are summed across ranks. */
        COLUMNS,
        /** Every rank holds all of it. */
        REPLICATED
    }

    public TensorParallel {
        if (size < 1 || rank < 0 || rank >= size) {
            throw new IllegalArgumentException("rank " + rank + " of a group of " + size);
        }
        if (size > 1) {
            check(spec, size);
        }
    }

    /** The trivial plan: one rank holding everything. */
    public static TensorParallel single(TransformerSpec spec) {
        return new TensorParallel(0, 1, spec);
    }

    private static void check(TransformerSpec spec, int size) {
        String why = null;
        if (spec.isMoe()) {
            why = "mixture-of-experts layers are not split yet";
        } else if (spec.numHeads() % size != 0) {
            why = spec.numHeads() + " attention heads do not divide among " + size + " ranks";
        } else if (spec.numKvHeads() % size != 0 && size % spec.numKvHeads() != 0) {
            why = spec.numKvHeads() + " KV heads neither divide among " + size + " ranks nor divide it";
        } else if (spec.intermediateSize() % size != 0) {
            why = "an MLP width of " + spec.intermediateSize() + " does not divide among " + size + " ranks";
        } else if (spec.vocabSize() < size) {
            why = "a vocabulary of " + spec.vocabSize() + " is smaller than the group";
        }
        if (why != null) {
            throw MiiException.unsupported("tensor parallelism over " + size + " ranks for this " + spec.modelType()
                    + " model: " + why);
        }
    }

    /** How {@code role}'s weight is divided. */
    public static Split split(Role role) {
        return switch (role) {
            case EMBED, LM_HEAD, Q, K, V, QKV, GATE, UP, GATE_UP -> Split.ROWS;
            case O, DOWN -> Split.COLUMNS;
            case EXPERT_GATE, EXPERT_UP, EXPERT_DOWN, SHARED_GATE, SHARED_UP, SHARED_DOWN, SHARED_EXPERT_GATE, ROUTER ->
                    throw new IllegalArgumentException(role + " belongs to a mixture-of-experts layer, which is not split");
            default -> Split.REPLICATED;
        };
    }

    public boolean isParallel() {
        return size > 1;
    }

    /** Query heads on this rank. */
    public int heads() {
        return spec.numHeads() / size;
    }

    public int firstHead() {
        return rank * heads();
    }

    /** KV heads on this rank: an even share, or one replicated head when there are fewer than ranks. */
    public int kvHeads() {
        return spec.numKvHeads() >= size ? spec.numKvHeads() / size : 1;
    }

    /** The first KV head on this rank (the one its query heads use when KV heads are replicated). */
    public int firstKvHead() {
        return spec.numKvHeads() >= size ? rank * kvHeads() : rank / (size / spec.numKvHeads());
    }

    public int qDim() {
        return heads() * spec.headDim();
    }

    public int kvDim() {
        return kvHeads() * spec.headDim();
    }

    /** This rank's share of an MLP width. */
    public int width(int full) {
        return full / size;
    }

    /** The first vocabulary row of this rank; slices differ by at most one row when the vocabulary does not divide. */
    public int vocabFrom() {
        return vocabStart(rank);
    }

    public int vocabTo() {
        return vocabStart(rank + 1);
    }

    public int vocabRows() {
        return vocabTo() - vocabFrom();
    }

    private int vocabStart(int r) {
        return (int) ((long) r * spec.vocabSize() / size);
    }

    /** Rows [from, to) of the q projection's output on this rank. */
    public int[] qRange() {
        return new int[] {firstHead() * spec.headDim(), (firstHead() + heads()) * spec.headDim()};
    }

    /** Rows [from, to) of the k or v projection's output on this rank. */
    public int[] kvRange() {
        return new int[] {firstKvHead() * spec.headDim(), (firstKvHead() + kvHeads()) * spec.headDim()};
    }

    /** Rows [from, to) of an MLP width {@code full} on this rank. */
    public int[] widthRange(int full) {
        return new int[] {rank * width(full), (rank + 1) * width(full)};
    }

    /** This rank's q rows of a matrix or bias laid out as the full q projection. */
    public TensorData qRows(TensorData t) {
        return rows(t, qRange());
    }

    public TensorData kvRows(TensorData t) {
        return rows(t, kvRange());
    }

    /** This rank's rows of an MLP matrix or bias of output width {@code t.rows()}. */
    public TensorData widthRows(TensorData t) {
        return rows(t, widthRange(t.rows()));
    }

    /** This rank's vocabulary rows of the embedding, the LM head or its bias. */
    public TensorData vocabRows(TensorData t) {
        return rows(t, new int[] {vocabFrom(), vocabTo()});
    }

    /** This rank's input columns of the attention output projection ({@code [hidden, qDim]}). */
    public TensorData oColumns(TensorData t) {
        return columns(t, qRange());
    }

    /** This rank's input columns of the MLP's down projection ({@code [hidden, width]}). */
    public TensorData downColumns(TensorData t) {
        return columns(t, widthRange(t.cols()));
    }

    /** The entries of {@code rows} (indices into a fused tensor) that this rank's q rows select. */
    public int[] qIndices(int[] rows) {
        return java.util.Arrays.copyOfRange(rows, qRange()[0], qRange()[1]);
    }

    public int[] kvIndices(int[] rows) {
        return java.util.Arrays.copyOfRange(rows, kvRange()[0], kvRange()[1]);
    }

    /** A bias of a row-parallel projection: on rank 0 only, so the all-reduce adds it once. */
    public <T> T onFirstRank(T bias) {
        return rank == 0 ? bias : null;
    }

    /** The ALiBi slopes of this rank's query heads (null stays null). */
    public float[] alibiSlopes(float[] all) {
        return all == null ? null : java.util.Arrays.copyOfRange(all, firstHead(), firstHead() + heads());
    }

    private TensorData rows(TensorData t, int[] range) {
        if (size == 1) {
            return t;
        }
        return t.sliceRows(range[0], range[1]);
    }

    /**
     * Columns [from, to) of a 2-D tensor. The rows of the slice are not contiguous in the checkpoint,
     * and the backends take a weight as one dense {@code [out, in]} block, so this copies them into
     * native memory (the file's pages of other ranks' columns are read too, once, at load).
     */
    private TensorData columns(TensorData t, int[] range) {
        if (size == 1) {
            return t;
        }
        int rows = t.rows();
        int e = t.dtype().bytes();
        long srcRow = (long) t.cols() * e;
        long dstRow = (long) (range[1] - range[0]) * e;
        MemorySegment out = Arena.ofAuto().allocate(rows * dstRow, 16);
        for (int r = 0; r < rows; r++) {
            MemorySegment.copy(t.data(), r * srcRow + (long) range[0] * e, out, r * dstRow, dstRow);
        }
        return new TensorData(t.name() + "[:, " + range[0] + ":" + range[1] + "]", t.dtype(),
                new long[] {rows, range[1] - range[0]}, out);
    }
}
