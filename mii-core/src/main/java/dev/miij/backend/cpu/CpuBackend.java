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

    /**
     * What the kernels run on, for logs and benchmarks, e.g. "vector: 256-bit (8 float lanes,
     * AVX2), 2 threads; kernels: decode blocks of 16 elements, GEMM tiles 6x16 (16 vector registers)".
     */
    public static String describe() {
        return "vector: " + WeightLoads.describe() + ", " + CpuParallel.threads() + " threads; kernels: decode blocks of "
                + MatVec.B + " elements, GEMM tiles " + MatMulTiled.MR + "x" + MatMulTiled.NR + " ("
                + MatMulTiled.REGISTERS + " vector registers)";
    }

    /** The Vector API runs one to three orders of magnitude slower until C2 has compiled the kernels. */
    @Override
    public boolean needsWarmup() {
        return true;
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
    public void matmul(Tensor x, Weight[] ws, Tensor[] biases, Tensor[] outs) {
        CpuTensor xt = CpuTensor.of(x);
        WeightMatrix[] ms = new WeightMatrix[ws.length];
        float[][] bs = new float[ws.length][];
        float[][] ys = new float[ws.length][];
        for (int i = 0; i < ws.length; i++) {
            ms[i] = ((CpuWeight) ws[i]).matrix();
            bs[i] = biases == null || biases[i] == null ? null : CpuTensor.of(biases[i]).data();
            ys[i] = CpuTensor.of(outs[i]).data();
        }
        CpuKernels.matmul(xt.data(), xt.rows(), ms, bs, ys);
    }

    @Override
    public void rmsNorm(Tensor x, Tensor weight, float eps, Tensor out) {
        CpuTensor xt = CpuTensor.of(x);
        CpuKernels.rmsNorm(xt.data(), xt.rows(), xt.cols(), CpuTensor.of(weight).data(), eps, CpuTensor.of(out).data());
    }

    @Override
    public void layerNorm(Tensor x, Tensor weight, Tensor bias, float eps, Tensor out) {
        CpuTensor xt = CpuTensor.of(x);
        CpuKernels.layerNorm(xt.data(), xt.rows(), xt.cols(), CpuTensor.of(weight).data(),
                bias == null ? null : CpuTensor.of(bias).data(), eps, CpuTensor.of(out).data());
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
        float[] keys = c.keys[layer];
        int width = c.kvHeads * c.headDim;
        int[] slots = batch.slots();
        for (int r = 0; r < slots.length; r++) {
            System.arraycopy(vd, r * width, c.values[layer], c.valueOffset(slots[r]), width);
            for (int kvh = 0; kvh < c.kvHeads; kvh++) { // keys are stored dimension-major (see CpuKvCache)
                int to = c.keyOffset(slots[r], kvh);
                int from = r * width + kvh * c.headDim;
                for (int d = 0; d < c.headDim; d++) {
                    keys[to + d * c.blockSize] = kd[from + d];
                }
            }
        }
    }

    @Override
    public void attention(KvCache cache, int layer, Tensor q, RaggedBatch batch, int numHeads, int numKvHeads,
                          int headDim, int slidingWindow, float scale, Tensor out) {
        CpuAttention.run((CpuKvCache) cache, layer, CpuTensor.of(q).data(), batch, numHeads, numKvHeads, headDim,
                slidingWindow, scale, CpuTensor.of(out).data());
    }

    @Override
    public void attention(KvCache cache, int layer, Tensor q, RaggedBatch batch, int numHeads, int numKvHeads,
                          int headDim, int slidingWindow, float scale, float[] alibiSlopes, float softCap, Tensor out) {
        if (alibiSlopes == null && softCap <= 0) {
            attention(cache, layer, q, batch, numHeads, numKvHeads, headDim, slidingWindow, scale, out);
            return;
        }
        CpuBiasedAttention.run((CpuKvCache) cache, layer, CpuTensor.of(q).data(), batch, numHeads, numKvHeads, headDim,
                slidingWindow, scale, alibiSlopes, softCap, CpuTensor.of(out).data());
    }

    @Override
    public void activation(Activation act, Tensor x, Tensor out) {
        CpuTensor xt = CpuTensor.of(x);
        float[] xd = xt.data();
        float[] od = CpuTensor.of(out).data();
        int n = xt.size();
        switch (act) {
            case SILU -> CpuKernels.silu(xd, n, od);
            case GELU_TANH -> CpuKernels.geluTanh(xd, n, od);
            case GELU -> CpuKernels.gelu(xd, n, od);
            case RELU -> {
                for (int i = 0; i < n; i++) {
                    od[i] = Math.max(xd[i], 0f);
                }
            }
        }
    }

    @Override
    public void scale(Tensor x, float s) {
        CpuTensor xt = CpuTensor.of(x);
        CpuKernels.scale(xt.data(), 0, xt.size(), s);
    }

    @Override
    public void softCap(Tensor x, float cap) {
        CpuTensor xt = CpuTensor.of(x);
        float[] d = xt.data();
        for (int i = 0, n = xt.size(); i < n; i++) {
            d[i] = (float) Math.tanh(d[i] / cap) * cap;
        }
    }

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
            case RELU -> {
                for (int i = 0; i < n; i++) {
                    od[i] = Math.max(gd[i], 0f) * ud[i];
                }
            }
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
