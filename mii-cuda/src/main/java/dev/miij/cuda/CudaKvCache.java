package dev.miij.cuda;

import dev.miij.backend.KvCache;

/**
 * The paged BF16 KV cache in one device allocation. Per layer, keys then values, each laid out
 * {@code [slot, kvHeads, headDim]} with slot = block * blockSize + offset, so one token's keys of a
 * layer are contiguous and a block is a contiguous range of every layer's keys and values.
 */
final class CudaKvCache implements KvCache {

    private final CudaBackend backend;
    private final long base;
    private final int layers;
    private final int numBlocks;
    private final int blockSize;
    private final long slotBytes;
    private final long halfLayerBytes;

    CudaKvCache(CudaBackend backend, long base, int layers, int kvHeads, int headDim, int numBlocks, int blockSize) {
        this.backend = backend;
        this.base = base;
        this.layers = layers;
        this.numBlocks = numBlocks;
        this.blockSize = blockSize;
        this.slotBytes = 2L * kvHeads * headDim;
        this.halfLayerBytes = slotBytes * numBlocks * blockSize;
    }

    static long bytes(int layers, int kvHeads, int headDim, int numBlocks, int blockSize) {
        return 2L * layers * numBlocks * blockSize * kvHeads * headDim * 2;
    }

    long keys(int layer) {
        return base + 2 * halfLayerBytes * layer;
    }

    long values(int layer) {
        return keys(layer) + halfLayerBytes;
    }

    @Override
    public int numBlocks() {
        return numBlocks;
    }

    @Override
    public int blockSize() {
        return blockSize;
    }

    @Override
    public void copyBlock(int from, int to) {
        long blockBytes = slotBytes * blockSize;
        for (int l = 0; l < layers; l++) {
            backend.copyOnDevice(keys(l) + to * blockBytes, keys(l) + from * blockBytes, blockBytes);
            backend.copyOnDevice(values(l) + to * blockBytes, values(l) + from * blockBytes, blockBytes);
        }
    }

    @Override
    public void close() {
        backend.free(base);
    }
}
