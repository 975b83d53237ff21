package dev.miij.parallel;

/**
 * What a {@link CollectiveProvider} may use of the group it builds a collective for: the rank, the
 * size, a barrier, a broadcast of a few bytes from rank 0 (how NCCL's unique id reaches the other
 * ranks), and word of the group's failure (to abort work a dead rank will never meet). Every rank
 * calls {@link #barrier} and {@link #broadcast} at the same points, in the same order.
 */
public interface GroupChannel {

    int rank();

    int size();

    /**
     * Rank 0's {@code data}, on every rank: rank 0 passes the bytes and gets them back; the other
     * ranks pass anything (null) and get rank 0's.
     */
    byte[] broadcast(byte[] data);

    /** Returns once every rank has called it (or throws, naming the rank, when the group fails meanwhile). */
    void barrier();

    /** Runs {@code action} when the group fails (at once if it has), on whichever thread notices. */
    void onFailure(Runnable action);
}
