package dev.miij.backend.cpu;

import dev.miij.arch.TransformerSpec.Activation;
import dev.miij.backend.Backend;
import dev.miij.backend.KvCache;
import dev.miij.backend.RaggedBatch;
import dev.miij.backend.Tensor;
import dev.miij.backend.Weight;
import dev.miij.model.TensorData;

/**
 * The CPU backend: weights stay in the memory-mapped checkpoint in their stored type and are
 * widened to FP32 inside the kernels; activations and the KV cache are FP32 on the heap.
 */
public final class CpuBackend implements Backend {

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public Weight weight(TensorData matrix) {
        return new CpuWeight(WeightMatrix.of(matrix));
    }

    @Override
    public Tensor parameter(TensorData vector) {
        float[] data = vector.toFloatArray();
        return new CpuTensor(data, 1, data.length);
    }

    @Override
    public Tensor allocate(int rows, int cols) {
        return new CpuTensor(new float[rows * cols], rows, cols);
    }

    @Override
    public Tensor upload(float[] data, int rows, int cols) {
        return new CpuTensor(data.clone(), rows, cols);
    }

    @Override
    public KvCache allocateKvCache(int layers, int kvHeads, int headDim, int numBlocks, int blockSize) {
        return new CpuKvCache(layers, kvHeads, headDim, numBlocks, blockSize);
    }

    @Override
    public long kvBlockBytes(int layers, int kvHeads, int headDim, int blockSize) {
        return 2L * layers * blockSize * kvHeads * headDim * Float.BYTES;
    }

    @Override
    public void embed(Weight table, int[] tokens, Tensor out) {
        WeightMatrix w = ((CpuWeight) table).matrix();
        float[] o = CpuTensor.of(out).data();
        int dim = w.inDim();
        for (int r = 0; r < tokens.length; r++) {
            int t = tokens[r];
            if (t < 0 || t >= w.outDim()) {
                throw new IllegalArgumentException("token id " + t + " outside the vocabulary of " + w.outDim());
            }
            CpuKernels.rowToFloats(w, t, o, r * dim);
        }
    }

    @Override
    public void matmul(Tensor x, Weight w, Tensor bias, Tensor out) {
        CpuTensor xt = CpuTensor.of(x);
        CpuKernels.matmul(xt.data(), xt.rows(), ((CpuWeight) w).matrix(), bias == null ? null : CpuTensor.of(bias).data(),
                CpuTensor.of(out).data());
    }

    @Override
    public void rmsNorm(Tensor x, Tensor weight, float eps, Tensor out) {
        CpuTensor xt = CpuTensor.of(x);
        CpuKernels.rmsNorm(xt.data(), xt.rows(), xt.cols(), CpuTensor.of(weight).data(), eps, CpuTensor.of(out).data());
    }

    @Override
    public void rope(Tensor x, int headDim, Tensor cos, Tensor sin) {
        CpuTensor xt = CpuTensor.of(x);
        float[] d = xt.data();
        float[] c = CpuTensor.of(cos).data();
        float[] s = CpuTensor.of(sin).data();
        int half = cos.cols();
        int heads = xt.cols() / headDim;
        for (int r = 0; r < xt.rows(); r++) {
            for (int h = 0; h < heads; h++) {
                int base = r * xt.cols() + h * headDim;
                for (int i = 0; i < half; i++) {
                    float a = d[base + i];
                    float b = d[base + i + half];
                    float ci = c[r * half + i];
                    float si = s[r * half + i];
                    d[base + i] = a * ci - b * si;
                    d[base + i + half] = b * ci + a * si;
                }
            }
        }
    }

    @Override
    public void storeKv(KvCache cache, int layer, Tensor k, Tensor v, RaggedBatch batch) {
        CpuKvCache c = (CpuKvCache) cache;
        float[] kd = CpuTensor.of(k).data();
        float[] vd = CpuTensor.of(v).data();
        int width = c.kvHeads * c.headDim;
        int[] slots = batch.slots();
        for (int r = 0; r < slots.length; r++) {
            System.arraycopy(kd, r * width, c.keys[layer], c.slotOffset(slots[r]), width);
            System.arraycopy(vd, r * width, c.values[layer], c.slotOffset(slots[r]), width);
        }
    }

