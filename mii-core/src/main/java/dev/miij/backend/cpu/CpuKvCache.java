package dev.miij.backend.cpu;

import dev.miij.backend.KvCache;

/**
 * Paged FP32 KV cache on the heap: per layer one key and one value array, each block one
 * contiguous run. Values are {@code [block][offset in block][kv head][head dim]}, so a token's
 * value vector is contiguous. Keys are {@code [block][kv head][head dim][offset in block]}: for one
 * dimension, a block's keys lie side by side, so decode attention takes the scores of a vector's
 * worth of keys with one vector FMA per dimension (keys in vector lanes), with no horizontal sums.
 * The layout depends on the block size only, not on the vector width: the attention kernel reads
 * a block in tiles of its lane count, the last tile masked.
 */
final class CpuKvCache implements KvCache {

    final float[][] keys;
    final float[][] values;
    final int numBlocks;
    final int blockSize;
    final int kvHeads;
    final int headDim;

    CpuKvCache(int layers, int kvHeads, int headDim, int numBlocks, int blockSize) {
        long perLayer = (long) numBlocks * blockSize * kvHeads * headDim;
        if (perLayer > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("KV cache of " + numBlocks + " blocks is too large for one layer array; "
                    + "use fewer or smaller blocks");
        }
        this.keys = new float[layers][(int) perLayer];
        this.values = new float[layers][(int) perLayer];
        this.numBlocks = numBlocks;
        this.blockSize = blockSize;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
    }

    /** Offset of a slot's value vector for KV head 0 in a layer's value array (heads follow). */
    int valueOffset(int slot) {
        return slot * kvHeads * headDim;
    }

    /**
     * Offset of a slot's key for KV head {@code kvh}, dimension 0, in a layer's key array; the key's
     * dimension d is {@link #blockSize} elements further per d, and the next slot of the block is
     * the next element.
     */
    int keyOffset(int slot, int kvh) {
        int block = slot / blockSize;
        return block * blockSize * kvHeads * headDim + kvh * headDim * blockSize + slot % blockSize;
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
        int blockFloats = blockSize * kvHeads * headDim;
        for (int l = 0; l < keys.length; l++) {
            System.arraycopy(keys[l], from * blockFloats, keys[l], to * blockFloats, blockFloats);
            System.arraycopy(values[l], from * blockFloats, values[l], to * blockFloats, blockFloats);
        }
    }

    @Override
    public void close() {
        // heap memory; released when unreachable
    }
}
