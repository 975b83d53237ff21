package dev.miij.backend.cpu;

import dev.miij.backend.KvCache;

/**
 * Paged FP32 KV cache on the heap: per layer one key and one value array laid out as
 * {@code [block][offset in block][kv head][head dim]}, so one token's heads are contiguous and a
 * block is one contiguous run.
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

    /** Offset of a slot's first element in a layer array. */
    int slotOffset(int slot) {
        return slot * kvHeads * headDim;
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