    @Override
    public void attention(KvCache cache, int layer, Tensor q, RaggedBatch batch, int numHeads, int numKvHeads,
                          int headDim, int slidingWindow, float scale, Tensor out) {
        CpuKvCache c = (CpuKvCache) cache;
        float[] qd = CpuTensor.of(q).data();
        float[] od = CpuTensor.of(out).data();
        float[] keys = c.keys[layer];
        float[] values = c.values[layer];
        int rows = batch.numRows();
        int group = numHeads / numKvHeads;
        int[] rowSeq = new int[rows];
        for (int s = 0; s < batch.numSeqs(); s++) {
            for (int r = batch.seqStarts()[s]; r < batch.seqStarts()[s + 1]; r++) {
                rowSeq[r] = s;
            }
        }
        CpuParallel.run(rows * numHeads, task -> {
            int r = task / numHeads;
            int h = task % numHeads;
            int kvh = h / group;
            int[] table = batch.blockTables()[rowSeq[r]];
            int pos = batch.positions()[r];
            int first = slidingWindow > 0 ? Math.max(0, pos - slidingWindow + 1) : 0;
            int n = pos - first + 1;
            float[] scores = SCORES.get();
            if (scores.length < n) {
                scores = new float[Math.max(n, scores.length * 2)];
                SCORES.set(scores);
            }
            int qOff = r * numHeads * headDim + h * headDim;
            float max = Float.NEGATIVE_INFINITY;
            for (int j = 0; j < n; j++) {
                int p = first + j;
                int slot = table[p / c.blockSize] * c.blockSize + p % c.blockSize;
                float sc = CpuKernels.dot(qd, qOff, keys, c.slotOffset(slot) + kvh * headDim, headDim) * scale;
                scores[j] = sc;
                max = Math.max(max, sc);
            }
            float sum = 0;
            for (int j = 0; j < n; j++) {
                scores[j] = (float) Math.exp(scores[j] - max);
                sum += scores[j];
            }
            int oOff = r * numHeads * headDim + h * headDim;
            java.util.Arrays.fill(od, oOff, oOff + headDim, 0f);
            float inv = 1f / sum;
            for (int j = 0; j < n; j++) {
                int p = first + j;
                int slot = table[p / c.blockSize] * c.blockSize + p % c.blockSize;
                CpuKernels.axpy(scores[j] * inv, values, c.slotOffset(slot) + kvh * headDim, od, oOff, headDim);
            }
        });
    }

    /** Per-thread attention score buffer, grown on demand. */
    private static final ThreadLocal<float[]> SCORES = ThreadLocal.withInitial(() -> new float[1024]);

    @Override
    public void activationMul(Activation act, Tensor gate, Tensor up, Tensor out) {
        CpuTensor g = CpuTensor.of(gate);
        float[] gd = g.data();
        float[] ud = CpuTensor.of(up).data();
        float[] od = CpuTensor.of(out).data();
        int n = g.size();
        switch (act) {
            case SILU -> CpuKernels.siluMul(gd, ud, n, od);
            case GELU_TANH -> CpuKernels.geluTanhMul(gd, ud, n, od);
            case GELU -> CpuKernels.geluMul(gd, ud, n, od);
        }
    }

    @Override
    public void add(Tensor x, Tensor y) {
        CpuTensor xt = CpuTensor.of(x);
        CpuKernels.add(xt.data(), CpuTensor.of(y).data(), xt.size());
    }

    @Override
    public void gatherRows(Tensor src, int[] rows, Tensor out) {
        CpuTensor s = CpuTensor.of(src);
        float[] o = CpuTensor.of(out).data();
        for (int i = 0; i < rows.length; i++) {
            System.arraycopy(s.data(), rows[i] * s.cols(), o, i * s.cols(), s.cols());
        }
    }

    @Override
    public void scatterAddRows(Tensor src, int[] rows, float[] scales, Tensor dst) {
        CpuTensor s = CpuTensor.of(src);
        float[] d = CpuTensor.of(dst).data();
        for (int i = 0; i < rows.length; i++) {
            CpuKernels.axpy(scales[i], s.data(), i * s.cols(), d, rows[i] * s.cols(), s.cols());
        }
    }

    @Override
    public float[] toHost(Tensor t) {
        CpuTensor c = CpuTensor.of(t);
        return java.util.Arrays.copyOf(c.data(), c.size());
    }

    @Override
    public void close() {
    }
}
