package dev.miij.backend;

/**
 * One forward step's input: the new tokens of several sequences laid end to end, as the engine's
 * scheduler built it. It is the only thing that crosses from the engine to a backend.
 *
 * <p>Sequence {@code s} contributes rows {@code [seqStarts[s], seqStarts[s+1])}. Its tokens sit at
 * positions {@code contextLens[s] - (number of its rows)} onward; after this step it has
 * {@code contextLens[s]} tokens in the KV cache, found through {@code blockTables[s]}.
 *
 * @param tokens      token ids, one per row
 * @param positions   absolute position of each row's token in its sequence
 * @param slots       KV-cache slot each row's key/value is written to ({@code block * blockSize + offset})
 * @param seqStarts   numSeqs + 1 row offsets
 * @param contextLens tokens of each sequence in the cache once this step has written its rows
 * @param blockTables each sequence's KV blocks in order
 * @param logitRows   rows whose next-token logits are wanted, in the order results are returned
 *                    (usually each sequence's last row, and only when its prompt is complete)
 */
public record RaggedBatch(int[] tokens, int[] positions, int[] slots, int[] seqStarts, int[] contextLens,
                          int[][] blockTables, int[] logitRows) {

    public int numRows() {
        return tokens.length;
    }

    public int numSeqs() {
        return seqStarts.length - 1;
    }

    /** Validates the internal consistency of the batch (cheap; run by backends in debug and by tests). */
    public void check(int blockSize) {
        int rows = tokens.length;
        if (positions.length != rows || slots.length != rows || seqStarts[0] != 0 || seqStarts[numSeqs()] != rows
                || contextLens.length != numSeqs() || blockTables.length != numSeqs()) {
            throw new IllegalStateException("inconsistent ragged batch");
        }
        for (int s = 0; s < numSeqs(); s++) {
            int n = seqStarts[s + 1] - seqStarts[s];
            if (n <= 0 || contextLens[s] < n || (long) blockTables[s].length * blockSize < contextLens[s]) {
                throw new IllegalStateException("sequence " + s + " of the batch is inconsistent");
            }
        }
    }
}
