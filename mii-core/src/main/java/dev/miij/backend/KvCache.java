package dev.miij.backend;

/**
 * The paged key/value cache of one model: {@code numBlocks} blocks of {@code blockSize} token slots,
 * each slot holding every layer's keys and values for one token. Token slot {@code s} lives in
 * block {@code s / blockSize} at offset {@code s % blockSize}. Which blocks belong to which sequence
 * is the engine's business (its block tables travel in each {@link RaggedBatch}).
 */
public interface KvCache extends AutoCloseable {

    int numBlocks();

    int blockSize();

    /** Copies a whole block's contents (every layer) onto another block (copy-on-write of shared blocks). */
    void copyBlock(int from, int to);

    @Override
    void close();
}
