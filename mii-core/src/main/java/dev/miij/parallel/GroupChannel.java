package dev.miij.parallel;

/**
 * What a {@link CollectiveProvider} may use of the group it builds a collective for: the rank, the
 * size, and a broadcast of a few bytes from rank 0 (how NCCL's unique id reaches the other ranks).
 * Every rank calls {@link #broadcast} at the same point, in the same order.
 */
public interface GroupChannel {

    int rank();

    int size();

    /**
     * Rank 0's {@code data}, on every rank: rank 0 passes the bytes and gets them back; the other
     * ranks pass anything (null) and get rank 0's.
     */
    byte[] broadcast(byte[] data);
}
